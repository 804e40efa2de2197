using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Evaluation;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Evaluation;

/// <summary>Learning the split from the model's own samples.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class SplitCalibrationTests(TinyModels models)
{
    [Fact]
    public void SamplesAreSeededAndStartAtBos()
    {
        var model = models.Get("tiny-llama").Model;
        var first = SplitCalibration.Sample(model, 2, 24, seed: 7);
        Assert.Equal(first, SplitCalibration.Sample(model, 2, 24, seed: 7));
        Assert.NotEqual(first, SplitCalibration.Sample(model, 2, 24, seed: 8));
        Assert.All(first, s => Assert.Equal(model.Config.BosTokenId, s[0]));
    }

    [Fact]
    public void TheProbeAttendsLikeTheDecodePath()
    {
        var model = models.Get("tiny-opt").Model;
        var sequence = SplitCalibration.Sample(model, 1, 40, seed: 1)[0];
        using var _ = no_grad();
        using var decoder = new LockstepDecoder(model, 1, sequence.Length, KvPolicy.Dense);
        Tensor? decoded = null;
        foreach (var token in sequence) { decoded?.Dispose(); decoded = decoder.Step([token]); }
        using var tokens = tensor(sequence.Select(t => (long)t).ToArray(), [1, sequence.Length]);
        using var positions = Scalars.Arange(sequence.Length).view(1, -1);
        int observed = 0;
        using var logits = model.Forward(tokens, positions, new AttentionProbe((_, weights, _) =>
        {
            observed++;
            Assert.Equal(1.0, weights.sum(-1).mean().item<float>(), 1e-5);                    // rows are distributions
        }), lastOnly: true);
        Assert.Equal(model.Config.NumLayers, observed);
        using var probed = logits.squeeze(1).log_softmax(-1);
        Assert.True(probed.allclose(decoded!, rtol: 1e-4, atol: 1e-4));
        decoded!.Dispose();
    }

    [Fact]
    public void CalibrationPicksOneCandidateShareForEveryLayerAndKvHead()
    {
        var model = models.Get("tiny-llama").Model;
        var sequences = SplitCalibration.Sample(model, 2, 96, seed: 0);
        var outcome = SplitCalibration.Calibrate(model, sequences, [0.5, 0.9], "test");
        Assert.Equal([0.5, 0.9], outcome.Split.Levels.Select(l => l.Sparsity));
        foreach (var level in outcome.Split.Levels)
        {
            Assert.Equal(model.Config.NumLayers, level.Recent.Length);
            Assert.All(level.Recent, heads => Assert.Equal(model.Config.NumKvHeads, heads.Length));
            Assert.All(level.Recent.SelectMany(h => h), f => Assert.Contains(f, SplitCalibration.Candidates));
        }
        Assert.All(outcome.Error.Cast<double>(), e => Assert.True(e >= 0));
        // keeping more of the budget costs less: every share errs less at 50% than at 90%
        for (int f = 0; f < SplitCalibration.Candidates.Length; f++)
            Assert.True(outcome.Error[0, 1, 0, f] < outcome.Error[1, 1, 0, f]);
        // the split drives the learned policy
        var policy = KvPolicy.Parse("swa:0.9:per-head:learned", outcome.Split);
        Assert.Same(outcome.Split.Levels[1].Recent, policy.RecentFractions);
    }
}
