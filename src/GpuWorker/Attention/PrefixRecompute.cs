using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>ALISA phase III: the K/V a decode step may need but that were deleted are the oldest tokens, which attend
/// only to each other, so they are exactly a prefill of the prefix. This runs that prefill for all phase-III sequences
/// of the batch as one padded batch [R, M], layer by layer beside the decode forward: at each layer the prefix's K/V
/// are handed to the cache (rows r * M + p) before the decode tokens of that layer attend.</summary>
public sealed class PrefixRecompute : IAttention, IDisposable
{
    private readonly KvCache _cache;
    private readonly Tensor _tokens, _positions, _mask;
    private Tensor? _groupedMask;

    private PrefixRecompute(KvCache cache, IReadOnlyList<SequenceKv> sequences, int prefix, Device device)
    {
        _cache = cache;
        int rows = sequences.Count;
        var tokens = new long[rows * prefix];
        var mask = new bool[rows * prefix * prefix];
        for (int r = 0; r < rows; r++)
        {
            var ids = sequences[r].Tokens ?? throw new InvalidOperationException("recomputing dropped KV needs the sequence's token ids");
            int length = sequences[r].DroppedBlocks * sequences[r].BlockSize;
            for (int p = 0; p < length; p++) tokens[r * prefix + p] = ids[p];
            for (int i = 0; i < prefix; i++)
                for (int j = 0; j <= i && j < length; j++) mask[(r * prefix + i) * prefix + j] = true;
        }
        _tokens = tensor(tokens, [rows, prefix], device: device);
        _positions = Scalars.Arange(prefix, device).view(1, prefix).expand(rows, prefix).contiguous();
        _mask = tensor(mask, [rows, 1, prefix, prefix], device: device);
    }

    /// <summary>The recompute pass for this step's batch, or null when no sequence has dropped blocks.</summary>
    public static PrefixRecompute? For(KvCache cache, IReadOnlyList<SequenceKv> batch, Device device) =>
        cache.BeginRecompute(batch) is { } plan ? new PrefixRecompute(cache, plan.Sequences, plan.PrefixLength, device) : null;

    public TransformerModel.PrefixPass Pass => new(_tokens, _positions, this);

    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        using var scope = NewDisposeScope();
        long r = query.shape[0], heads = query.shape[1], m = query.shape[2], d = query.shape[3], kvHeads = key.shape[1];
        _cache.SetRecomputed(layer, Rows(key).contiguous().DetachFromDisposeScope(), Rows(value).contiguous().DetachFromDisposeScope()); // owned by the cache
        if (_groupedMask is null && heads != kvHeads) _groupedMask = _mask.repeat(1, 1, heads / kvHeads, 1).DetachFromDisposeScope();
        // the prefix attends to its K/V as stored (INT8: rounded), as its original prefill did through the cache
        var (k, v) = _cache.Format == KvStorageFormat.Int8 ? (Int8KvLayerStore.RoundTrip(key), Int8KvLayerStore.RoundTrip(value)) : (key, value);
        var output = PagedAttention.GroupedSdpa(query, k, v, _groupedMask ?? _mask);
        return output.transpose(1, 2).reshape(r, m, heads * d).MoveToOuterDisposeScope();
    }

    /// <summary>[R, KvH, M, D] -> [R * M, KvH, D]</summary>
    private static Tensor Rows(Tensor t) => t.permute(0, 2, 1, 3).reshape(-1, t.shape[1], t.shape[3]);

    public void Dispose()
    {
        _cache.EndRecompute();
        _tokens.Dispose(); _positions.Dispose(); _mask.Dispose(); _groupedMask?.Dispose();
    }
}
