using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>One layer's K/V as INT8, quantised per row (one token and KV head) when written: uint8 codes [slots, KvH, D]
/// and the row's (scale, min) as fp16 [slots, KvH, 2] (asymmetric min/max: value = code * scale + min). A row needs
/// D + 4 bytes instead of 2D (0.52x fp16 at D = 128), is complete as soon as it is written (no full-precision residual
/// while a block fills), and a kernel reads it with its parameters in one place. On a CUDA device with the native
/// library the write is one kernel (kv_write_int8.cu), whose reference is <see cref="Quantize"/>.</summary>
public sealed class Int8KvLayerStore : IKvLayerStore
{
    private readonly Tensor _keyCodes, _valueCodes;   // [slots, KvH, D] uint8
    private readonly Tensor _keyParams, _valueParams; // [slots, KvH, 2] fp16: scale, min
    private readonly ScalarType _dtype;
    private readonly bool _nativeWrites;

    internal Int8KvLayerStore(long slots, int kvHeads, int headDim, ScalarType dtype, Device device, bool pinned = false)
    {
        _dtype = dtype;
        _keyCodes = PoolTensor.Zeros([slots, kvHeads, headDim], ScalarType.Byte, device, pinned);
        _valueCodes = PoolTensor.Zeros([slots, kvHeads, headDim], ScalarType.Byte, device, pinned);
        _keyParams = PoolTensor.Zeros([slots, kvHeads, 2], ScalarType.Float16, device, pinned);
        _valueParams = PoolTensor.Zeros([slots, kvHeads, 2], ScalarType.Float16, device, pinned);
        _nativeWrites = device.type == TorchSharp.DeviceType.CUDA && AlisaNative.IsAvailable;
    }

    public long Bytes => new[] { _keyCodes, _valueCodes, _keyParams, _valueParams }.Sum(t => t.numel() * t.element_size());
    public KvPoolTensors Tensors => new(_keyCodes, _valueCodes, _keyParams, _valueParams);

    public void Write(WritePlan plan, Tensor keys, Tensor values)
    {
        if (_nativeWrites)
        {
            using var keyRows = keys.unsqueeze(2); // [n, KvH, 1, D]: n sequences of one token
            using var valueRows = values.unsqueeze(2);
            KvWriteKernel.RunInt8(Tensors, keyRows, valueRows, plan.Slots);
            return;
        }
        using var scope = NewDisposeScope();
        foreach (var (rows, codes, parameters) in new[] { (keys, _keyCodes, _keyParams), (values, _valueCodes, _valueParams) })
        {
            var (quantized, rowParams) = Quantize(rows);
            codes.index_copy_(0, plan.Slots, quantized);
            parameters.index_copy_(0, plan.Slots, rowParams);
        }
    }

    /// <summary>rows [..., D] -> codes [..., D] uint8 and (scale, min) [..., 2] fp16 per row.</summary>
    public static (Tensor Codes, Tensor Params) Quantize(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var x = rows.to(ScalarType.Float32);
        var min = x.amin([-1L], keepdim: true);
        var scale = x.amax([-1L], keepdim: true).sub(min).clamp_min(Scalars.Of(1e-6)) / Scalars.Of(255.0);
        var codes = (x.sub(min) / scale).round().clamp(Scalars.Of(0.0), Scalars.Of(255.0)).to(ScalarType.Byte);
        var parameters = cat([scale, min], -1).to(ScalarType.Float16);
        return (codes.MoveToOuterDisposeScope(), parameters.MoveToOuterDisposeScope());
    }

    private static Tensor Dequantize(Tensor codes, Tensor parameters, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var p = parameters.to(ScalarType.Float32);
        return (codes.to(ScalarType.Float32) * p.narrow(-1, 0, 1)).add(p.narrow(-1, 1, 1), Scalars.One).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>What rows read back as once stored: recomputed K/V then match the cache they stand in for.</summary>
    public static Tensor RoundTrip(Tensor rows)
    {
        var (codes, parameters) = Quantize(rows);
        using (codes) using (parameters) return Dequantize(codes, parameters, rows.dtype);
    }

    public (Tensor Keys, Tensor Values) Gather(Tensor slots)
    {
        using var scope = NewDisposeScope();
        var keys = Dequantize(_keyCodes.index_select(0, slots), _keyParams.index_select(0, slots), _dtype);
        var values = Dequantize(_valueCodes.index_select(0, slots), _valueParams.index_select(0, slots), _dtype);
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    public (Tensor Keys, Tensor Values) GatherPerHead(Tensor slotHeads)
    {
        using var scope = NewDisposeScope();
        long d = _keyCodes.shape[2];
        Tensor Read(Tensor codes, Tensor parameters) =>
            Dequantize(codes.view(-1, d).index_select(0, slotHeads), parameters.view(-1, 2).index_select(0, slotHeads), _dtype);
        return (Read(_keyCodes, _keyParams).MoveToOuterDisposeScope(), Read(_valueCodes, _valueParams).MoveToOuterDisposeScope());
    }

    void IKvLayerStore.CopyBlocksTo(IKvLayerStore target, BlockMove move)
    {
        var to = (Int8KvLayerStore)target;
        foreach (var (source, into) in new[] { (_keyCodes, to._keyCodes), (_valueCodes, to._valueCodes), (_keyParams, to._keyParams), (_valueParams, to._valueParams) })
            PoolTensor.CopyBlocks(source, into, move);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _keyCodes, _valueCodes, _keyParams, _valueParams }) t.Dispose();
    }
}
