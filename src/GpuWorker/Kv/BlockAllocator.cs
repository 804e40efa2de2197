namespace AlisaCluster.GpuWorker.Kv;

/// <summary>Hands out fixed-size blocks of KV slots from a pool; a sequence's KV lives in the blocks it holds.
/// Block 0 is never handed out: padded batch positions read from and write to it (see <see cref="KvCache"/>).</summary>
public sealed class BlockAllocator
{
    private readonly Stack<int> _free;

    public BlockAllocator(int blockCount)
    {
        if (blockCount <= 0) throw new ArgumentOutOfRangeException(nameof(blockCount), "the KV budget holds no block");
        BlockCount = blockCount;
        _free = new Stack<int>(Enumerable.Range(1, blockCount).Reverse());
    }

    public int BlockCount { get; }
    public int FreeBlocks => _free.Count;
    public int UsedBlocks => BlockCount - _free.Count;

    public bool TryAllocate(int count, List<int> into)
    {
        if (count > _free.Count) return false;
        for (int i = 0; i < count; i++) into.Add(_free.Pop());
        return true;
    }

    public bool TryAllocateOne(out int block) => _free.TryPop(out block);

    public void Free(IEnumerable<int> blocks)
    {
        foreach (var block in blocks) _free.Push(block);
    }
}
