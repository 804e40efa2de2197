namespace AlisaCluster.GpuWorker.Native;

/// <summary>Device work issued on a side stream so that it overlaps what the current stream runs next: it starts after
/// all work issued before it, and <see cref="Await"/> makes the current stream wait for its end (no host sync).</summary>
public sealed class SideStreamWork : IDisposable
{
    private readonly CudaEvent _done = new();

    /// <summary>Issues <paramref name="work"/> (launches on libtorch's current stream) on a side stream.</summary>
    public static SideStreamWork Issue(Action work)
    {
        var issued = new SideStreamWork();
        AlisaNative.Check(AlisaNative.alisa_side_stream_begin(out var side), "begin side stream");
        try
        {
            work();
        }
        finally
        {
            AlisaNative.Check(AlisaNative.alisa_side_stream_end(side, issued._done.Handle), "end side stream");
        }
        return issued;
    }

    /// <summary>The current stream's later work waits for the side stream's.</summary>
    public void Await() => AlisaNative.Check(AlisaNative.alisa_stream_wait(_done.Handle), "wait for side stream");

    public void Dispose() => _done.Dispose();
}
