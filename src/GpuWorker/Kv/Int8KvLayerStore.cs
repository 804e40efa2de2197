using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>One layer's K/V as INT8: uint8 codes per slot, and per block a channel-wise (kv head x head dim) scale and
/// minimum, i.e. asymmetric min/max quantization over the block's tokens. Rows of not-yet-full blocks live in the
/// shared full-precision residual and are quantized when their block fills.</summary>
internal sealed class Int8KvLayerStore : IKvLayerStore
{
    private readonly Tensor _keyCodes, _valueCodes;         // [slots, KvH, D] uint8
    private readonly Tensor _keyScale, _keyMin, _valueScale, _valueMin; // [blocks, KvH, D] fp16
    private readonly Tensor _keyResidual, _valueResidual;   // [residual blocks * block size, KvH, D] model dtype
    private readonly ResidualBlocks _residual;
    private readonly int _blockSize;
    private readonly ScalarType _dtype;

    public Int8KvLayerStore(long slots, int kvHeads, int headDim, int blockSize, ResidualBlocks residual, ScalarType dtype, Device device,
        bool pinned = false)
    {
        _blockSize = blockSize;
        _residual = residual;
        _dtype = dtype;
        long blocks = slots / blockSize;
        _keyCodes = PoolTensor.Zeros([slots, kvHeads, headDim], ScalarType.Byte, device, pinned);
        _valueCodes = PoolTensor.Zeros([slots, kvHeads, headDim], ScalarType.Byte, device, pinned);
        _keyScale = PoolTensor.Zeros([blocks, kvHeads, headDim], ScalarType.Float16, device, pinned);
        _keyMin = PoolTensor.Zeros([blocks, kvHeads, headDim], ScalarType.Float16, device, pinned);
        _valueScale = PoolTensor.Zeros([blocks, kvHeads, headDim], ScalarType.Float16, device, pinned);
        _valueMin = PoolTensor.Zeros([blocks, kvHeads, headDim], ScalarType.Float16, device, pinned);
        _keyResidual = zeros([residual.Capacity * blockSize, kvHeads, headDim], dtype, device);
        _valueResidual = zeros([residual.Capacity * blockSize, kvHeads, headDim], dtype, device);
    }

    public long Bytes => new[] { _keyCodes, _valueCodes, _keyScale, _keyMin, _valueScale, _valueMin, _keyResidual, _valueResidual }
        .Sum(t => t.numel() * t.element_size());

    public void Write(WritePlan plan, Tensor keys, Tensor values)
    {
        using var scope = NewDisposeScope();
        if (plan.ResidualSources is not null)
        {
            _keyResidual.index_copy_(0, plan.ResidualTargets!, keys.index_select(0, plan.ResidualSources));
            _valueResidual.index_copy_(0, plan.ResidualTargets!, values.index_select(0, plan.ResidualSources));
        }
        if (plan.Direct is { } direct)
        {
            Quantize(keys.index_select(0, direct.SourceRows), direct, _keyCodes, _keyScale, _keyMin);
            Quantize(values.index_select(0, direct.SourceRows), direct, _valueCodes, _valueScale, _valueMin);
        }
        if (plan.FromResidual is { } completed)
        {
            Quantize(_keyResidual.index_select(0, completed.SourceRows), completed, _keyCodes, _keyScale, _keyMin);
            Quantize(_valueResidual.index_select(0, completed.SourceRows), completed, _valueCodes, _valueScale, _valueMin);
        }
    }

    /// <summary>rows [m * block size, KvH, D] -> per block and channel: min, scale = (max - min) / 255, codes.</summary>
    private void Quantize(Tensor rows, WritePlan.QuantizeGroup group, Tensor codes, Tensor scales, Tensor minimums)
    {
        var (quantized, scale, min) = QuantizeBlocks(rows, _blockSize);
        codes.index_copy_(0, group.BlockSlots, quantized);
        scales.index_copy_(0, group.Blocks, scale);
        minimums.index_copy_(0, group.Blocks, min);
    }

    /// <summary>rows [m * block size, KvH, D] -> codes [same shape] and fp16 scale and minimum [m, KvH, D].</summary>
    private static (Tensor Codes, Tensor Scale, Tensor Min) QuantizeBlocks(Tensor rows, int blockSize)
    {
        var blocks = rows.to(ScalarType.Float32).view(-1, blockSize, rows.shape[1], rows.shape[2]);
        var min = blocks.amin([1L], keepdim: true);
        var scale = (blocks.amax([1L], keepdim: true) - min).clamp_min(Scalars.Of(1e-6)) / Scalars.Of(255.0);
        var quantized = ((blocks - min) / scale).round().clamp(Scalars.Of(0.0), Scalars.Of(255.0)).to(ScalarType.Byte);
        return (quantized.view(rows.shape), scale.squeeze(1).to(ScalarType.Float16), min.squeeze(1).to(ScalarType.Float16));
    }

