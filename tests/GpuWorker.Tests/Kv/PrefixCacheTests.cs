using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>The prefix cache's bookkeeping on a small pool: chained block hashes, holds, unheld blocks and eviction.</summary>
public sealed class PrefixCacheTests
{
    private const int BlockSize = 4;

    private static KvCache Pool(int blocks) => new(1, 1, 4, blocks, BlockSize, ScalarType.Float32, CPU);

    /// <summary>A sequence that reserved and "wrote" its tokens but the last, as a prefill leaves it.</summary>
    private static SequenceKv Prefilled(KvCache cache, PrefixCache prefix, int[] tokens)
    {
        var kv = cache.CreateSequence();
        prefix.Attach(kv, tokens, (tokens.Length - 1) / BlockSize);
        Assert.True(cache.TryReserve(kv, tokens.Length));
        kv.Length = tokens.Length - 1;
        prefix.Register(kv, tokens);
        return kv;
    }

    private static void Release(KvCache cache, PrefixCache prefix, SequenceKv kv)
    {
        prefix.Detach(kv);
        cache.Release(kv);
    }

    [Fact]
    public void Sequences_share_the_full_blocks_of_their_common_prefix_and_let_go_of_them()
    {
        using var cache = Pool(16);
        var prefix = new PrefixCache(cache, "test");
        int[] first = [.. Enumerable.Range(1, 10)];                       // blocks [1-4] [5-8], then 9 (10 is pending)
        int[] second = [.. Enumerable.Range(1, 6), 60, 61, 62, 63, 64];    // shares [1-4] only
        var a = Prefilled(cache, prefix, first);
        Assert.Equal(2, prefix.CachedBlocks);

        var b = cache.CreateSequence();
        Assert.Equal(4, prefix.Attach(b, second, (second.Length - 1) / BlockSize));
        Assert.Equal(a.Blocks[0], b.Blocks[0]);
        Assert.Equal(2, prefix.HoldersOf(a.Blocks[0]));
        Assert.Equal(1, prefix.HoldersOf(a.Blocks[1]));
        Assert.True(cache.TryReserve(b, second.Length));
        prefix.CheckWritable(b);

        int shared = a.Blocks[0], own = a.Blocks[1];
        Release(cache, prefix, a);
        Assert.Equal(1, prefix.HoldersOf(shared));
        Assert.Equal(0, prefix.HoldersOf(own));
        Assert.Equal(1, prefix.UnheldBlocks);
        Release(cache, prefix, b);
        Assert.Equal(0, prefix.HoldersOf(shared));
        Assert.Equal(2, prefix.UnheldBlocks);
        // cached blocks stay allocated until evicted; nothing else is held
        Assert.Equal(prefix.UnheldBlocks, cache.UsedBlocks);
    }

    [Fact]
    public void Eviction_takes_the_tail_of_the_least_recently_released_chain_first()
    {
        using var cache = Pool(16);
        var prefix = new PrefixCache(cache, "test");
        int[] tokens = [.. Enumerable.Range(1, 13)];                      // three full blocks, 13 pending
        var a = Prefilled(cache, prefix, tokens);
        var chain = a.Blocks.Take(3).ToList();
        Release(cache, prefix, a);
        Assert.True(prefix.Evict(2));
        Assert.Equal(1, prefix.CachedBlocks);
        Assert.Equal(1, cache.UsedBlocks);

        var again = cache.CreateSequence();
        Assert.Equal(BlockSize, prefix.Attach(again, tokens, 3));
        Assert.Equal(chain[0], again.Blocks[0]);
        Assert.False(prefix.Evict(1)); // the only cached block is held
        Release(cache, prefix, again);
        Assert.True(prefix.Evict(1));
        Assert.Equal(0, cache.UsedBlocks);
    }

    [Fact]
    public void A_different_identity_or_an_earlier_token_changes_every_following_hash()
    {
        using var cache = Pool(16);
        var prefix = new PrefixCache(cache, "model-a");
        var other = new PrefixCache(cache, "model-b");
        int[] tokens = [.. Enumerable.Range(1, 9)];
        Prefilled(cache, prefix, tokens);
        Assert.Equal(0, other.Attach(cache.CreateSequence(), tokens, 2));
        int[] changed = [99, .. tokens[1..]];
        Assert.Equal(0, prefix.Attach(cache.CreateSequence(), changed, 2)); // block 2 equal, but its chain is not
    }
}
