using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Dense decode attention by the native kernel: stores the new K/V rows (quantising them for an INT8 pool),
/// then every query reads its sequence's cached K/V in place through the block table (no gathered copy, no mask, no
/// per-length plan). All its inputs are device tensors that stay put, so a CUDA graph can capture it.</summary>
public sealed class PagedKernelAttention(KvCache cache, DecodeInputs.Bucket inputs) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        long batch = query.shape[0], heads = query.shape[1], d = query.shape[3];
        if (query.shape[2] != 1) throw new ArgumentException("the paged decode kernel takes one new token per sequence");
        var pool = cache.PoolOf(layer);
        if (pool.IsInt8) KvWriteKernel.RunInt8(pool, key, value, inputs.Write.Slots);
        else KvWriteKernel.Run(pool.Keys, pool.Values, key, value, inputs.Write.Slots);
        var output = empty([batch, heads, d], query.dtype, query.device);
        PagedDecodeAttentionKernel.Run(output, query, pool, inputs.BlockTable, inputs.Lengths, cache.BlockSize, (float)(1 / Math.Sqrt(d)));
        return output.view(batch, 1, heads * d);
    }
}
