using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>The KV pool of one engine: per layer, K and V for [slots, kv heads, head dim], addressable per token, in
/// the model's dtype or INT8. Sequences own blocks of slots (paged, as in vLLM), so tokens can be selected, moved or
/// dropped one by one. Block 0 is a scratch block that padded batch positions point at.
/// With a CPU tier (ALISA's phases II and III), a sequence's logical blocks map to GPU blocks, CPU blocks (pinned host
/// memory) or nothing (dropped, recomputed by a prefix prefill when attended); see <see cref="TieredReader"/>.</summary>
public sealed partial class KvCache : IDisposable
{
    private readonly IKvLayerStore[] _gpu;
    private readonly IKvLayerStore[] _cpu;
    private readonly BlockAllocator _logical;
    private readonly BlockAllocator _gpuBlocks;
    private readonly BlockAllocator? _cpuBlocks;
    private readonly int[] _gpuOf, _cpuOf;            // physical block of each logical block (tiered only)
    private readonly BlockLocations? _locations;      // null when untiered: logical block == GPU block
    private readonly TieredReader? _reader;
    private readonly ResidualBlocks? _residual;
    private readonly Device _device;
    private readonly long _gpuSlots, _cpuSlots;

    public KvCache(int layers, int kvHeads, int headDim, int blockCount, int blockSize, ScalarType dtype, Device device,
        KvStorageFormat format = KvStorageFormat.Native, int maxSequences = 64, KvTiers? tiers = null, bool pageBounds = false)
    {
        BlockSize = blockSize;
        Format = format;
        _device = device;
        _gpuBlocks = new BlockAllocator(blockCount);
        long gpuSlots = _gpuSlots = (long)(blockCount + 1) * blockSize;
        if (format == KvStorageFormat.Int8) _residual = new ResidualBlocks(maxSequences + 2, blockCount + 1, device);
        _gpu = CreateStores(layers, gpuSlots, kvHeads, headDim, blockSize, dtype, device, _residual, pinned: false);
        KvHeads = kvHeads;
        BytesPerToken = 2L * layers * kvHeads * headDim * (format == KvStorageFormat.Int8 ? 1 : ElementSize(dtype));
        FetchBytesPerToken = 2L * layers * kvHeads * headDim * ElementSize(dtype);
        if (tiers is { } t && (t.CpuBlocks > 0 || t.DroppedBlocks > 0))
        {
            int logicalBlocks = blockCount + t.CpuBlocks + t.DroppedBlocks;
            _logical = new BlockAllocator(logicalBlocks);
            if (t.CpuBlocks > 0)
            {
                _cpuBlocks = new BlockAllocator(t.CpuBlocks);
                var residual = format == KvStorageFormat.Int8 ? new ResidualBlocks(1, t.CpuBlocks + 1, CPU) : null; // never used: only whole blocks move
                _cpu = CreateStores(layers, (long)(t.CpuBlocks + 1) * blockSize, kvHeads, headDim, blockSize, dtype, CPU, residual, pinned: device.type == TorchSharp.DeviceType.CUDA);
                CpuResidual = residual;
            }
            else _cpu = [];
            _gpuOf = new int[logicalBlocks + 1];
            _cpuOf = new int[logicalBlocks + 1];
            _locations = new BlockLocations(logicalBlocks, blockSize, device);
            _cpuSlots = (long)((_cpuBlocks?.BlockCount ?? 0) + 1) * blockSize;
            _reader = new TieredReader(_gpu, _cpu, _locations, gpuSlots, _cpuSlots, kvHeads, device);
            SlotCount = (long)(logicalBlocks + 1) * blockSize;
        }
        else
        {
            _logical = _gpuBlocks;
            _cpu = [];
            _gpuOf = _cpuOf = [];
            SlotCount = gpuSlots;
            // pages are indexed by GPU block, which is the logical block only without tiers
            if (pageBounds) PageBounds = new PageKeyBounds(layers, blockCount + 1, kvHeads, headDim, blockSize, device);
        }
    }

