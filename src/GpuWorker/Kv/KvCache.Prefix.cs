namespace AlisaCluster.GpuWorker.Kv;

/// <summary>The pool's side of <see cref="PrefixCache"/>: cached blocks no sequence holds come back one by one.</summary>
public sealed partial class KvCache
{
    /// <summary>Returns blocks of an untiered pool that no sequence lists any more.</summary>
    internal void ReturnBlocks(IReadOnlyList<int> blocks)
    {
        if (IsTiered) throw new InvalidOperationException("blocks of a tiered pool are freed with their sequence");
        _gpuBlocks.Free(blocks);
    }
}
