using System.Collections.Concurrent;
using TorchSharp;

namespace AlisaCluster.GpuWorker;

/// <summary>Scalars for tensor ops on the hot paths. TorchSharp turns a .NET number into a native Scalar object that
/// nothing keeps alive during the call it is passed to, so a garbage collection started meanwhile by another thread
/// can finalise it mid-call (libtorch then reads freed memory: "toDouble" / "toFloat" errors, seen under load).
/// These are created once per (type, value) and kept for the life of the process.</summary>
internal static class Scalars
{
    private static readonly ConcurrentDictionary<(Type, double), Scalar> Cache = new();

    public static readonly Scalar NegativeInfinity = Of(float.NegativeInfinity);

    public static Scalar Of(long value) => Cache.GetOrAdd((typeof(long), value), _ => value);
    public static Scalar Of(float value) => Cache.GetOrAdd((typeof(float), value), _ => value);
    public static Scalar Of(double value) => Cache.GetOrAdd((typeof(double), value), _ => value);
    public static Scalar Of(bool value) => Cache.GetOrAdd((typeof(bool), value ? 1 : 0), _ => value);
}
