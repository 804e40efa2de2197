using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>How many tokens of KV fit in a device memory budget once the weights and a working reserve are taken:
/// the engine's equivalent of vLLM's gpu_memory_utilization.</summary>
public static class KvBudget
{
    /// <summary>Room kept for activations, logits and allocator slack.</summary>
    public const long ReserveBytes = 1L << 30;

    /// <summary>Device bytes one cached token costs over all layers: K/V (values, or INT8 codes and row parameters) and
    /// the per-token scores that sparse policies keep (the history ring in the type <see cref="TokenScores.HistoryTypeFor"/> gives).</summary>
    public static double BytesPerToken(ModelConfig c, KvStorageFormat format, int elementSize, int scoreRing, bool h2o)
    {
        double scores = scoreRing * (double)TokenScores.HistoryBytesFor(elementSize) + (h2o ? c.NumKvHeads * 5.0 : 0);
        return KvCache.KvBytesPerToken(c.NumLayers, c.NumKvHeads, c.HeadDim, format, elementSize) + c.NumLayers * scores;
    }

    public static int TokensFor(long budgetBytes, long parameterBytes, double bytesPerToken)
    {
        long free = budgetBytes - parameterBytes - ReserveBytes;
        if (free <= 0) throw new ArgumentException($"a budget of {budgetBytes / (1 << 20)} MiB leaves no room for KV after {parameterBytes / (1 << 20)} MiB of weights");
        return (int)Math.Min(int.MaxValue, free / bytesPerToken);
    }

    /// <summary>The GPU KV pool, in tokens, of an engine with <paramref name="options"/> on <paramref name="model"/>'s
    /// device when the process may use <paramref name="utilization"/> of the device's memory for weights, KV, scores
    /// and working room (vLLM's gpu_memory_utilization).</summary>
    public static int TokensForDevice(LoadedModel model, EngineOptions options, double utilization)
    {
        if (!(utilization > 0 && utilization <= 1))
            throw new ArgumentException($"GPU memory utilization {utilization} is not in (0, 1]", nameof(utilization));
        long total = Native.CudaDriver.TotalMemoryBytes(model.Model.Device.index < 0 ? 0 : model.Model.Device.index);
        return TokensForBudget(model.Config, model.Model.ElementSize, model.Model.ParameterBytes, options, (long)(total * utilization));
    }

    /// <summary>The GPU KV pool that fits <paramref name="budgetBytes"/> with the engine's score memory counted (scores
    /// live on the GPU for every logical slot, the CPU and recompute tiers' included), the per-page statistics (Quest's
    /// key bounds, the page summaries) and the hot set's position table.</summary>
    public static int TokensForBudget(ModelConfig c, int elementSize, long parameterBytes, EngineOptions options, long budgetBytes)
    {
        int maxLength = Math.Min(options.MaxModelLength ?? int.MaxValue, c.MaxPositions);
        int ring = options.EnableScoredPolicies ? ScoreRing(options.MinScoredSparsity, maxLength) * (options.PerHeadScores ? c.NumKvHeads : 1) : 0;
        double kv = BytesPerToken(c, options.KvFormat, elementSize, 0, false);
        double scores = BytesPerToken(c, options.KvFormat, elementSize, ring, options.EnableH2O) - kv;
        long lowerTiers = (long)(((long)options.CpuKvCapacityTokens + options.RecomputeCapacityTokens + 2L * options.BlockSize) * scores);
        double hotSet = options.HotSet && options.CpuKvCapacityTokens > 0 ? KvCache.HotSetBytesPerSlot(c.NumLayers, c.NumKvHeads) : 0;
        int pageStats = (options.EnableQuestPages ? 1 : 0) + (options.EnablePageSummaries ? 1 : 0);
        return TokensFor(budgetBytes - lowerTiers, parameterBytes, kv + scores + hotSet + pageStats * PageStatsPerToken(c, options.BlockSize));
    }

    /// <summary>One per-page statistic per token: two fp32 rows per block, KV head and layer (Quest's key bounds: a min
    /// and a max; the page summaries: a key sum and a value sum).</summary>
    public static double PageStatsPerToken(ModelConfig c, int blockSize) => c.NumLayers * 2.0 * c.NumKvHeads * c.HeadDim * 4 / blockSize;

    /// <summary>Tokens of K/V that <paramref name="gib"/> GiB of host memory hold (the CPU tier, ALISA phase II).</summary>
    public static int TokensInHostMemory(ModelConfig c, int elementSize, KvStorageFormat format, double gib) =>
        (int)Math.Min(int.MaxValue, gib * (1L << 30) / BytesPerToken(c, format, elementSize, 0, false));

    /// <summary>The score ring an engine keeps for SWA down to <paramref name="minSparsity"/> at <paramref name="maxLength"/> tokens.</summary>
    public static int ScoreRing(double minSparsity, int maxLength) =>
        SelectionBudget.For(new KvPolicy(KvPolicyKind.Swa, minSparsity), maxLength).ScoreWindow + 2;
}
