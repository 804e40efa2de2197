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

    long Bytes { get; }
}

/// <summary>A native-dtype pool: K and V tensors of [slots, kv heads, head dim].</summary>
internal sealed class NativeKvLayerStore(long slots, int kvHeads, int headDim, ScalarType dtype, Device device) : IKvLayerStore
{
    private readonly Tensor _keys = zeros([slots, kvHeads, headDim], dtype, device);
    private readonly Tensor _values = zeros([slots, kvHeads, headDim], dtype, device);

    public long Bytes => 2 * _keys.numel() * _keys.element_size();

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

    public void Dispose() { _keys.Dispose(); _values.Dispose(); }
}
