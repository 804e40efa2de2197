using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Where one forward's new K/V rows go, worked out once on the host and reused by every layer.</summary>
public sealed class WritePlan : IDisposable
{
    /// <summary>[n] GPU pool slot of each new row.</summary>
    public required Tensor Slots { get; init; }
    /// <summary>The rows grouped by block, where the cache keeps per-page statistics (Quest's key bounds, the page
    /// summaries; null otherwise, and in the static plans of CUDA graphs).</summary>
    public PageWriteGroups? Pages { get; init; }

    public void Dispose()
    {
        Slots.Dispose();
        Pages?.Dispose();
    }
}
