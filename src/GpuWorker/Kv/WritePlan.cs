using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Where one forward's new K/V rows go, worked out once on the host and reused by every layer. For INT8
/// storage it also says which rows go to the full-precision residual blocks and which blocks are quantized now.</summary>
public sealed class WritePlan : IDisposable
{
    /// <summary>[n] pool slot of each new row.</summary>
    public required Tensor Slots { get; init; }
    /// <summary>Rows of fresh blocks written whole by this forward: quantized straight from the input.</summary>
    public QuantizeGroup? Direct { get; init; }
    /// <summary>Blocks that fill up in their residual now: quantized from the residual.</summary>
    public QuantizeGroup? FromResidual { get; init; }
    /// <summary>[r] input rows that go to residual blocks, and [r] their residual rows.</summary>
    public Tensor? ResidualSources { get; init; }
    public Tensor? ResidualTargets { get; init; }
    /// <summary>Blocks whose residual entry is released once all layers have written.</summary>
    public IReadOnlyList<int> CompletedBlocks { get; init; } = [];
    /// <summary>The rows grouped by block, where the cache keeps Quest's page key bounds.</summary>
    public PageKeyBounds.WriteGroups? Pages { get; internal set; }

    /// <summary>Blocks to quantize: their ids [m], the [m * block size] source rows in block order, and their slots.</summary>
    public sealed record QuantizeGroup(Tensor Blocks, Tensor SourceRows, Tensor BlockSlots);

    public void Dispose()
    {
        foreach (var t in new[] { Slots, ResidualSources, ResidualTargets, Direct?.Blocks, Direct?.SourceRows, Direct?.BlockSlots,
                     FromResidual?.Blocks, FromResidual?.SourceRows, FromResidual?.BlockSlots }) t?.Dispose();
        Pages?.Dispose();
    }
}
