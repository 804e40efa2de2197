using System.Collections.Concurrent;
using TorchSharp;

namespace AlisaCluster.GpuWorker;

/// <summary>Scalars for tensor ops on the hot paths. TorchSharp turns a .NET number into a native Scalar object that
/// nothing keeps alive during the call it is passed to, so a garbage collection started meanwhile by another thread
/// can finalise it mid-call (libtorch then reads freed memory: "toDouble" / "toFloat" errors, seen under load).
/// These are created once per (type, value) and kept for the life of the process. TorchSharp also makes implicit
/// Scalars inside some of its own methods (arange's bounds, square's exponent, the alpha of a + b and of one-argument
/// add, the tensor-by-number operators), so those are avoided: <see cref="Arange"/> here, x * x for a square, add with
/// <see cref="One"/>. A test (ScalarsTests) reads our sources for any call that would make one.</summary>
public static class Scalars
{
    private static readonly ConcurrentDictionary<(Type, double), Scalar> Cache = new();

    public static readonly Scalar NegativeInfinity = Of(float.NegativeInfinity);
    /// <summary>add's alpha: TorchSharp's a + b and one-argument add pass an implicit 1 (sub passes none).</summary>
    public static readonly Scalar One = Of(1L);

    public static Scalar Of(long value) => Cache.GetOrAdd((typeof(long), value), _ => value);
    public static Scalar Of(float value) => Cache.GetOrAdd((typeof(float), value), _ => value);
    public static Scalar Of(double value) => Cache.GetOrAdd((typeof(double), value), _ => value);
    public static Scalar Of(bool value) => Cache.GetOrAdd((typeof(bool), value ? 1 : 0), _ => value);

    /// <summary>int64 [start, start + step, .. stop), like torch.arange; its bound Scalars are disposed after the call,
    /// which keeps them alive through it (lengths vary too much to cache).</summary>
    public static torch.Tensor Arange(long stop, torch.Device? device = null, long start = 0, long step = 1)
    {
        using Scalar from = start, to = stop, by = step;
        return torch.arange(from, to, by, torch.ScalarType.Int64, device);
    }
}
