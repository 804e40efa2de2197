using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Where each logical block's K/V live now, as the first "virtual slot" of the block in one address space
/// that stacks the tiers: [0, GPU slots) the GPU pool, then the CPU pool, then this step's recomputed rows.
/// Kept on the host, mirrored on the device (updated lazily, before the next gather) so gathers map on the device.</summary>
internal sealed class BlockLocations : IDisposable
{
    private readonly long[] _base;
    private readonly Dictionary<int, long> _dirty = new();
    private readonly Tensor _device;
    private readonly int _blockSize;

    public BlockLocations(int logicalBlocks, int blockSize, Device device)
    {
        _blockSize = blockSize;
        _base = new long[logicalBlocks + 1];
        _device = zeros([logicalBlocks + 1], ScalarType.Int64, device);
    }

    public long this[int logicalBlock]
    {
        get => _base[logicalBlock];
        set { _base[logicalBlock] = value; _dirty[logicalBlock] = value; }
    }

    /// <summary>Virtual slots [n] of logical slots [n].</summary>
    public Tensor ToVirtual(Tensor logicalSlots)
    {
        Flush();
        using var blocks = logicalSlots.floor_divide(Scalars.Of((long)_blockSize));
        using var bases = _device.index_select(0, blocks);
        using var offsets = logicalSlots.remainder(Scalars.Of((long)_blockSize));
        return bases.add(offsets, Scalars.One);
    }

    private void Flush()
    {
        if (_dirty.Count == 0) return;
        using var at = tensor(_dirty.Keys.Select(k => (long)k).ToArray(), device: _device.device);
        using var values = tensor(_dirty.Values.ToArray(), device: _device.device);
        _device.index_copy_(0, at, values);
        _dirty.Clear();
    }

    public void Dispose() => _device.Dispose();
}
