namespace AlisaCluster.GpuWorker.Native;

/// <summary>One CUDA event of the native library: a mark in the current stream's work that the host can wait for
/// (<see cref="Synchronize"/>), another stream can wait for, or two of which time a span (<see cref="CudaTimer"/>).</summary>
public sealed class CudaEvent : IDisposable
{
    public CudaEvent()
    {
        AlisaNative.Require();
        AlisaNative.Check(AlisaNative.alisa_event_create(out var handle), "create CUDA event");
        Handle = handle;
    }

    /// <summary>The cudaEvent_t, for the native calls that take one.</summary>
    public IntPtr Handle { get; private set; }

    /// <summary>Marks the end of the work issued so far on the current stream.</summary>
    public void Record() => AlisaNative.Check(AlisaNative.alisa_event_record(Handle), "record CUDA event");

    /// <summary>Waits on the host until the work before the last <see cref="Record"/> has run.</summary>
    public void Synchronize() => AlisaNative.Check(AlisaNative.alisa_event_synchronize(Handle), "wait for CUDA event");

    public void Dispose()
    {
        if (Handle != IntPtr.Zero) AlisaNative.alisa_event_destroy(Handle);
        Handle = IntPtr.Zero;
    }
}
