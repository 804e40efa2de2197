using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Quest's page metadata: per layer, pool block (page) and KV head, the element-wise minimum and maximum of
/// the keys the block holds, as attention reads them back (INT8: the dequantized keys). Kept incrementally: each
/// write folds its new rows into their blocks' bounds, and a block that starts in this write starts afresh.</summary>
public sealed class PageKeyBounds : IDisposable
{
    private readonly Tensor[] _min, _max; // per layer [blocks, KvH, D] fp32

    public PageKeyBounds(int layers, long blocks, int kvHeads, int headDim, Device device)
    {
        _min = Enumerable.Range(0, layers).Select(_ => full([blocks, kvHeads, headDim], Scalars.Of(float.PositiveInfinity), ScalarType.Float32, device)).ToArray();
        _max = Enumerable.Range(0, layers).Select(_ => full([blocks, kvHeads, headDim], Scalars.NegativeInfinity, ScalarType.Float32, device)).ToArray();
    }

    /// <summary>Folds the rows just written [n, KvH, D] (fp32, as attention reads them back: INT8 dequantised) into
    /// their blocks' bounds.</summary>
    internal void Update(int layer, PageWriteGroups groups, Tensor keys)
    {
        using var scope = NewDisposeScope();
        var infinity = Scalars.Of(float.PositiveInfinity);
        var low = minimum(groups.Start(_min[layer], infinity), groups.Staged(keys, infinity).amin([1L]));
        var high = maximum(groups.Start(_max[layer], Scalars.NegativeInfinity), groups.Staged(keys, Scalars.NegativeInfinity).amax([1L]));
        _min[layer].index_copy_(0, groups.Blocks, low);
        _max[layer].index_copy_(0, groups.Blocks, high);
    }

    /// <summary>One layer's bounds [blocks, KvH, D] (minimum, maximum).</summary>
    public (Tensor Min, Tensor Max) Of(int layer) => (_min[layer], _max[layer]);

    public long Bytes => _min.Concat(_max).Sum(t => t.numel() * t.element_size());

    public void Dispose()
    {
        foreach (var t in _min.Concat(_max)) t.Dispose();
    }
}
