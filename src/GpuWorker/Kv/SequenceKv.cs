namespace AlisaCluster.GpuWorker.Kv;

/// <summary>One sequence's view of the KV pool: which blocks it holds and how many positions are filled.
/// Position p lives in slot Blocks[p / BlockSize] * BlockSize + p % BlockSize of every layer's pool.</summary>
public sealed class SequenceKv(int blockSize)
{
    public List<int> Blocks { get; } = new();
    public int BlockSize { get; } = blockSize;

    /// <summary>Positions whose K/V have been written.</summary>
    public int Length { get; internal set; }

    public int Capacity => Blocks.Count * BlockSize;

    /// <summary>Which cached tokens this sequence's decode steps attend to.</summary>
    public Attention.KvPolicy Policy { get; set; } = Attention.KvPolicy.Dense;

    public long SlotOf(int position) => (long)Blocks[position / BlockSize] * BlockSize + position % BlockSize;

    public int BlocksNeededFor(int length) => Math.Max(0, (length + BlockSize - 1) / BlockSize - Blocks.Count);
}