    /// <summary>Per-page key bounds for Quest (null unless asked for, and never on a tiered pool).</summary>
    public PageKeyBounds? PageBounds { get; }

    private static IKvLayerStore[] CreateStores(int layers, long slots, int kvHeads, int headDim, int blockSize, ScalarType dtype,
        Device device, ResidualBlocks? residual, bool pinned) =>
        Enumerable.Range(0, layers).Select(_ => residual is not null
            ? (IKvLayerStore)new Int8KvLayerStore(slots, kvHeads, headDim, blockSize, residual, dtype, device, pinned)
            : new NativeKvLayerStore(slots, kvHeads, headDim, blockSize, dtype, device, pinned)).ToArray();

    private ResidualBlocks? CpuResidual { get; }

    public int BlockSize { get; }
    public KvStorageFormat Format { get; }
    /// <summary>Logical slots (scores and attention metadata are indexed by them), the scratch block included.</summary>
    public long SlotCount { get; }
    public int KvHeads { get; }
    public bool IsTiered => _locations is not null;
    public int TotalBlocks => _gpuBlocks.BlockCount;
    public int FreeBlocks => _gpuBlocks.FreeBlocks;
    public int UsedBlocks => _gpuBlocks.UsedBlocks;
    public int CpuTotalBlocks => _cpuBlocks?.BlockCount ?? 0;
    public int CpuUsedBlocks => _cpuBlocks?.UsedBlocks ?? 0;
    /// <summary>Bytes of K/V codes or values per cached token over all layers (INT8 scales and residuals not included).</summary>
    public long BytesPerToken { get; }
    /// <summary>Bytes per token that a read from the CPU tier moves to the GPU (dequantized there on the host).</summary>
    public long FetchBytesPerToken { get; }
    /// <summary>Bytes the GPU pool occupies, everything included.</summary>
    public long PoolBytes => _gpu.Sum(l => l.Bytes);
    public long CpuPoolBytes => _cpu.Sum(l => l.Bytes);
    public double Usage => (double)UsedBlocks / TotalBlocks;
    public long BytesOffloaded { get; private set; }
    public long BytesFetched => _reader?.BytesFetched ?? 0;
    public long TokensRecomputed { get; private set; }

    public SequenceKv CreateSequence() => new(BlockSize);

    /// <summary>Makes room on the GPU for <paramref name="length"/> positions; false (and nothing allocated) if it is full.</summary>
    public bool TryReserve(SequenceKv sequence, int length)
    {
        int needed = sequence.BlocksNeededFor(length);
        if (!IsTiered) return _gpuBlocks.TryAllocate(needed, sequence.Blocks);
        if (needed > _gpuBlocks.FreeBlocks || needed > _logical.FreeBlocks) return false;
        int first = sequence.Blocks.Count;
        _logical.TryAllocate(needed, sequence.Blocks);
        var physical = new List<int>(needed);
        _gpuBlocks.TryAllocate(needed, physical);
        for (int i = 0; i < needed; i++) PlaceOnGpu(sequence.Blocks[first + i], physical[i]);
        return true;
    }

    /// <summary>Returns every block of the sequence, on every tier, at once.</summary>
    public void Release(SequenceKv sequence)
    {
        var gpu = sequence.Blocks.Skip(sequence.OffloadedBlocks).Select(GpuBlockOf).ToList();
        _residual?.Release(gpu);
        _gpuBlocks.Free(gpu);
        if (IsTiered)
        {
            _cpuBlocks?.Free(sequence.Blocks.Skip(sequence.DroppedBlocks).Take(sequence.OffloadedBlocks - sequence.DroppedBlocks).Select(b => _cpuOf[b]));
            _logical.Free(sequence.Blocks);
        }
        sequence.Blocks.Clear();
        sequence.Generation++;
        sequence.Length = 0;
        sequence.OffloadedBlocks = sequence.DroppedBlocks = 0;
    }

