using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Reads K/V rows of logical slots from wherever they live: the GPU pool, this step's recomputed rows (both
/// on the device, merged with `where`), and the CPU pool, from which only the requested rows are gathered on the host
/// and copied to the GPU (ALISA phase II: only the selected tokens that live on the CPU move each step).</summary>
internal sealed class TieredReader(IKvLayerStore[] gpu, IKvLayerStore[] cpu, BlockLocations locations, long gpuSlots, long cpuSlots,
    int kvHeads, Device device) : IDisposable
{
    private Tensor? _recomputedKeys, _recomputedValues;
    private int _recomputedLayer = -1;

    public long BytesFetched { get; private set; }

    public void SetRecomputed(int layer, Tensor keys, Tensor values)
    {
        ClearRecomputed();
        (_recomputedLayer, _recomputedKeys, _recomputedValues) = (layer, keys, values);
    }

    public void ClearRecomputed()
    {
        _recomputedKeys?.Dispose();
        _recomputedValues?.Dispose();
        (_recomputedLayer, _recomputedKeys, _recomputedValues) = (-1, null, null);
    }

    /// <param name="index">[n] logical slots, or slot * kv heads + head when <paramref name="perHead"/></param>
    /// <returns>rows [n, kv heads, head dim], or [n, head dim] per head</returns>
    public (Tensor Keys, Tensor Values) Read(int layer, Tensor index, bool perHead, bool anyOnCpu)
    {
        using var scope = NewDisposeScope();
        var slot = perHead ? index.floor_divide(Scalars.Of((long)kvHeads)) : index;
        var head = perHead ? index.remainder(Scalars.Of((long)kvHeads)) : null;
        var where = locations.ToVirtual(slot);
        Tensor Rows(Tensor slots) => perHead ? (slots * Scalars.Of((long)kvHeads)).add(head!, Scalars.One) : slots;
        Tensor PerRow(Tensor mask) => perHead ? mask.view(-1, 1) : mask.view(-1, 1, 1);

        var onGpu = where.lt(Scalars.Of(gpuSlots));
        var (keys, values) = Gather(gpu[layer], Rows(where.masked_fill(onGpu.logical_not(), Scalars.Of(0L))), perHead);
        if (_recomputedLayer == layer)
        {
            var recomputed = where.ge(Scalars.Of(gpuSlots + cpuSlots));
            var rows = Rows(where.sub(Scalars.Of(gpuSlots + cpuSlots)).masked_fill(recomputed.logical_not(), Scalars.Of(0L)));
            var (rk, rv) = Gather(_recomputedKeys!, _recomputedValues!, rows, perHead);
            keys = keys.where(PerRow(recomputed).logical_not(), rk);
            values = values.where(PerRow(recomputed).logical_not(), rv);
        }
        if (anyOnCpu)
        {
            var onCpu = onGpu.logical_not() & where.lt(Scalars.Of(gpuSlots + cpuSlots));
            var at = onCpu.nonzero().view(-1); // the one host sync: which rows to fetch
            if (at.shape[0] > 0)
            {
                var cpuRows = Rows(where.sub(Scalars.Of(gpuSlots))).index_select(0, at).cpu();
                var (ck, cv) = Gather(cpu[layer], cpuRows, perHead);
                var fetchedKeys = ck.to(device);
                var fetchedValues = cv.to(device);
                BytesFetched += 2 * fetchedKeys.numel() * fetchedKeys.element_size();
                keys = keys.index_copy(0, at, fetchedKeys);
                values = values.index_copy(0, at, fetchedValues);
            }
        }
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    private static (Tensor, Tensor) Gather(IKvLayerStore store, Tensor rows, bool perHead) =>
        perHead ? store.GatherPerHead(rows) : store.Gather(rows);

    private static (Tensor, Tensor) Gather(Tensor keys, Tensor values, Tensor rows, bool perHead) => perHead
        ? (keys.view(-1, keys.shape[^1]).index_select(0, rows), values.view(-1, values.shape[^1]).index_select(0, rows))
        : (keys.index_select(0, rows), values.index_select(0, rows));

    public void Dispose() => ClearRecomputed();
}
