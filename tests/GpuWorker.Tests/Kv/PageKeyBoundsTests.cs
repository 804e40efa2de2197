using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>Quest's page bounds, kept as rows are written, against bounds recomputed from what the cache reads back.</summary>
public sealed class PageKeyBoundsTests
{
    private const int KvHeads = PageWrites.KvHeads, HeadDim = PageWrites.HeadDim, BlockSize = PageWrites.BlockSize;

    [Theory]
    [InlineData(KvStorageFormat.Native)]
    [InlineData(KvStorageFormat.Int8)]
    public void IncrementalBoundsEqualBoundsRecomputedFromTheKeysAsRead(KvStorageFormat format)
    {
        random.manual_seed(11);
        using var cache = new KvCache(PageWrites.Layers, KvHeads, HeadDim, blockCount: 12, BlockSize, ScalarType.Float32, CPU, format, pageBounds: true);
        // every block a sequence wrote: its bounds equal the min/max of the keys gathered back for its positions
        PageWrites.Run(cache, (sequence, length) => PageWrites.ForEachPage(cache, sequence, length, (layer, block, keys, _) =>
        {
            var (min, max) = cache.PageBounds!.Of(layer);
            Assert.Equal(keys.amin([0L]).to(ScalarType.Float32).data<float>().ToArray(), min[block].data<float>().ToArray());
            Assert.Equal(keys.amax([0L]).to(ScalarType.Float32).data<float>().ToArray(), max[block].data<float>().ToArray());
        }));
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
