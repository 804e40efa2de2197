using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>Page summaries, kept as rows are written, against sums recomputed from what the cache reads back.</summary>
public sealed class PageSummariesTests
{
    private const int Layers = 2, KvHeads = 2, HeadDim = 8, BlockSize = 16;

    /// <summary>Writes tokens [from, to) of each sequence in one forward: keys x (layer + 1), values their negation.</summary>
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

    /// <summary>Every block a sequence wrote: its sums equal the sums of the keys and values gathered back.</summary>
    private static void AssertSumsMatchReadBack(KvCache cache, SequenceKv sequence, int length)
    {
        for (int layer = 0; layer < Layers; layer++)
        {
            var (keySums, valueSums) = cache.PageSummaries!.Of(layer);
            for (int page = 0; page * BlockSize < length; page++)
            {
                int end = Math.Min(length, (page + 1) * BlockSize);
                using var slots = tensor(Enumerable.Range(page * BlockSize, end - page * BlockSize).Select(sequence.SlotOf).ToArray());
                var (keys, values) = cache.Gather(layer, slots);
                using (values) using (keys)
                {
                    long block = sequence.Blocks[page];
                    AssertClose(keys.to(ScalarType.Float32).sum([0L]).data<float>().ToArray(), keySums[block].data<float>().ToArray());
                    AssertClose(values.to(ScalarType.Float32).sum([0L]).data<float>().ToArray(), valueSums[block].data<float>().ToArray());
                }
            }
        }
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) // summed in another order
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 + 1e-5 * Math.Abs(expected[i]), $"{actual[i]} where the rows sum to {expected[i]}");
    }

    [Theory]
    [InlineData(KvStorageFormat.Native)]
    [InlineData(KvStorageFormat.Int8)]
    public void IncrementalSumsEqualSumsRecomputedFromTheRowsAsRead(KvStorageFormat format)
    {
        random.manual_seed(12);
        const int tokens = 53; // a prefill of 21 (one whole block, one partial), then one by one across two more blocks
        using var cache = new KvCache(Layers, KvHeads, HeadDim, blockCount: 12, BlockSize, ScalarType.Float32, CPU, format, pageSummaries: true);
        var sequences = Enumerable.Range(0, 2).Select(_ => cache.CreateSequence()).ToList();
        foreach (var s in sequences) Assert.True(cache.TryReserve(s, tokens));
        var keys = sequences.Select(_ => randn(tokens, KvHeads, HeadDim).add(Scalars.Of(3.0), Scalars.One)).ToList();
        Write(cache, sequences, keys, 0, 21);
        AssertSumsMatchReadBack(cache, sequences[0], 21);
        for (int t = 21; t < tokens; t++)
        {
            Write(cache, sequences, keys, t, t + 1);
            foreach (var s in sequences) AssertSumsMatchReadBack(cache, s, t + 1);
        }

        // blocks given to a new sequence start from zero: nothing of the old rows remains in their sums
        cache.Release(sequences[0]);
        var next = cache.CreateSequence();
        Assert.True(cache.TryReserve(next, 20));
        var small = new List<Tensor> { rand(20, KvHeads, HeadDim).mul(Scalars.Of(0.01)) };
        for (int t = 0; t < 20; t++) Write(cache, [next], small, t, t + 1);
        AssertSumsMatchReadBack(cache, next, 20);
        foreach (var k in keys.Concat(small)) k.Dispose();
    }

    [Fact]
    public void ATieredPoolKeepsNoSummariesAndPoliciesPayForTheirEntries()
    {
        using var cache = new KvCache(1, KvHeads, HeadDim, 4, BlockSize, ScalarType.Float32, CPU, tiers: new KvTiers(4, 0), pageSummaries: true);
        Assert.Null(cache.PageSummaries);
        var policy = KvPolicy.Parse("swa:0.8:per-head:summaries");
        Assert.True(policy.NeedsPageSummaries);
        Assert.Equal("swa:0.8:per-head:summaries", policy.ToString());
        // 20% of 1024 positions less one entry per 16 tokens leaves 140.8 tokens: 70 recent and 70 global
        var budget = SelectionBudget.For(policy, 1024);
        Assert.Equal(70, budget.Recent);
        Assert.Equal(70, budget.Global);
        Assert.Contains("must be below 0.9375", Assert.Throws<ArgumentException>(() => KvPolicy.Parse("local:0.95:summaries")).Message);
    }
}
