using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Where one forward's new K/V rows go, worked out once on the host and reused by every layer.</summary>
public sealed class WritePlan : IDisposable
{
    /// <summary>[n] GPU pool slot of each new row.</summary>
    public required Tensor Slots { get; init; }

    public void Dispose() => Slots.Dispose();
}