    /// <summary>Plans where a forward's new rows go (once, for all layers): logical slots, always in GPU blocks.</summary>
    public WritePlan PlanWrite(long[] logicalSlots)
    {
        var slots = IsTiered ? logicalSlots.Select(s => (long)GpuBlockOf((int)(s / BlockSize)) * BlockSize + s % BlockSize).ToArray() : logicalSlots;
        var plan = _residual is null ? new WritePlan { Slots = tensor(slots, device: _device) } : Int8WritePlanner.Plan(slots, BlockSize, _residual, _device);
        if (PageBounds is not null) plan.Pages = PageKeyBounds.Plan(slots, BlockSize, _device);
        return plan;
    }

    /// <summary>After all layers wrote: residual blocks that were quantized are free again.</summary>
    public void CompleteWrite(WritePlan plan) => _residual?.Release(plan.CompletedBlocks);

    /// <summary>Stores K/V rows [n, kv heads, head dim] of one layer where the plan says.</summary>
    public void Write(int layer, WritePlan plan, Tensor keys, Tensor values)
    {
        _gpu[layer].Write(plan, keys, values);
        PageBounds?.Update(layer, plan, _gpu[layer]);
    }

    /// <summary>Gathers K/V for logical slots of any shape [...]: returns [..., kv heads, head dim].</summary>
    public (Tensor Keys, Tensor Values) Gather(int layer, Tensor slots)
    {
        using var flat = slots.reshape(-1);
        var (k, v) = _reader is null ? _gpu[layer].Gather(flat) : _reader.Read(layer, flat, perHead: false, CpuUsedBlocks > 0);
        long[] shape = [.. slots.shape, k.shape[1], k.shape[2]];
        using (k) using (v) return (k.view(shape), v.view(shape));
    }

    /// <summary>Gathers per-head rows: <paramref name="slotHeads"/> holds slot * kv heads + head indices of any shape [...];
    /// returns [..., head dim] (lets each KV head read its own selection of tokens).</summary>
    public (Tensor Keys, Tensor Values) GatherPerHead(int layer, Tensor slotHeads)
    {
        using var flat = slotHeads.reshape(-1);
        var (k, v) = _reader is null ? _gpu[layer].GatherPerHead(flat) : _reader.Read(layer, flat, perHead: true, CpuUsedBlocks > 0);
        long[] shape = [.. slotHeads.shape, k.shape[1]];
        using (k) using (v) return (k.view(shape), v.view(shape));
    }

    /// <summary>True when every K/V row lives in the GPU pool in the model's dtype at its logical slot (native format,
    /// no CPU tier), so a kernel can read it in place through block tables.</summary>
    public bool SupportsInPlaceReads => !IsTiered && _gpu.All(l => l is NativeKvLayerStore);

    /// <summary>One layer's pool [slots, kv heads, head dim] (K, V); see <see cref="SupportsInPlaceReads"/>.</summary>
    public (Tensor Keys, Tensor Values) PoolOf(int layer) => !IsTiered && _gpu[layer] is NativeKvLayerStore store
        ? (store.Keys, store.Values)
        : throw new InvalidOperationException("in-place KV reads need an untiered pool in the model's dtype");

    private int GpuBlockOf(int logicalBlock) => IsTiered ? _gpuOf[logicalBlock] : logicalBlock;

    private void PlaceOnGpu(int logical, int gpuBlock)
    {
        _gpuOf[logical] = gpuBlock;
        _locations![logical] = (long)gpuBlock * BlockSize;
    }

    internal static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 4, ScalarType.Float16 or ScalarType.BFloat16 => 2,
        _ => throw new NotSupportedException($"KV dtype {dtype}"),
    };

    public void Dispose()
    {
        foreach (var layer in _gpu.Concat(_cpu)) layer.Dispose();
        _residual?.Dispose();
        CpuResidual?.Dispose();
        PageBounds?.Dispose();
        _locations?.Dispose();
        _reader?.Dispose();
    }
}
