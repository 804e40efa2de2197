using System.Runtime.InteropServices;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The one question the engine asks the CUDA driver itself: how much memory a device has. The driver library
/// (libcuda.so.1) comes with the NVIDIA driver on every GPU machine and in every GPU container, and its device
/// ordinals honour CUDA_VISIBLE_DEVICES as TorchSharp's do.</summary>
public static partial class CudaDriver
{
    private const string Library = "libcuda.so.1";

    /// <summary>Total memory of CUDA device <paramref name="ordinal"/> in bytes.</summary>
    public static long TotalMemoryBytes(int ordinal)
    {
        try
        {
            Check(cuInit(0), "cuInit");
            Check(cuDeviceGet(out int device, ordinal), $"cuDeviceGet({ordinal})");
            Check(cuDeviceTotalMem_v2(out nuint bytes, device), "cuDeviceTotalMem");
            return (long)bytes;
        }
        catch (DllNotFoundException error)
        {
            throw new InvalidOperationException($"the CUDA driver ({Library}) could not be loaded to size the KV pool: {error.Message}", error);
        }
    }

    private static void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"CUDA driver call {call} failed with CUresult {result}");
    }

    [LibraryImport(Library)] private static partial int cuInit(uint flags);
    [LibraryImport(Library)] private static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Library)] private static partial int cuDeviceTotalMem_v2(out nuint bytes, int device);
}
