using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>Quest's page bounds, kept as rows are written, against bounds recomputed from what the cache reads back.</summary>
public sealed class PageKeyBoundsTests
{
    private const int Layers = 2, KvHeads = 2, HeadDim = 8, BlockSize = 16;

    /// <summary>Writes tokens [from, to) of each sequence's keys in one forward (all sequences feed the same count).</summary>
    private static void Write(KvCache cache, IReadOnlyList<SequenceKv> sequences, IReadOnlyList<Tensor> keys, int from, int to)
    {
        using var batch = new AttentionBatch(cache, sequences, to - from, CPU);
        using var rows = cat(keys.Select(k => k[from..to]).ToArray(), 0);
        for (int layer = 0; layer < Layers; layer++)
        {
            using var layerRows = rows.mul(Scalars.Of(layer + 1L));
            cache.Write(layer, batch.Write, layerRows, layerRows.neg());
        }
        batch.CommitLengths();
    }

    /// <summary>Every block a sequence wrote: its bounds equal the min/max of the keys gathered back for its positions.</summary>
    private static void AssertBoundsMatchReadBack(KvCache cache, SequenceKv sequence, int length)
    {
        for (int layer = 0; layer < Layers; layer++)
        {
            var (min, max) = cache.PageBounds!.Of(layer);
            for (int page = 0; page * BlockSize < length; page++)
            {
                int end = Math.Min(length, (page + 1) * BlockSize);
                using var slots = tensor(Enumerable.Range(page * BlockSize, end - page * BlockSize).Select(sequence.SlotOf).ToArray());
                var (keys, values) = cache.Gather(layer, slots);
                using (values) using (keys)
                {
                    long block = sequence.Blocks[page];
                    Assert.Equal(keys.amin([0L]).to(ScalarType.Float32).data<float>().ToArray(), min[block].data<float>().ToArray());
                    Assert.Equal(keys.amax([0L]).to(ScalarType.Float32).data<float>().ToArray(), max[block].data<float>().ToArray());
                }
            }
        }
    }

    [Theory]
    [InlineData(KvStorageFormat.Native)]
    [InlineData(KvStorageFormat.Int8)]
    public void IncrementalBoundsEqualBoundsRecomputedFromTheKeysAsRead(KvStorageFormat format)
    {
        random.manual_seed(11);
        const int tokens = 53; // a prefill of 21 (one whole block, one partial), then one by one across two more blocks
        using var cache = new KvCache(Layers, KvHeads, HeadDim, blockCount: 12, BlockSize, ScalarType.Float32, CPU, format, pageBounds: true);
        var sequences = Enumerable.Range(0, 2).Select(_ => cache.CreateSequence()).ToList();
        foreach (var s in sequences) Assert.True(cache.TryReserve(s, tokens));
        var keys = sequences.Select(_ => randn(tokens, KvHeads, HeadDim).mul(Scalars.Of(2L)).add(Scalars.Of(0.5), Scalars.One)).ToList();
        Write(cache, sequences, keys, 0, 21);
        AssertBoundsMatchReadBack(cache, sequences[0], 21);
        for (int t = 21; t < tokens; t++)
        {
            Write(cache, sequences, keys, t, t + 1);
            foreach (var s in sequences) AssertBoundsMatchReadBack(cache, s, t + 1);
        }

        // blocks given to a new sequence start afresh: nothing of the old keys (which were larger) remains
        cache.Release(sequences[0]);
        var next = cache.CreateSequence();
        Assert.True(cache.TryReserve(next, 20));
        var small = new List<Tensor> { rand(20, KvHeads, HeadDim).mul(Scalars.Of(0.01)) };
        for (int t = 0; t < 20; t++) Write(cache, [next], small, t, t + 1);
        AssertBoundsMatchReadBack(cache, next, 20);
        foreach (var k in keys.Concat(small)) k.Dispose();
    }

    [Fact]
    public void ATieredPoolKeepsNoBoundsAndTheEngineSaysSo()
    {
        using var cache = new KvCache(1, KvHeads, HeadDim, 4, BlockSize, ScalarType.Float32, CPU, tiers: new KvTiers(4, 0), pageBounds: true);
        Assert.Null(cache.PageBounds);
        using var untiered = new KvCache(1, KvHeads, HeadDim, 4, BlockSize, ScalarType.Float32, CPU, pageBounds: true);
        Assert.NotNull(untiered.PageBounds);
        Assert.True(KvPolicy.Parse("quest:0.8").NeedsPageBounds);
    }
}
