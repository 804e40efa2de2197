using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Model;

/// <summary>The elementwise pieces of a layer that a fused kernel does better than a chain of small ops (each op is a
/// kernel launch: in a decode step of a 7B model they outnumber the matmuls 8 to 1). <see cref="Torch"/> is the chain
/// of TorchSharp ops (any device; the reference); <see cref="Fused"/> calls the native library's kernels (CUDA). A model
/// picks one at construction (<see cref="For"/>).</summary>
public abstract class LayerKernels
{
    public static readonly LayerKernels Torch = new TorchKernels();
    public static readonly LayerKernels Fused = new NativeKernels();

    /// <summary>Fused on CUDA when the native library is present, TorchSharp ops otherwise.</summary>
    public static LayerKernels For(Device device) =>
        device.type == TorchSharp.DeviceType.CUDA && AlisaNative.IsAvailable ? Fused : Torch;

    /// <summary>RMSNorm as transformers computes it: normalised in float32, cast back, times the weight. x [.., hidden].</summary>
    public abstract Tensor RmsNorm(Tensor x, Tensor weight, double eps);

    /// <summary>A residual add and the RMSNorm after it: Sum = x + delta (rounded as TorchSharp's add rounds) and
    /// Normed = RmsNorm(Sum). One kernel where it is fused, instead of an add and a norm.</summary>
    public abstract (Tensor Sum, Tensor Normed) AddRmsNorm(Tensor x, Tensor delta, Tensor weight, double eps);

    /// <summary>Rotates x [B, heads, T, D] by cos/sin [B, 1, T, D] (rotate-half layout); may work in place and return x.</summary>
    public abstract Tensor Rotate(Tensor x, Tensor cos, Tensor sin);

    /// <summary>silu(gate) * up for gateUp [.., 2I] = [gate | up]; returns [.., I].</summary>
    public abstract Tensor SiluAndMul(Tensor gateUp);

    private sealed class TorchKernels : LayerKernels
    {
        public override Tensor RmsNorm(Tensor x, Tensor weight, double eps)
        {
            using var scope = NewDisposeScope();
            bool widen = x.dtype != ScalarType.Float32;
            var x32 = widen ? x.to(ScalarType.Float32) : x;
            var normed = x32 * rsqrt((x32 * x32).mean([-1L], keepdim: true).add_(Scalars.Of(eps), Scalars.One));
            return (weight * (widen ? normed.to(x.dtype) : normed)).MoveToOuterDisposeScope();
        }

        public override (Tensor Sum, Tensor Normed) AddRmsNorm(Tensor x, Tensor delta, Tensor weight, double eps)
        {
            var sum = x.add(delta, Scalars.One);
            return (sum, RmsNorm(sum, weight, eps));
        }

        public override Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
        {
            using var scope = NewDisposeScope();
            int half = (int)(x.shape[^1] / 2);
            var rotated = cat([-x[.., .., .., half..], x[.., .., .., ..half]], -1);
            return (x * cos).add(rotated * sin, Scalars.One).MoveToOuterDisposeScope();
        }

        public override Tensor SiluAndMul(Tensor gateUp)
        {
            using var scope = NewDisposeScope();
            var parts = gateUp.chunk(2, -1);
            return (nn.functional.silu(parts[0]) * parts[1]).MoveToOuterDisposeScope();
        }
    }

    private sealed class NativeKernels : LayerKernels
    {
        public override Tensor RmsNorm(Tensor x, Tensor weight, double eps)
        {
            using var input = x.contiguous();
            var output = empty_like(input);
            AlisaNative.Check(AlisaNative.alisa_rms_norm(output.Handle, IntPtr.Zero, input.Handle, IntPtr.Zero, weight.Handle, (float)eps), "rms_norm");
            return output;
        }

        public override (Tensor Sum, Tensor Normed) AddRmsNorm(Tensor x, Tensor delta, Tensor weight, double eps)
        {
            using var input = x.contiguous();
            using var added = delta.contiguous();
            var (sum, output) = (empty_like(input), empty_like(input));
            AlisaNative.Check(AlisaNative.alisa_rms_norm(output.Handle, sum.Handle, input.Handle, added.Handle, weight.Handle, (float)eps), "rms_norm");
            return (sum, output);
        }

        public override Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
        {
            AlisaNative.Check(AlisaNative.alisa_rotary(x.Handle, cos.Handle, sin.Handle), "rotary");
            return x;
        }

        public override Tensor SiluAndMul(Tensor gateUp)
        {
            using var input = gateUp.contiguous();
            long[] shape = [.. input.shape[..^1], input.shape[^1] / 2];
            var output = empty(shape, input.dtype, input.device);
            AlisaNative.Check(AlisaNative.alisa_silu_and_mul(output.Handle, input.Handle), "silu_and_mul");
            return output;
        }
    }
}
