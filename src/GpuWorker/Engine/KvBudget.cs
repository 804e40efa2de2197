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
    /// the per-token scores that sparse policies keep.</summary>
    public static double BytesPerToken(ModelConfig c, KvStorageFormat format, int elementSize, int blockSize, int scoreRing, bool h2o)
    {
        double scores = scoreRing * 4.0 + (h2o ? c.NumKvHeads * 5.0 : 0);
        return KvCache.KvBytesPerToken(c.NumLayers, c.NumKvHeads, c.HeadDim, format, elementSize) + c.NumLayers * scores;
    }

    public static int TokensFor(long budgetBytes, long parameterBytes, double bytesPerToken)
    {
        long free = budgetBytes - parameterBytes - ReserveBytes;
        if (free <= 0) throw new ArgumentException($"a budget of {budgetBytes / (1 << 20)} MiB leaves no room for KV after {parameterBytes / (1 << 20)} MiB of weights");
        return (int)Math.Min(int.MaxValue, free / bytesPerToken);
    }

    /// <summary>The score ring an engine keeps for SWA down to <paramref name="minSparsity"/> at <paramref name="maxLength"/> tokens.</summary>
    public static int ScoreRing(double minSparsity, int maxLength) =>
        SelectionBudget.For(new KvPolicy(KvPolicyKind.Swa, minSparsity), maxLength).ScoreWindow + 2;
}
