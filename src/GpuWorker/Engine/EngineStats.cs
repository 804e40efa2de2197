namespace AlisaCluster.GpuWorker.Engine;

/// <summary>A snapshot of the engine's load, published after every step (for placement, metrics and health).
/// <see cref="KvBlocksUsed"/> counts the blocks sequences hold; prefix-cached blocks nobody holds are free
/// (<see cref="KvBlocksCached"/>: they are reclaimed on demand). The time fields sum over the engine's life: device
/// time per phase (<see cref="StepTimes"/>), host time issuing decode steps and handing their tokens to the streams
/// (<see cref="OutputSeconds"/>), and the decode steps the graph step left to the eager one.</summary>
public sealed record EngineStats(
    int Running, int Waiting, int KvBlocksTotal, int KvBlocksUsed, int BlockSize, long BytesPerToken,
    long PromptTokensTotal, long GeneratedTokensTotal, long Preemptions, long Steps,
    int CpuKvBlocksTotal = 0, int CpuKvBlocksUsed = 0, long BytesOffloaded = 0, long BytesFetched = 0, long TokensRecomputed = 0,
    int SequencesInPhase2 = 0, int SequencesInPhase3 = 0,
    long DecodeSteps = 0, double DecodeHostSeconds = 0, double DecodeGpuSeconds = 0, string DecodeStep = "",
    int KvBlocksCached = 0, long PrefixHitTokens = 0,
    double PrefillGpuSeconds = 0, double TierMoveGpuSeconds = 0, double OutputSeconds = 0, long EagerDecodeSteps = 0)
{
    public double CpuKvUsage => CpuKvBlocksTotal == 0 ? 0 : (double)CpuKvBlocksUsed / CpuKvBlocksTotal;
    public int KvTokensFree => (KvBlocksTotal - KvBlocksUsed) * BlockSize;
    public double KvUsage => KvBlocksTotal == 0 ? 0 : (double)KvBlocksUsed / KvBlocksTotal;
}
