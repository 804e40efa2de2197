namespace AlisaCluster.GpuWorker.Native;

/// <summary>Device time of a span of work on the current stream (two CUDA events), apart from the host's time.</summary>
public sealed class CudaTimer : IDisposable
{
    private IntPtr _start, _end;

    public CudaTimer()
    {
        AlisaNative.Require();
        AlisaNative.Check(AlisaNative.alisa_event_create(out _start), "create CUDA event");
        AlisaNative.Check(AlisaNative.alisa_event_create(out _end), "create CUDA event");
    }

    public void Start() => AlisaNative.Check(AlisaNative.alisa_event_record(_start), "record CUDA event");
    public void Stop() => AlisaNative.Check(AlisaNative.alisa_event_record(_end), "record CUDA event");

    /// <summary>Milliseconds between Start and Stop (waits for the work before Stop to finish).</summary>
    public double ElapsedMilliseconds()
    {
        AlisaNative.Check(AlisaNative.alisa_event_elapsed_ms(_start, _end, out float ms), "read CUDA event time");
        return ms;
    }

    public void Dispose()
    {
        if (_start != IntPtr.Zero) AlisaNative.alisa_event_destroy(_start);
        if (_end != IntPtr.Zero) AlisaNative.alisa_event_destroy(_end);
        _start = _end = IntPtr.Zero;
    }
}
