namespace AlisaCluster.GpuWorker.Native;

/// <summary>Device work issued on a side stream so that it overlaps what the current stream runs next: it starts after
/// all work issued before it, and <see cref="Await"/> makes the current stream wait for its end (no host sync).</summary>
public sealed class SideStreamWork : IDisposable
{
    private IntPtr _done;

    private SideStreamWork(IntPtr done) => _done = done;

    /// <summary>Issues <paramref name="work"/> (launches on libtorch's current stream) on a side stream.</summary>
    public static SideStreamWork Issue(Action work)
    {
        AlisaNative.Require();
        AlisaNative.Check(AlisaNative.alisa_event_create(out var done), "create CUDA event");
        var issued = new SideStreamWork(done);
        AlisaNative.Check(AlisaNative.alisa_side_stream_begin(out var side), "begin side stream");
        try
        {
            work();
        }
        finally
        {
            AlisaNative.Check(AlisaNative.alisa_side_stream_end(side, done), "end side stream");
        }
        return issued;
    }

    /// <summary>The current stream's later work waits for the side stream's.</summary>
    public void Await() => AlisaNative.Check(AlisaNative.alisa_stream_wait(_done), "wait for side stream");

    public void Dispose()
    {
        if (_done != IntPtr.Zero) AlisaNative.alisa_event_destroy(_done);
        _done = IntPtr.Zero;
    }
}
