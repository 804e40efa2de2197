using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>The KV pool of one engine: per layer, K and V for [slots, kv heads, head dim], addressable per token, in
/// the model's dtype or INT8. Sequences own blocks of slots (paged, as in vLLM), so tokens can be selected, moved or
/// dropped one by one. Block 0 is a scratch block that padded batch positions point at.</summary>
public sealed class KvCache : IDisposable
{
    private readonly IKvLayerStore[] _layers;
    private readonly BlockAllocator _allocator;
    private readonly ResidualBlocks? _residual;
    private readonly Device _device;

    public KvCache(int layers, int kvHeads, int headDim, int blockCount, int blockSize, ScalarType dtype, Device device,
        KvStorageFormat format = KvStorageFormat.Native, int maxSequences = 64)
    {
        BlockSize = blockSize;
        Format = format;
        _device = device;
        _allocator = new BlockAllocator(blockCount);
        long slots = (long)(blockCount + 1) * blockSize;
        if (format == KvStorageFormat.Int8) _residual = new ResidualBlocks(maxSequences + 2, blockCount + 1, device);
        _layers = Enumerable.Range(0, layers).Select(_ => format == KvStorageFormat.Int8
            ? (IKvLayerStore)new Int8KvLayerStore(slots, kvHeads, headDim, blockSize, _residual!, dtype, device)
            : new NativeKvLayerStore(slots, kvHeads, headDim, dtype, device)).ToArray();
        SlotCount = slots;
        KvHeads = kvHeads;
        BytesPerToken = 2L * layers * kvHeads * headDim * (format == KvStorageFormat.Int8 ? 1 : ElementSize(dtype));
    }

    public int BlockSize { get; }
    public KvStorageFormat Format { get; }
    /// <summary>Slots in each layer's pool, the scratch block included.</summary>
    public long SlotCount { get; }
    public int KvHeads { get; }
    public int TotalBlocks => _allocator.BlockCount;
    public int FreeBlocks => _allocator.FreeBlocks;
    public int UsedBlocks => _allocator.UsedBlocks;
    /// <summary>Bytes of K/V codes or values per cached token over all layers (INT8 scales and residuals not included).</summary>
    public long BytesPerToken { get; }
    /// <summary>Bytes the pool occupies on the device, everything included.</summary>
    public long PoolBytes => _layers.Sum(l => l.Bytes);
    public double Usage => (double)UsedBlocks / TotalBlocks;

    public SequenceKv CreateSequence() => new(BlockSize);

    /// <summary>Makes room for <paramref name="length"/> positions; false (and nothing allocated) if the pool is full.</summary>
    public bool TryReserve(SequenceKv sequence, int length) =>
        _allocator.TryAllocate(sequence.BlocksNeededFor(length), sequence.Blocks);

    /// <summary>Returns every block of the sequence to the pool at once.</summary>
    public void Release(SequenceKv sequence)
    {
        _residual?.Release(sequence.Blocks);
        _allocator.Free(sequence.Blocks);
        sequence.Blocks.Clear();
        sequence.Length = 0;
    }

    /// <summary>Plans where a forward's new rows go (once, for all layers).</summary>
    public WritePlan PlanWrite(long[] slots) =>
        _residual is null ? new WritePlan { Slots = tensor(slots, device: _device) } : Int8WritePlanner.Plan(slots, BlockSize, _residual, _device);

    /// <summary>After all layers wrote: residual blocks that were quantized are free again.</summary>
    public void CompleteWrite(WritePlan plan) => _residual?.Release(plan.CompletedBlocks);

    /// <summary>Stores K/V rows [n, kv heads, head dim] of one layer where the plan says.</summary>
    public void Write(int layer, WritePlan plan, Tensor keys, Tensor values) => _layers[layer].Write(plan, keys, values);

    /// <summary>Gathers K/V for slot indices of any shape [...]: returns [..., kv heads, head dim].</summary>
    public (Tensor Keys, Tensor Values) Gather(int layer, Tensor slots)
    {
        using var flat = slots.reshape(-1);
        var (k, v) = _layers[layer].Gather(flat);
        long[] shape = [.. slots.shape, k.shape[1], k.shape[2]];
        using (k) using (v) return (k.view(shape), v.view(shape));
    }

    /// <summary>Gathers per-head rows: <paramref name="slotHeads"/> holds slot * kv heads + head indices of any shape [...];
    /// returns [..., head dim] (lets each KV head read its own selection of tokens).</summary>
    public (Tensor Keys, Tensor Values) GatherPerHead(int layer, Tensor slotHeads)
    {
        using var flat = slotHeads.reshape(-1);
        var (k, v) = _layers[layer].GatherPerHead(flat);
        long[] shape = [.. slotHeads.shape, k.shape[1]];
        using (k) using (v) return (k.view(shape), v.view(shape));
    }

    private static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 4, ScalarType.Float16 or ScalarType.BFloat16 => 2,
        _ => throw new NotSupportedException($"KV dtype {dtype}"),
    };

    public void Dispose()
    {
        foreach (var layer in _layers) layer.Dispose();
        _residual?.Dispose();
    }
}
