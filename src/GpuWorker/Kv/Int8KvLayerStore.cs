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

    public Int8KvLayerStore(long slots, int kvHeads, int headDim, int blockSize, ResidualBlocks residual, ScalarType dtype, Device device)
    {
        _blockSize = blockSize;
        _residual = residual;
        _dtype = dtype;
        long blocks = slots / blockSize;
        _keyCodes = zeros([slots, kvHeads, headDim], ScalarType.Byte, device);
        _valueCodes = zeros([slots, kvHeads, headDim], ScalarType.Byte, device);
        _keyScale = zeros([blocks, kvHeads, headDim], ScalarType.Float16, device);
        _keyMin = zeros([blocks, kvHeads, headDim], ScalarType.Float16, device);
        _valueScale = zeros([blocks, kvHeads, headDim], ScalarType.Float16, device);
        _valueMin = zeros([blocks, kvHeads, headDim], ScalarType.Float16, device);
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
        var blocks = rows.to(ScalarType.Float32).view(-1, _blockSize, rows.shape[1], rows.shape[2]);
        var min = blocks.amin([1L], keepdim: true);
        var scale = (blocks.amax([1L], keepdim: true) - min).clamp_min(1e-6) / 255;
        var quantized = ((blocks - min) / scale).round().clamp(0, 255).to(ScalarType.Byte);
        codes.index_copy_(0, group.BlockSlots, quantized.view(rows.shape));
        scales.index_copy_(0, group.Blocks, scale.squeeze(1).to(ScalarType.Float16));
        minimums.index_copy_(0, group.Blocks, min.squeeze(1).to(ScalarType.Float16));
    }

    public (Tensor Keys, Tensor Values) Gather(Tensor slots)
    {
        using var scope = NewDisposeScope();
        var blocks = slots.floor_divide(_blockSize);
        var residualRows = _residual.RowsOf(slots, _blockSize);
        var inResidual = (residualRows >= 0).view(-1, 1, 1);
        var safeRows = residualRows.clamp_min(0);
        var keys = where(inResidual, _keyResidual.index_select(0, safeRows), Dequantize(_keyCodes.index_select(0, slots), _keyScale, _keyMin, blocks));
        var values = where(inResidual, _valueResidual.index_select(0, safeRows), Dequantize(_valueCodes.index_select(0, slots), _valueScale, _valueMin, blocks));
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    public (Tensor Keys, Tensor Values) GatherPerHead(Tensor slotHeads)
    {
        using var scope = NewDisposeScope();
        long kvHeads = _keyCodes.shape[1], d = _keyCodes.shape[2];
        var slots = slotHeads.floor_divide(kvHeads);
        var heads = slotHeads.remainder(kvHeads);
        var blockHeads = slots.floor_divide(_blockSize) * kvHeads + heads;
        var residualRows = _residual.RowsOf(slots, _blockSize);
        var inResidual = (residualRows >= 0).view(-1, 1);
        var residualHeads = residualRows.clamp_min(0) * kvHeads + heads;
        Tensor Read(Tensor codes, Tensor scale, Tensor min, Tensor residual) => where(inResidual,
            residual.view(-1, d).index_select(0, residualHeads),
            Dequantize(codes.view(-1, d).index_select(0, slotHeads), scale.view(-1, d), min.view(-1, d), blockHeads));
        var keys = Read(_keyCodes, _keyScale, _keyMin, _keyResidual);
        var values = Read(_valueCodes, _valueScale, _valueMin, _valueResidual);
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
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
