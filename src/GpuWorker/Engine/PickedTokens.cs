using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>A decode step's picks (<see cref="Sampler.Pick"/>) on their way to the host. On CUDA they are copied into
/// page-locked memory on the step's stream and an event marks the copy's end, so the host can issue the next step
/// first and then wait for this one only (async scheduling); the token ids also stay on the device
/// (<see cref="Ids"/>), for the next step to feed.</summary>
internal sealed class PickedTokens : IDisposable
{
    private readonly Tensor _host;
    private readonly Dictionary<Sequence, int> _rows = new(ReferenceEqualityComparer.Instance);
    private readonly CudaEvent? _copied; // after the copy to the host

    public PickedTokens(Tensor picked, List<Sequence> batch)
    {
        Batch = batch;
        for (int b = 0; b < batch.Count; b++) _rows[batch[b]] = b;
        Ids = picked.select(0, 0).to(ScalarType.Int64);
        if (picked.device.type == TorchSharp.DeviceType.CUDA && AlisaNative.IsAvailable)
        {
            using var pageable = empty(picked.shape, ScalarType.Float64);
            _host = pageable.pin_memory();
            _host.copy_(picked, true); // non-blocking: the step stream copies, the host goes on
            _copied = new CudaEvent();
            _copied.Record();
        }
        else _host = picked.cpu(); // waits for the device where there is no event to wait on
    }

    /// <summary>The sequences of the step, in row order.</summary>
    public List<Sequence> Batch { get; }

    /// <summary>The picked token ids [B] (int64) on the device.</summary>
    public Tensor Ids { get; }

    public int RowOf(Sequence sequence) => _rows[sequence];

    /// <summary>The choices; waits for the step's picks to reach the host.</summary>
    public Sampler.Choice[] Download()
    {
        _copied?.Synchronize();
        return Sampler.Read(_host, Batch);
    }

    public void Dispose()
    {
        _copied?.Dispose();
        _host.Dispose();
        Ids.Dispose();
    }
}
