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

    public PageSummaries(int layers, long blocks, int kvHeads, int headDim, Device device)
    {
        _keys = Enumerable.Range(0, layers).Select(_ => zeros([blocks, kvHeads, headDim], ScalarType.Float32, device)).ToArray();
        _values = Enumerable.Range(0, layers).Select(_ => zeros([blocks, kvHeads, headDim], ScalarType.Float32, device)).ToArray();
    }

    /// <summary>Adds the rows just written [n, KvH, D] (fp32, as attention reads them back: INT8 dequantised) to
    /// their blocks' sums.</summary>
    internal void Update(int layer, PageWriteGroups groups, Tensor keys, Tensor values)
    {
        using var scope = NewDisposeScope();
        var zero = Scalars.Of(0f);
        foreach (var (sums, rows) in new[] { (_keys[layer], keys), (_values[layer], values) })
            sums.index_copy_(0, groups.Blocks, groups.Start(sums, zero).add(groups.Staged(rows, zero).sum(1), Scalars.One));
    }

    /// <summary>One layer's sums [blocks, KvH, D] (keys, values).</summary>
    public (Tensor Keys, Tensor Values) Of(int layer) => (_keys[layer], _values[layer]);

    public long Bytes => _keys.Concat(_values).Sum(t => t.numel() * t.element_size());

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t.Dispose();
    }
}
