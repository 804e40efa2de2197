using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Attention over the paged KV pool: store the new K/V, gather each sequence's cached K/V into a dense
/// padded tensor, and run SDPA with the batch mask. GQA needs no copy of K/V: the query heads that share a KV head
/// are folded into the query-length axis.</summary>
public static class PagedAttention
{
    /// <param name="query">[B, H, Tq, D]</param>
    /// <param name="key">[B, KvH, Tq, D] of the new tokens</param>
    /// <param name="value">[B, KvH, Tq, D] of the new tokens</param>
    /// <returns>[B, Tq, H * D]</returns>
    public static Tensor Forward(KvCache cache, int layer, AttentionBatch batch, Tensor query, Tensor key, Tensor value)
    {
        var (output, keys) = Attend(cache, layer, batch, query, key, value);
        keys.Dispose();
        return output;
    }

    /// <summary><see cref="Forward"/>, also returning the cached keys it attended, [B, KvH, L, D] (a scored prefill
    /// computes its weights from them instead of gathering them again).</summary>
    public static (Tensor Output, Tensor Keys) Attend(KvCache cache, int layer, AttentionBatch batch, Tensor query, Tensor key, Tensor value)
    {
        using var scope = NewDisposeScope();
        long b = query.shape[0], heads = query.shape[1], tq = query.shape[2], d = query.shape[3];
        long kvHeads = key.shape[1];
        cache.Write(layer, batch.Write, ToRows(key), ToRows(value));

        var (keys, values) = cache.Gather(layer, batch.ReadSlots, batch.ReadsCpuTier);    // [B, L, KvH, D]
        var k = keys.permute(0, 2, 1, 3);                                // [B, KvH, L, D]
        var v = values.permute(0, 2, 1, 3);
        var output = GroupedSdpa(query, k, v, batch.GroupedMask(heads / kvHeads)); // [B, H, Tq, D]
        return (output.transpose(1, 2).reshape(b, tq, heads * d).MoveToOuterDisposeScope(), k.MoveToOuterDisposeScope());
    }

    /// <summary>SDPA for GQA without repeating K/V: q [B, H, Tq, D] with H = KvH * G is viewed as [B, KvH, G * Tq, D];
    /// <paramref name="groupedMask"/> is [B, 1, G * Tq, L].</summary>
    public static Tensor GroupedSdpa(Tensor query, Tensor key, Tensor value, Tensor groupedMask)
    {
        long b = query.shape[0], heads = query.shape[1], tq = query.shape[2], d = query.shape[3];
        long kvHeads = key.shape[1], groups = heads / kvHeads;
        var q = query.reshape(b, kvHeads, groups * tq, d);
        var output = nn.functional.scaled_dot_product_attention(q, key, value, groupedMask);
        return output.reshape(b, heads, tq, d);
    }

    /// <summary>[B, KvH, Tq, D] -> [B * Tq, KvH, D], the pool's row layout.</summary>
    private static Tensor ToRows(Tensor t) => t.permute(0, 2, 1, 3).reshape(-1, t.shape[1], t.shape[3]);
}
