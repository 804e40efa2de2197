namespace AlisaCluster.GpuWorker.Native;

/// <summary>Device time of a span of work on the current stream (two CUDA events), apart from the host's time.</summary>
public sealed class CudaTimer : IDisposable
{
    private readonly CudaEvent _start = new(), _end = new();

    public void Start() => _start.Record();
    public void Stop() => _end.Record();

    /// <summary>Milliseconds between Start and Stop (waits for the work before Stop to finish).</summary>
    public double ElapsedMilliseconds()
    {
        AlisaNative.Check(AlisaNative.alisa_event_elapsed_ms(_start.Handle, _end.Handle, out float ms), "read CUDA event time");
        return ms;
    }

    public void Dispose()
    {
        _start.Dispose();
        _end.Dispose();
    }
}
