namespace AlisaCluster.GpuWorker.Kv;

/// <summary>One sequence's view of the KV pool: which blocks it holds and how many positions are filled.
/// Position p has the logical slot Blocks[p / BlockSize] * BlockSize + p % BlockSize in every layer; scores and
/// attention metadata use logical slots, the cache maps them to where the K/V live now.
/// Tiers are prefixes (ALISA's three phases): blocks [0, DroppedBlocks) were deleted and are recomputed when needed,
/// [DroppedBlocks, OffloadedBlocks) live in CPU memory, the rest (the recent tokens) on the GPU.</summary>
public sealed class SequenceKv(int blockSize)
{
    public List<int> Blocks { get; } = new();

    /// <summary>GPU pool blocks holding the rows the selection listed at the last step (the hot set; tiered pools on
    /// the kernel path only, see <see cref="KvCache.HasHotSet"/>).</summary>
    public List<int> HotBlocks { get; } = new();
    public int BlockSize { get; } = blockSize;

    /// <summary>Positions whose K/V have been written.</summary>
    public int Length { get; internal set; }

    public int Capacity => Blocks.Count * BlockSize;

    /// <summary>Counts releases of all blocks (preemption, finish): block lists cached elsewhere (a decode step's
    /// block table) are stale when it changed.</summary>
    public int Generation { get; internal set; }

    /// <summary>Leading blocks not on the GPU (on the CPU or dropped).</summary>
    public int OffloadedBlocks { get; internal set; }

    /// <summary>Leading blocks deleted (phase III): their K/V are rebuilt by a prefill of the prefix when attended.</summary>
    public int DroppedBlocks { get; internal set; }

    /// <summary>1: all KV on the GPU; 2: part on the CPU; 3: part deleted for recomputation.</summary>
    public int Phase => DroppedBlocks > 0 ? 3 : OffloadedBlocks > 0 ? 2 : 1;

    /// <summary>The token ids the cached positions were computed from (needed to recompute dropped K/V).</summary>
    public IReadOnlyList<int>? Tokens { get; set; }

    /// <summary>SWA: the first step whose weights the windowed score sums still hold (steps before it have been
    /// subtracted, or were never added).</summary>
    public int ScoreFloor { get; internal set; }

    /// <summary>Which cached tokens this sequence's decode steps attend to.</summary>
    public Attention.KvPolicy Policy { get; set; } = Attention.KvPolicy.Dense;

    public long SlotOf(int position) => (long)Blocks[position / BlockSize] * BlockSize + position % BlockSize;

    public int BlocksNeededFor(int length) => Math.Max(0, (length + BlockSize - 1) / BlockSize - Blocks.Count);
}
