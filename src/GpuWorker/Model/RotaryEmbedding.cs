using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Rotary position embedding (rotate-half layout, as in Hugging Face) with every RoPE variant of
/// <see cref="RopeScaling"/>: cos/sin tables precomputed in float32 the way transformers computes them, times the
/// variant's attention scaling. Longrope keeps a second table for its long factors, used by a forward whose last
/// position reaches past original_max_position_embeddings, as transformers switches.</summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos, _sin;           // [max positions, D]
    private readonly Tensor? _longCos, _longSin;  // longrope only
    private readonly int _longFrom;

    /// <param name="frequencyDType">transformers loads a bf16 checkpoint in bf16, which rounds the inverse-frequency
    /// buffer to bf16 (and it stays rounded when upcast); we round the same way to reproduce its outputs</param>
    public RotaryEmbedding(int headDim, int maxPositions, RopeScaling rope, Device device, ScalarType dtype, ScalarType frequencyDType)
    {
        (_cos, _sin) = Table(headDim, maxPositions, rope, longContext: false, device, dtype, frequencyDType);
        if (rope.HasLongFactors)
        {
            (_longCos, _longSin) = Table(headDim, maxPositions, rope, longContext: true, device, dtype, frequencyDType);
            _longFrom = rope.OriginalMaxPositions!.Value;
        }
    }

    private static (Tensor Cos, Tensor Sin) Table(int headDim, int maxPositions, RopeScaling rope, bool longContext, Device device,
        ScalarType dtype, ScalarType frequencyDType)
    {
        using var scope = NewDisposeScope();
        // cached Scalars, not implicit ones: a GC on another thread can finalise a temporary mid-call (see Scalars)
        var exponents = Scalars.Arange(headDim, step: 2).to(ScalarType.Float32).div(Scalars.Of((long)headDim));
        var baseFreq = pow(tensor((float)rope.Theta), exponents).reciprocal().data<float>().Select(f => (double)f).ToArray();
        var scaled = rope.Scale(baseFreq, headDim, longContext).Select(f => (float)f).ToArray();
        var invFreq = tensor(scaled).to(frequencyDType).to(ScalarType.Float32);
        var positions = Scalars.Arange(maxPositions).to(ScalarType.Float32);
        var freqs = outer(positions, invFreq);
        var angles = cat([freqs, freqs], 1);
        var scale = Scalars.Of((float)rope.CosSinScale);
        return (angles.cos().mul(scale).to(dtype, device).MoveToOuterDisposeScope(), angles.sin().mul(scale).to(dtype, device).MoveToOuterDisposeScope());
    }

    /// <summary>cos and sin [B, 1, T, D] for positions [B, T] (computed once per forward, used by every layer).</summary>
    public (Tensor Cos, Tensor Sin) Angles(Tensor positions)
    {
        var flat = positions.reshape(-1);
        bool useLong = _longCos is not null && flat.max().item<long>() + 1 > _longFrom;
        var (cos, sin) = useLong ? (_longCos!, _longSin!) : (_cos, _sin);
        long[] shape = [positions.shape[0], 1, positions.shape[1], cos.shape[1]];
        return (cos.index_select(0, flat).view(shape), sin.index_select(0, flat).view(shape));
    }

    public void Dispose() { _cos.Dispose(); _sin.Dispose(); _longCos?.Dispose(); _longSin?.Dispose(); }
}
