using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>What a transformer layer calls for attention: the model computes Q/K/V, the engine decides where the
/// K/V live and which cached tokens each query reads (dense, or a sparse KV policy).</summary>
public interface IAttention
{
    /// <param name="query">[B, H, Tq, D], positions already encoded</param>
    /// <param name="key">[B, KvH, Tq, D] of the new tokens</param>
    /// <param name="value">[B, KvH, Tq, D] of the new tokens</param>
    /// <returns>[B, Tq, H * D]</returns>
    Tensor Forward(int layer, Tensor query, Tensor key, Tensor value);
}
