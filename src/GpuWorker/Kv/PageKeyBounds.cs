using TorchSharp;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Quest's page metadata: per layer, pool block (page) and KV head, the element-wise minimum and maximum of
/// the keys the block holds, as attention reads them back (INT8: the dequantized keys). Kept incrementally: each
/// write folds its new rows into their blocks' bounds, and a block that starts in this write starts afresh.</summary>
public sealed class PageKeyBounds : IDisposable
{
    private readonly Tensor[] _min, _max; // per layer [blocks, KvH, D] fp32
    private readonly int _blockSize;

    public PageKeyBounds(int layers, long blocks, int kvHeads, int headDim, int blockSize, Device device)
    {
        _blockSize = blockSize;
        _min = Enumerable.Range(0, layers).Select(_ => full([blocks, kvHeads, headDim], Scalars.Of(float.PositiveInfinity), ScalarType.Float32, device)).ToArray();
        _max = Enumerable.Range(0, layers).Select(_ => full([blocks, kvHeads, headDim], Scalars.NegativeInfinity, ScalarType.Float32, device)).ToArray();
    }

    /// <summary>Where one forward's rows fall: the distinct blocks written [m], each row's place [n] in an [m x block
    /// size] staging buffer (its block's index among them x block size + its offset; slots are distinct, so are places),
    /// and which of the m blocks start in this write (their old bounds belong to a previous owner).</summary>
    public sealed record WriteGroups(Tensor Blocks, Tensor RowPlaces, Tensor Fresh) : IDisposable
    {
        public void Dispose() { Blocks.Dispose(); RowPlaces.Dispose(); Fresh.Dispose(); }
    }

    /// <summary>Groups pool slots by block on the host (once per forward, for all layers).</summary>
    public static WriteGroups Plan(long[] slots, int blockSize, Device device)
    {
        var blocks = new List<long>();
        var fresh = new List<bool>();
        var indexOf = new Dictionary<long, int>();
        var rowPlaces = new long[slots.Length];
        for (int row = 0; row < slots.Length; row++)
        {
            long block = slots[row] / blockSize;
            if (!indexOf.TryGetValue(block, out int index))
            {
                indexOf[block] = index = blocks.Count;
                blocks.Add(block);
                fresh.Add(false);
            }
            rowPlaces[row] = (long)index * blockSize + slots[row] % blockSize;
            if (slots[row] % blockSize == 0) fresh[index] = true;
        }
        return new WriteGroups(tensor(blocks.ToArray(), device: device), tensor(rowPlaces, device: device), tensor(fresh.ToArray(), device: device));
    }

    /// <summary>Folds the rows just written at pool <paramref name="slots"/> into their blocks' bounds, reading them
    /// back from <paramref name="store"/> as attention will (INT8: dequantised).</summary>
    internal void Update(int layer, Tensor slots, WriteGroups groups, IKvLayerStore store)
    {
        using var scope = NewDisposeScope();
        var (keys, _) = store.Gather(slots);
        var rows = keys.to(ScalarType.Float32);
        var fresh = groups.Fresh.view(-1, 1, 1);
        long blocks = groups.Blocks.shape[0], kvHeads = rows.shape[1], d = rows.shape[2];
        // the new rows laid out per block (empty places neutral), reduced over the block, folded into the old bounds
        Tensor Fold(Tensor old, Scalar neutral, bool lower)
        {
            var staged = full([blocks * _blockSize, kvHeads, d], neutral, ScalarType.Float32, rows.device).index_copy_(0, groups.RowPlaces, rows)
                .view(blocks, _blockSize, kvHeads, d);
            var start = old.index_select(0, groups.Blocks).masked_fill(fresh, neutral);
            return lower ? minimum(start, staged.amin([1L])) : maximum(start, staged.amax([1L]));
        }
        var low = Fold(_min[layer], Scalars.Of(float.PositiveInfinity), lower: true);
        var high = Fold(_max[layer], Scalars.NegativeInfinity, lower: false);
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
