using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>The GPU hot set's bookkeeping on the host (the update itself runs only on CUDA: native-check compares it
/// with <see cref="Native.HotSetReference"/>): listing sequences reserve hot blocks for their budget as they grow,
/// from the same GPU blocks as their K/V, and give them back with everything else.</summary>
public sealed class HotSetTests
{
    private const int BlockSize = 16;

    private static KvCache Cache(int gpuBlocks, bool hotSet = true) =>
        new(1, 2, 8, gpuBlocks, BlockSize, ScalarType.Float32, CPU, KvStorageFormat.Native, new KvTiers(CpuBlocks: 16, DroppedBlocks: 0), hotSet: hotSet);

    [Fact]
    public void ListingSequencesReserveHotBlocksForTheirBudgetAndReleaseThem()
    {
        using var cache = Cache(gpuBlocks: 40);
        Assert.True(cache.HasHotSet);
        var swa = cache.CreateSequence();
        swa.Policy = KvPolicy.Parse("swa:0.8");
        Assert.True(cache.TryReserve(swa, 200));
        // SWA 80% at 200 tokens lists 20 (10% global; the paper's split); two hot blocks hold them
        Assert.Equal(20, KvCache.HotSlotsFor(swa.Policy, 200));
        Assert.Equal(2, swa.HotBlocks.Count);
        Assert.Equal(13 + 2, cache.UsedBlocks);
        Assert.Empty(swa.HotBlocks.Intersect(Enumerable.Range(0, 13).Select(i => cache.KernelBlockOf(swa.Blocks[i])!.Value).Select(b => (int)b)));
        Assert.True(cache.TryReserve(swa, 330)); // 33 listed: a third hot block
        Assert.Equal(3, swa.HotBlocks.Count);

        var local = cache.CreateSequence();
        local.Policy = KvPolicy.Parse("local:0.8"); // lists nothing (a recent window only)
        Assert.True(cache.TryReserve(local, 100));
        Assert.Empty(local.HotBlocks);

        cache.Release(swa);
        cache.Release(local);
        Assert.Empty(swa.HotBlocks);
        Assert.Equal(0, cache.UsedBlocks);
    }

    [Fact]
    public void AReservationFailsWholeWhenHotBlocksDoNotFit()
    {
        using var cache = Cache(gpuBlocks: 14);
        var swa = cache.CreateSequence();
        swa.Policy = KvPolicy.Parse("swa:0.8");
        Assert.False(cache.TryReserve(swa, 200)); // 13 blocks of K/V + 2 hot blocks > 14
        Assert.Empty(swa.Blocks);
        Assert.Empty(swa.HotBlocks);
        Assert.Equal(0, cache.UsedBlocks);
    }

    [Fact]
    public void OnlyATieredPoolWithACpuTierKeepsAHotSet()
    {
        using var untiered = new KvCache(1, 2, 8, 8, BlockSize, ScalarType.Float32, CPU, hotSet: true);
        using var off = Cache(gpuBlocks: 8, hotSet: false);
        Assert.False(untiered.HasHotSet);
        Assert.False(off.HasHotSet);
        Assert.Equal(new HotSetCounts(0, 0, 0, 0), off.ReadHotSet());
    }

    [Theory]
    [InlineData("dense", 640, 0)]
    [InlineData("local:0.8", 640, 0)]
    [InlineData("streaming:0.8", 640, 0)]
    [InlineData("swa:0.8", 640, 64)]
    [InlineData("swa:0.8:sinks=4:local=0.25", 640, 4 + 92)]
    [InlineData("h2o:0.8", 640, 64)]
    public void MaxListedIsSinksPlusGlobalPicks(string policy, int length, int listed) =>
        Assert.Equal(listed, SelectionBudget.MaxListed(KvPolicy.Parse(policy), length));
}
