using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>One layer's K and V for every slot of the pool, in some storage format.</summary>
internal interface IKvLayerStore : IDisposable
{
    /// <summary>Stores rows [n, kv heads, head dim] at slots [n] (<paramref name="plan"/> describes the same slots on the host).</summary>
    void Write(WritePlan plan, Tensor keys, Tensor values);

    /// <summary>Rows [n, kv heads, head dim] of slots [n].</summary>
    (Tensor Keys, Tensor Values) Gather(Tensor slots);

    /// <summary>Rows [n, head dim] of (slot * kv heads + head) indices [n].</summary>
    (Tensor Keys, Tensor Values) GatherPerHead(Tensor slotHeads);

    /// <summary>Copies whole blocks, as stored (codes and parameters for INT8), into another store of the same
    /// format, possibly on another device (the GPU -> CPU offload of the tiered cache).</summary>
    void CopyBlocksTo(IKvLayerStore target, BlockMove move);

    long Bytes { get; }

    /// <summary>The pool tensors themselves, for kernels that read rows in place.</summary>
    Native.KvPoolTensors Tensors { get; }
}

/// <summary>Pool tensors: zero-filled, and page-locked on the host when they back a GPU's CPU tier (copies from pinned
/// memory are DMA transfers that need no staging copy).</summary>
public static class PoolTensor
{
    public static Tensor Zeros(long[] shape, ScalarType dtype, Device device, bool pinned)
    {
        var t = zeros(shape, dtype, device);
        if (!pinned) return t;
        var locked = t.pin_memory();
        t.Dispose();
        return locked;
    }

    /// <summary>Row indices [blocks * block size] of whole blocks, on <paramref name="device"/>.</summary>
    public static Tensor BlockRows(long[] blocks, int blockSize, Device device) =>
        tensor(blocks.SelectMany(b => Enumerable.Range(0, blockSize).Select(i => b * blockSize + i)).ToArray(), device: device);

    /// <summary>Whole blocks of a pool tensor [S, ...] into another's: on CUDA with the native library one launch that
    /// writes a page-locked CPU tier through its device mapping (kv_copy_blocks.cu; a gather, a copy to pageable
    /// memory and a host scatter ran at ~1.3 GB/s), else a gather and a scatter of their rows.</summary>
    public static void CopyBlocks(Tensor source, Tensor target, BlockMove move)
    {
        if (source.device.type == TorchSharp.DeviceType.CUDA && (target.device.type == TorchSharp.DeviceType.CUDA || target.is_pinned())
            && Native.AlisaNative.IsAvailable)
        {
            var (from, into) = move.BlockIds(source.device);
            Native.AlisaNative.Check(Native.AlisaNative.alisa_copy_blocks(target.Handle, source.Handle, into.Handle, from.Handle, move.BlockSize), "copy_blocks");
            return;
        }
        var (fromRows, intoRows) = move.Rows(source.device, target.device);
        CopyRows(source, fromRows, target, intoRows);
    }

    /// <summary>target[targetIndex] = source[sourceIndex] across devices.</summary>
    public static void CopyRows(Tensor source, Tensor sourceIndex, Tensor target, Tensor targetIndex)
    {
        using var rows = source.index_select(0, sourceIndex);
        using var moved = rows.to(target.device);
        target.index_copy_(0, targetIndex, moved);
    }
}

/// <summary>A native-dtype pool: K and V tensors of [slots, kv heads, head dim].</summary>
internal sealed class NativeKvLayerStore(long slots, int kvHeads, int headDim, ScalarType dtype, Device device, bool pinned = false)
    : IKvLayerStore
{
    private readonly Tensor _keys = PoolTensor.Zeros([slots, kvHeads, headDim], dtype, device, pinned);
    private readonly Tensor _values = PoolTensor.Zeros([slots, kvHeads, headDim], dtype, device, pinned);

    public long Bytes => 2 * _keys.numel() * _keys.element_size();
    public Native.KvPoolTensors Tensors => new(_keys, _values);

    public void Write(WritePlan plan, Tensor keys, Tensor values)
    {
        _keys.index_copy_(0, plan.Slots, keys);
        _values.index_copy_(0, plan.Slots, values);
    }

    public (Tensor Keys, Tensor Values) Gather(Tensor slots) => (_keys.index_select(0, slots), _values.index_select(0, slots));

    public (Tensor Keys, Tensor Values) GatherPerHead(Tensor slotHeads)
    {
        long d = _keys.shape[2];
        using var keyRows = _keys.view(-1, d);
        using var valueRows = _values.view(-1, d);
        return (keyRows.index_select(0, slotHeads), valueRows.index_select(0, slotHeads));
    }

    public void CopyBlocksTo(IKvLayerStore target, BlockMove move)
    {
        var to = (NativeKvLayerStore)target;
        PoolTensor.CopyBlocks(_keys, to._keys, move);
        PoolTensor.CopyBlocks(_values, to._values, move);
    }

    public void Dispose() { _keys.Dispose(); _values.Dispose(); }
}

/// <summary>Which blocks one offload moves (source block i to target block i), with their ids and row indices uploaded
/// once and shared by every layer's and tensor's copy.</summary>
public sealed class BlockMove(long[] sourceBlocks, long[] targetBlocks, int blockSize) : IDisposable
{
    private (Tensor From, Tensor Into)? _ids, _rows;

    public int BlockSize => blockSize;
    public int Count => sourceBlocks.Length;

    public (Tensor From, Tensor Into) BlockIds(Device device) => _ids ??= (DeviceUpload.Of(sourceBlocks, device), DeviceUpload.Of(targetBlocks, device));

    public (Tensor From, Tensor Into) Rows(Device source, Device target) =>
        _rows ??= (PoolTensor.BlockRows(sourceBlocks, blockSize, source), PoolTensor.BlockRows(targetBlocks, blockSize, target));

    public void Dispose()
    {
        foreach (var pair in new[] { _ids, _rows })
            if (pair is var (from, into)) { from.Dispose(); into.Dispose(); }
    }
}
