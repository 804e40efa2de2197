using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Tests.Engine;

/// <summary>Models the kernel or a graph replay cannot serve are given the eager step when the engine starts, and an
/// explicit request for the graph step names why.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class DecodeStepsTests(TinyModels models)
{
    [Theory]
    [InlineData("tiny-mistral", "sliding attention window")]
    [InlineData("tiny-phi3", "longrope")]
    public void ModelsAGraphCannotServeTakeTheEagerStep(string name, string reason)
    {
        var model = models.Get(name).Model;
        var c = model.Config;
        using var cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, blockCount: 4, blockSize: 16, model.DType, model.Device);
        var runner = new ModelRunner(model, cache);
        Assert.Contains(reason, DecodeSteps.GraphUnavailable(runner));
        using (var step = DecodeSteps.Create(DecodeStepKind.Auto, runner, maxBatch: 2, maxModelLength: 64, KvPolicy.Dense))
            Assert.IsType<EagerDecodeStep>(step);
        var error = Assert.Throws<ArgumentException>(() => DecodeSteps.Create(DecodeStepKind.Graph, runner, maxBatch: 2, maxModelLength: 64, KvPolicy.Dense));
        Assert.Contains(reason, error.Message);
    }
}
