using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.ClusterTesting;

/// <summary>The reference a cluster's stream is compared with: the engine called directly, in the test process.</summary>
public static class DirectEngine
{
    public static async Task<List<int>> GreedyAsync(IReadOnlyList<int> prompt, int maxTokens)
    {
        using var model = LoadedModel.FromCheckpoint(RepoPaths.TinyModel, DeviceChoice.Parse("cpu", null));
        await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096 });
        var tokens = new List<int>();
        var request = new GenerationRequest("direct", prompt, new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true });
        await foreach (var item in engine.GenerateAsync(request))
            if (item.TokenId >= 0) tokens.Add(item.TokenId);
        return tokens;
    }
}
