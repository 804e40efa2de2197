using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>Llama's rotary position embedding (rotate-half layout, as in Hugging Face), cos/sin tables precomputed
/// in float32 the way transformers computes them.</summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos; // [max positions, D]
    private readonly Tensor _sin;

    /// <param name="frequencyDType">transformers loads a bf16 checkpoint in bf16, which rounds the inverse-frequency
    /// buffer to bf16 (and it stays rounded when upcast); we round the same way to reproduce its outputs</param>
    public RotaryEmbedding(int headDim, int maxPositions, double theta, Device device, ScalarType dtype, ScalarType frequencyDType)
    {
        using var scope = NewDisposeScope();
        var exponents = arange(0, headDim, 2, ScalarType.Int64).to(ScalarType.Float32) / headDim;
        var invFreq = (1.0f / pow(tensor((float)theta), exponents)).to(frequencyDType).to(ScalarType.Float32);
        var positions = arange(0, maxPositions, ScalarType.Int64).to(ScalarType.Float32);
        var freqs = outer(positions, invFreq);
        var angles = cat([freqs, freqs], 1);
        _cos = angles.cos().to(dtype, device).MoveToOuterDisposeScope();
        _sin = angles.sin().to(dtype, device).MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin [B, 1, T, D] for positions [B, T] (computed once per forward, used by every layer).</summary>
    public (Tensor Cos, Tensor Sin) Angles(Tensor positions)
    {
        var flat = positions.reshape(-1);
        long[] shape = [positions.shape[0], 1, positions.shape[1], _cos.shape[1]];
        return (_cos.index_select(0, flat).view(shape), _sin.index_select(0, flat).view(shape));
    }

    public void Dispose() { _cos.Dispose(); _sin.Dispose(); }
}
