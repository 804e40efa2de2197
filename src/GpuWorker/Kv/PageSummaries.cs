using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Per layer, pool block (page) and KV head, the sums of the keys and of the values the block holds, as
/// attention reads them back (INT8: dequantized). Sparse attention with <see cref="Attention.KvPolicy.Summaries"/>
/// attends the tokens it did not select through them: a page's unselected tokens as one entry of their mean key and
/// value, weighted by their count. Kept like <see cref="PageKeyBounds"/>: each write adds its new rows to their
/// blocks' sums, and a block that starts in this write starts from zero.</summary>
public sealed class PageSummaries : IDisposable
{
    private readonly Tensor[] _keys, _values; // per layer [blocks, KvH, D] fp32
    private readonly int _blockSize;

    public PageSummaries(int layers, long blocks, int kvHeads, int headDim, int blockSize, Device device)
    {
        _blockSize = blockSize;
        _keys = Enumerable.Range(0, layers).Select(_ => zeros([blocks, kvHeads, headDim], ScalarType.Float32, device)).ToArray();
        _values = Enumerable.Range(0, layers).Select(_ => zeros([blocks, kvHeads, headDim], ScalarType.Float32, device)).ToArray();
    }

    /// <summary>fp32 key and value sums per block of <paramref name="blockSize"/> tokens, per token.</summary>
    public static long BytesPerToken(int layers, int kvHeads, int headDim, int blockSize) =>
        ((long)2 * layers * kvHeads * headDim * sizeof(float) + blockSize - 1) / blockSize;

    /// <summary>Adds the rows just written at pool <paramref name="slots"/> to their blocks' sums, reading them back
    /// from <paramref name="store"/> as attention will.</summary>
    internal void Update(int layer, Tensor slots, PageKeyBounds.WriteGroups groups, IKvLayerStore store)
    {
        using var scope = NewDisposeScope();
        var (keys, values) = store.Gather(slots);
        var fresh = groups.Fresh.view(-1, 1, 1);
        long blocks = groups.Blocks.shape[0], kvHeads = keys.shape[1], d = keys.shape[2];
        void Add(Tensor sums, Tensor rows)
        {
            var staged = zeros([blocks * _blockSize, kvHeads, d], ScalarType.Float32, rows.device)
                .index_copy_(0, groups.RowPlaces, rows.to(ScalarType.Float32)).view(blocks, _blockSize, kvHeads, d);
            var start = sums.index_select(0, groups.Blocks).masked_fill(fresh, Scalars.Of(0f));
            sums.index_copy_(0, groups.Blocks, start.add(staged.sum(1), Scalars.One));
        }
        Add(_keys[layer], keys);
        Add(_values[layer], values);
    }

    /// <summary>One layer's sums [blocks, KvH, D] (keys, values).</summary>
    public (Tensor Keys, Tensor Values) Of(int layer) => (_keys[layer], _values[layer]);

    public long Bytes => _keys.Concat(_values).Sum(t => t.numel() * t.element_size());

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t.Dispose();
    }
}
