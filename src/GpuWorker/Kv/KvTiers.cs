namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Sizes of the KV tiers below the GPU pool: blocks of pinned CPU memory, and how many blocks may be deleted
/// (for recomputation) at once, which bounds the logical slots that scores are kept for.</summary>
public sealed record KvTiers(int CpuBlocks, int DroppedBlocks);
