using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>Page summaries, kept as rows are written, against sums recomputed from what the cache reads back.</summary>
public sealed class PageSummariesTests
{
    private const int KvHeads = PageWrites.KvHeads, HeadDim = PageWrites.HeadDim, BlockSize = PageWrites.BlockSize;

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
        using var cache = new KvCache(PageWrites.Layers, KvHeads, HeadDim, blockCount: 12, BlockSize, ScalarType.Float32, CPU, format, pageSummaries: true);
        // every block a sequence wrote: its sums equal the sums of the keys and values gathered back
        PageWrites.Run(cache, (sequence, length) => PageWrites.ForEachPage(cache, sequence, length, (layer, block, keys, values) =>
        {
            var (keySums, valueSums) = cache.PageSummaries!.Of(layer);
            AssertClose(keys.to(ScalarType.Float32).sum([0L]).data<float>().ToArray(), keySums[block].data<float>().ToArray());
            AssertClose(values.to(ScalarType.Float32).sum([0L]).data<float>().ToArray(), valueSums[block].data<float>().ToArray());
        }));
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
