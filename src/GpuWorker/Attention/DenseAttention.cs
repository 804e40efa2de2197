using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Every query attends to every cached token of its sequence (the baseline, and the prefill path).</summary>
public sealed class DenseAttention(KvCache cache, AttentionBatch batch) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value) =>
        PagedAttention.Forward(cache, layer, batch, query, key, value);
}
