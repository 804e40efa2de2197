using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Full-precision homes for the blocks still being filled under INT8 storage (at most one per sequence):
/// a host-side map block -> residual index, mirrored on the device so gathers can tell which rows to read where.</summary>
public sealed class ResidualBlocks : IDisposable
{
    private readonly Dictionary<int, int> _indexOfBlock = new();
    private readonly Stack<int> _free;
    private readonly Tensor _deviceMap; // [blocks] residual index or -1

    public ResidualBlocks(int capacity, long blocks, Device device)
    {
        Capacity = capacity;
        _free = new Stack<int>(Enumerable.Range(0, capacity).Reverse());
        _deviceMap = full([blocks], -1L, ScalarType.Int64, device);
    }

    public int Capacity { get; }

    public bool TryGet(int block, out int index) => _indexOfBlock.TryGetValue(block, out index);

    public int Allocate(int block)
    {
        if (!_free.TryPop(out var index))
            throw new InvalidOperationException($"INT8 KV: all {Capacity} residual blocks are in use (more sequences than the engine was sized for)");
        _indexOfBlock[block] = index;
        SetOnDevice([block], [index]);
        return index;
    }

    public void Release(IEnumerable<int> blocks)
    {
        var released = blocks.Where(_indexOfBlock.ContainsKey).ToList();
        foreach (var block in released)
        {
            _free.Push(_indexOfBlock[block]);
            _indexOfBlock.Remove(block);
        }
        if (released.Count > 0) SetOnDevice(released, released.Select(_ => -1L).ToArray());
    }

    /// <summary>Residual row of each slot [n], or -1 for slots of quantized blocks.</summary>
    public Tensor RowsOf(Tensor slots, int blockSize)
    {
        using var scope = NewDisposeScope();
        var index = _deviceMap.index_select(0, slots.floor_divide(Scalars.Of((long)blockSize)));
        return where(index.ge(Scalars.Of(0L)), index * Scalars.Of((long)blockSize) + slots.remainder(Scalars.Of((long)blockSize)), index).MoveToOuterDisposeScope();
    }

    private void SetOnDevice(IReadOnlyList<int> blocks, long[] values)
    {
        using var at = tensor(blocks.Select(b => (long)b).ToArray(), device: _deviceMap.device);
        using var value = tensor(values, device: _deviceMap.device);
        _deviceMap.index_copy_(0, at, value);
    }

    public void Dispose() => _deviceMap.Dispose();
}
