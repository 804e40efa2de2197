using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Dense decode attention by the native kernel: stores the new K/V rows, then every query reads its
/// sequence's cached K/V in place through the block table (no gathered copy, no mask, no per-length plan). All its
/// inputs are device tensors that stay put, so a CUDA graph can capture it.</summary>
public sealed class PagedKernelAttention(KvCache cache, DecodeInputs.Bucket inputs) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        long batch = query.shape[0], heads = query.shape[1], d = query.shape[3];
        if (query.shape[2] != 1) throw new ArgumentException("the paged decode kernel takes one new token per sequence");
        var (keys, values) = cache.PoolOf(layer);
        KvWriteKernel.Run(keys, values, key, value, inputs.Write.Slots);
        var output = empty([batch, heads, d], query.dtype, query.device);
        PagedDecodeAttentionKernel.Run(output, query, keys, values, inputs.BlockTable, inputs.Lengths, cache.BlockSize, (float)(1 / Math.Sqrt(d)));
        return output.view(batch, 1, heads * d);
    }
}
