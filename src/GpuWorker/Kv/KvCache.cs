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
    private readonly Device _device;
    private readonly long _gpuSlots, _cpuSlots;

    public KvCache(int layers, int kvHeads, int headDim, int blockCount, int blockSize, ScalarType dtype, Device device,
        KvStorageFormat format = KvStorageFormat.Native, KvTiers? tiers = null, bool pageBounds = false, bool hotSet = false,
        bool pageSummaries = false)
    {
        BlockSize = blockSize;
        Format = format;
        _device = device;
        _gpuBlocks = new BlockAllocator(blockCount);
        long gpuSlots = _gpuSlots = (long)(blockCount + 1) * blockSize;
        _gpu = CreateStores(layers, gpuSlots, kvHeads, headDim, format, dtype, device, pinned: false);
        KvHeads = kvHeads;
        BytesPerToken = KvBytesPerToken(layers, kvHeads, headDim, format, ElementSize(dtype));
        FetchBytesPerToken = 2L * layers * kvHeads * headDim * ElementSize(dtype);
        if (tiers is { } t && (t.CpuBlocks > 0 || t.DroppedBlocks > 0))
        {
            int logicalBlocks = blockCount + t.CpuBlocks + t.DroppedBlocks;
            _logical = new BlockAllocator(logicalBlocks);
            if (t.CpuBlocks > 0)
            {
                _cpuBlocks = new BlockAllocator(t.CpuBlocks);
                _cpu = CreateStores(layers, (long)(t.CpuBlocks + 1) * blockSize, kvHeads, headDim, format, dtype, CPU,
                    pinned: device.type == TorchSharp.DeviceType.CUDA);
            }
            else _cpu = [];
            _gpuOf = new int[logicalBlocks + 1];
            _cpuOf = new int[logicalBlocks + 1];
            _locations = new BlockLocations(logicalBlocks, blockSize, device);
            _cpuSlots = (long)((_cpuBlocks?.BlockCount ?? 0) + 1) * blockSize;
            _reader = new TieredReader(_gpu, _cpu, _locations, gpuSlots, _cpuSlots, kvHeads, device);
            SlotCount = (long)(logicalBlocks + 1) * blockSize;
            if (hotSet && t.CpuBlocks > 0) CreateHotSet(layers, gpuSlots, kvHeads, device);
            DefersMoves = device.type == TorchSharp.DeviceType.CUDA && Native.AlisaNative.IsAvailable;
        }
        else
        {
            _logical = _gpuBlocks;
            _cpu = [];
            _gpuOf = _cpuOf = [];
            SlotCount = gpuSlots;
            // pages are indexed by GPU block, which is the logical block only without tiers
            if (pageBounds) PageBounds = new PageKeyBounds(layers, blockCount + 1, kvHeads, headDim, device);
            if (pageSummaries) PageSummaries = new PageSummaries(layers, blockCount + 1, kvHeads, headDim, device);
        }
    }

    /// <summary>Per-page key bounds for Quest (null unless asked for, and never on a tiered pool).</summary>
    public PageKeyBounds? PageBounds { get; }

    /// <summary>[B x P]: the pool block of each of the P pages of read slots [B, L] (the block of the page's first slot),
    /// where the per-page statistics are kept.</summary>
    public static Tensor PageBlocks(Tensor readSlots, int blockSize, long pageCount)
    {
        using var firsts = Scalars.Arange(pageCount, readSlots.device) * Scalars.Of((long)blockSize);
        using var firstSlots = readSlots.index_select(1, firsts);
        return firstSlots.floor_divide(Scalars.Of((long)blockSize)).reshape(-1);
    }

    /// <summary>Per-page key and value sums for sparse attention's summaries (null unless asked for, never tiered).</summary>
    public PageSummaries? PageSummaries { get; }

    private static IKvLayerStore[] CreateStores(int layers, long slots, int kvHeads, int headDim, KvStorageFormat format,
        ScalarType dtype, Device device, bool pinned) =>
        Enumerable.Range(0, layers).Select(_ => format == KvStorageFormat.Int8
            ? (IKvLayerStore)new Int8KvLayerStore(slots, kvHeads, headDim, dtype, device, pinned)
            : new NativeKvLayerStore(slots, kvHeads, headDim, dtype, device, pinned)).ToArray();

    /// <summary>Bytes of K and V per cached token over all layers: INT8 rows carry D codes and a 4-byte (scale, min).</summary>
    public static long KvBytesPerToken(int layers, int kvHeads, int headDim, KvStorageFormat format, int elementSize) =>
        2L * layers * kvHeads * (format == KvStorageFormat.Int8 ? headDim + 4 : (long)headDim * elementSize);

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
    /// <summary>Bytes of K/V per cached token over all layers (INT8: codes and row parameters).</summary>
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
        int hot = HotBlocksNeeded(sequence, length);
        if (needed + hot > _gpuBlocks.FreeBlocks) CommitMoves(); // blocks moving to the CPU tier free their GPU blocks
        if (needed + hot > _gpuBlocks.FreeBlocks || needed > _logical.FreeBlocks) return false;
        TakeHotBlocks(sequence, hot);
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
        if (IsTiered) CommitMoves(); // the sequence's blocks in flight reach the CPU tier first, then are freed with it
        _gpuBlocks.Free(sequence.Blocks.Skip(sequence.OffloadedBlocks).Select(GpuBlockOf).Concat(sequence.HotBlocks).ToList());
        sequence.HotBlocks.Clear();
        if (IsTiered)
        {
            _cpuBlocks?.Free(sequence.Blocks.Skip(sequence.DroppedBlocks).Take(sequence.OffloadedBlocks - sequence.DroppedBlocks).Select(b => _cpuOf[b]));
            _logical.Free(sequence.Blocks);
        }
        sequence.Blocks.Clear();
        sequence.Generation++;
        sequence.Length = sequence.ScoreFloor = 0;
        sequence.OffloadedBlocks = sequence.DroppedBlocks = 0;
    }

    /// <summary>Plans where a forward's new rows go (once, for all layers): logical slots, always in GPU blocks.</summary>
    public WritePlan PlanWrite(long[] logicalSlots)
    {
        var slots = IsTiered ? logicalSlots.Select(s => (long)GpuBlockOf((int)(s / BlockSize)) * BlockSize + s % BlockSize).ToArray() : logicalSlots;
        return new WritePlan { Slots = tensor(slots, device: _device), Pages = PageBounds is null && PageSummaries is null ? null : PageWriteGroups.Plan(slots, BlockSize, _device) };
    }

    /// <summary>Stores K/V rows [n, kv heads, head dim] of one layer where the plan says.</summary>
    public void Write(int layer, WritePlan plan, Tensor keys, Tensor values)
    {
        _gpu[layer].Write(plan, keys, values);
        UpdatePageStats(layer, plan);
    }

    /// <summary>The attention kernel's write: one new token per sequence, K/V [B, kv heads, 1, head dim] in any strides
    /// (head views of the fused QKV projection), stored by the native write kernel (quantising them for INT8).</summary>
    public void WriteNative(int layer, WritePlan plan, Tensor keys, Tensor values)
    {
        var pool = _gpu[layer].Tensors;
        if (pool.IsInt8) Native.KvWriteKernel.RunInt8(pool, keys, values, plan.Slots);
        else Native.KvWriteKernel.Run(pool.Keys, pool.Values, keys, values, plan.Slots);
        if (plan.Pages is null && PageSummaries is not null) // a CUDA graph's static plan: the sums kept by a kernel
            Native.PageSummariesKernel.Add(PageSummaries.Of(layer), pool, plan.Slots, keys, BlockSize);
        else UpdatePageStats(layer, plan);
    }

    /// <summary>Folds the rows just written into Quest's page bounds and the page summaries. A CUDA graph's static plan
    /// has no page groups: graphs do not serve Quest (<see cref="Attention.SparseStep.CanCapture"/>), and a block's
    /// stats restart with its first row, so blocks a graph wrote for other sequences start afresh when such a sequence
    /// takes them.</summary>
    private void UpdatePageStats(int layer, WritePlan plan)
    {
        if (plan.Pages is not { } pages) return;
        using var scope = NewDisposeScope();
        // the rows as attention reads them back (INT8: dequantised)
        var (keys, values) = _gpu[layer].Gather(plan.Slots);
        var (keys32, values32) = (keys.to(ScalarType.Float32), values.to(ScalarType.Float32));
        PageBounds?.Update(layer, pages, keys32);
        PageSummaries?.Update(layer, pages, keys32, values32);
    }

    /// <summary>Gathers K/V for logical slots of any shape [...]: returns [..., kv heads, head dim]. Rows on the CPU tier are
    /// looked for only when <paramref name="readsCpuTier"/> (the caller's sequences have blocks there).</summary>
    public (Tensor Keys, Tensor Values) Gather(int layer, Tensor slots, bool readsCpuTier = true)
    {
        using var flat = slots.reshape(-1);
        var (k, v) = _reader is null ? _gpu[layer].Gather(flat) : _reader.Read(layer, flat, perHead: false, readsCpuTier && CpuUsedBlocks > 0);
        long[] shape = [.. slots.shape, k.shape[1], k.shape[2]];
        using (k) using (v) return (k.view(shape), v.view(shape));
    }

    /// <summary>Gathers per-head rows: <paramref name="slotHeads"/> holds slot * kv heads + head indices of any shape [...];
    /// returns [..., head dim] (lets each KV head read its own selection of tokens).</summary>
    public (Tensor Keys, Tensor Values) GatherPerHead(int layer, Tensor slotHeads, bool readsCpuTier = true)
    {
        using var flat = slotHeads.reshape(-1);
        var (k, v) = _reader is null ? _gpu[layer].GatherPerHead(flat) : _reader.Read(layer, flat, perHead: true, readsCpuTier && CpuUsedBlocks > 0);
        long[] shape = [.. slotHeads.shape, k.shape[1]];
        using (k) using (v) return (k.view(shape), v.view(shape));
    }

    /// <summary>One layer's GPU pool as the kernel reads it (K/V rows, INT8 parameters).</summary>
    public Native.KvPoolTensors PoolOf(int layer) => _gpu[layer].Tensors;

    /// <summary>One layer's CPU tier (page-locked on a CUDA machine), or null without one.</summary>
    public Native.KvPoolTensors? CpuPoolOf(int layer) => _cpu.Length > 0 ? _cpu[layer].Tensors : null;

    /// <summary>Blocks of the GPU pool (the scratch block included): kernel block ids at or above it are CPU blocks.</summary>
    public long GpuPoolBlocks => _gpuSlots / BlockSize;

    /// <summary>Where a logical block's rows are for the kernel: its GPU block, or GpuPoolBlocks + its CPU block; null
    /// while it is dropped (phase III, rebuilt by recomputation, which the kernel does not read).</summary>
    public long? KernelBlockOf(int logicalBlock)
    {
        if (!IsTiered) return logicalBlock;
        long where = _locations![logicalBlock];
        return where < _gpuSlots ? where / BlockSize : where < _gpuSlots + _cpuSlots ? GpuPoolBlocks + (where - _gpuSlots) / BlockSize : null;
    }

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
        if (IsTiered && _pending is { Copy: not null })
        {
            CommitMoves();
            cuda.synchronize(); // the side stream's copy writes page-locked memory that is about to be freed
        }
        foreach (var layer in _gpu.Concat(_cpu)) layer.Dispose();
        PageBounds?.Dispose();
        PageSummaries?.Dispose();
        DisposeHotSet();
        _locations?.Dispose();
        _reader?.Dispose();
    }
}
