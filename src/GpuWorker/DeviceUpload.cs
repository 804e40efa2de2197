using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker;

/// <summary>Small host arrays to the device without a host wait. On CUDA they go through page-locked memory and an
/// asynchronous copy: a pageable upload makes the host wait for all the stream has queued, which would undo async
/// scheduling (the host scheduling the next step while the device runs this one). libtorch's pinned allocator keeps
/// the staging memory until the copy has run. Elsewhere: a plain tensor.</summary>
public static class DeviceUpload
{
    public static Tensor Of(long[] values, Device device) => Of(values, [values.LongLength], device);

    public static Tensor Of(long[] values, long[] shape, Device device) => Upload(tensor(values, shape), device);

    public static Tensor Of(float[] values, long[] shape, Device device) => Upload(tensor(values, shape), device);

    private static Tensor Upload(Tensor host, Device device)
    {
        if (device.type == TorchSharp.DeviceType.CPU) return host;
        using (host)
        {
            if (device.type != TorchSharp.DeviceType.CUDA) return host.to(device);
            using var locked = host.pin_memory();
            var onDevice = empty(host.shape, host.dtype, device);
            onDevice.copy_(locked, true);
            return onDevice;
        }
    }
}
