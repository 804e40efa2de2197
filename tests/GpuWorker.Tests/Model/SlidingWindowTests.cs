using System.Text.Json.Nodes;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Diagnostics;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Evaluation;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Model;

/// <summary>Mistral's sliding window (tiny-mistral: 64 tokens) is applied, not ignored, and sparse KV policies,
/// which do not keep to it, are refused for such a model.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class SlidingWindowTests(TinyModels models) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("alisa-window-").FullName;

    [Fact]
    public void WithoutTheWindowTheNllOfALongWindowNoLongerMatchesTransformers()
    {
        var source = RepoPaths.Model("tiny-mistral");
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(_folder, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        config["sliding_window"] = null;
        File.WriteAllText(Path.Combine(_folder, "config.json"), config.ToJsonString());
        using var unwindowed = LoadedModel.FromCheckpoint(_folder, new DeviceChoice(CPU, ScalarType.Float32));
        Assert.Null(unwindowed.Config.SlidingWindow);
        Assert.Equal(64, models.Get("tiny-mistral").Config.SlidingWindow);

        var window = TinyModels.Reference("tiny-mistral").GetProperty("window512");
        var ids = window.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        double expected = window.GetProperty("nll_sum").GetDouble();
        var windowedLogits = ReferenceConformance.FullLogits(models.Get("tiny-mistral").Model, ids);
        var fullLogits = ReferenceConformance.FullLogits(unwindowed.Model, ids);
        Assert.Equal(expected, LogitMath.NllSum(windowedLogits, ids), 1e-2);
        Assert.True(Math.Abs(LogitMath.NllSum(fullLogits, ids) - expected) > 5e-2); // five times the conformance tolerance

        // inside the first 64 positions the window hides nothing; past it, full attention reads more and the logits move
        double MaxDifference(int from, int to) => Enumerable.Range(from, to - from)
            .SelectMany(t => Enumerable.Range(0, windowedLogits.GetLength(1)).Select(v => Math.Abs(windowedLogits[t, v] - fullLogits[t, v]))).Max();
        Assert.True(MaxDifference(0, 64) < 1e-4);
        Assert.True(MaxDifference(64, ids.Length) > 1e-2, $"past the window the logits differ by at most {MaxDifference(64, ids.Length)}");
    }

    [Fact]
    public async Task SparseKvPoliciesAreRefusedForASlidingWindowModelByTheEngineAndTheEval()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-mistral"), new EngineOptions());
        var request = new GenerationRequest("w", [1, 200, 300], SamplingParams.Greedy(4)) { Policy = KvPolicy.Parse("local:0.5") };
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await engine.GenerateAsync(request).ToListAsync());
        Assert.Contains("sliding attention window of 64", error.Message);
        var evalError = Assert.Throws<ArgumentException>(() => new LockstepDecoder(models.Get("tiny-mistral").Model, 1, 64, KvPolicy.Parse("quest:0.8")));
        Assert.Contains("sliding attention window of 64", evalError.Message);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