    /// <summary>What whole blocks of rows read back as once stored: recomputed K/V then match the cache they stand in for.</summary>
    public static Tensor RoundTrip(Tensor rows, int blockSize)
    {
        using var scope = NewDisposeScope();
        var (codes, scale, min) = QuantizeBlocks(rows, blockSize);
        var blocks = codes.to(ScalarType.Float32).view(-1, blockSize, rows.shape[1], rows.shape[2]);
        var values = blocks * scale.to(ScalarType.Float32).unsqueeze(1) + min.to(ScalarType.Float32).unsqueeze(1);
        return values.view(rows.shape).to(rows.dtype).MoveToOuterDisposeScope();
    }

    public (Tensor Keys, Tensor Values) Gather(Tensor slots)
    {
        using var scope = NewDisposeScope();
        var blocks = slots.floor_divide(Scalars.Of((long)_blockSize));
        var residualRows = _residual.RowsOf(slots, _blockSize);
        var inResidual = residualRows.ge(Scalars.Of(0L)).view(-1, 1, 1);
        var safeRows = residualRows.clamp_min(Scalars.Of(0L));
        var keys = where(inResidual, _keyResidual.index_select(0, safeRows), Dequantize(_keyCodes.index_select(0, slots), _keyScale, _keyMin, blocks));
        var values = where(inResidual, _valueResidual.index_select(0, safeRows), Dequantize(_valueCodes.index_select(0, slots), _valueScale, _valueMin, blocks));
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    public (Tensor Keys, Tensor Values) GatherPerHead(Tensor slotHeads)
    {
        using var scope = NewDisposeScope();
        long kvHeads = _keyCodes.shape[1], d = _keyCodes.shape[2];
        var slots = slotHeads.floor_divide(Scalars.Of(kvHeads));
        var heads = slotHeads.remainder(Scalars.Of(kvHeads));
        var blockHeads = slots.floor_divide(Scalars.Of((long)_blockSize)) * Scalars.Of(kvHeads) + heads;
        var residualRows = _residual.RowsOf(slots, _blockSize);
        var inResidual = residualRows.ge(Scalars.Of(0L)).view(-1, 1);
        var residualHeads = residualRows.clamp_min(Scalars.Of(0L)) * Scalars.Of(kvHeads) + heads;
        Tensor Read(Tensor codes, Tensor scale, Tensor min, Tensor residual) => where(inResidual,
            residual.view(-1, d).index_select(0, residualHeads),
            Dequantize(codes.view(-1, d).index_select(0, slotHeads), scale.view(-1, d), min.view(-1, d), blockHeads));
        var keys = Read(_keyCodes, _keyScale, _keyMin, _keyResidual);
        var values = Read(_valueCodes, _valueScale, _valueMin, _valueResidual);
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    public void CopyBlocksTo(IKvLayerStore target, long[] sourceBlocks, long[] targetBlocks)
    {
        var to = (Int8KvLayerStore)target;
        foreach (var block in sourceBlocks)
            if (_residual.TryGet((int)block, out _)) throw new InvalidOperationException($"INT8 KV block {block} is still being filled; only whole blocks move");
        using var fromRows = PoolTensor.BlockRows(sourceBlocks, _blockSize, _keyCodes.device);
        using var intoRows = PoolTensor.BlockRows(targetBlocks, _blockSize, to._keyCodes.device);
        using var fromBlocks = tensor(sourceBlocks, device: _keyCodes.device);
        using var intoBlocks = tensor(targetBlocks, device: to._keyCodes.device);
        PoolTensor.CopyRows(_keyCodes, fromRows, to._keyCodes, intoRows);
        PoolTensor.CopyRows(_valueCodes, fromRows, to._valueCodes, intoRows);
        foreach (var (source, into) in new[] { (_keyScale, to._keyScale), (_keyMin, to._keyMin), (_valueScale, to._valueScale), (_valueMin, to._valueMin) })
            PoolTensor.CopyRows(source, fromBlocks, into, intoBlocks);
    }

    private Tensor Dequantize(Tensor codes, Tensor scales, Tensor minimums, Tensor rows)
    {
        var scale = scales.index_select(0, rows).to(ScalarType.Float32);
        var min = minimums.index_select(0, rows).to(ScalarType.Float32);
        return (codes.to(ScalarType.Float32) * scale + min).to(_dtype);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _keyCodes, _valueCodes, _keyScale, _keyMin, _valueScale, _valueMin, _keyResidual, _valueResidual }) t.Dispose();
    }
}
