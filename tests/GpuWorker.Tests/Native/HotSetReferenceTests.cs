using AlisaCluster.GpuWorker.Native;

namespace AlisaCluster.GpuWorker.Tests.Native;

/// <summary>The hot set's slot assignment (what native-check holds the CUDA kernel to): rows listed again keep their
/// slots, new ones fill the freed slots in list order, and nothing is held twice.</summary>
public sealed class HotSetReferenceTests
{
    [Fact]
    public void RowsListedAgainKeepTheirSlotsAndNewOnesTakeTheFreedOnes()
    {
        // slots held 10, 11, 12, 13; now sinks 0-1 and the list 12, 30, 10
        var result = HotSetReference.Update([10, 11, 12, 13, -1, -1], sinks: 2, listed: [12, 30, 10], length: 50);
        // slot 0 keeps 10 and slot 2 keeps 12; the misses 0, 1, 30 (list order) take slots 1, 3, 4; slot 5 empties
        Assert.Equal([10, 0, 12, 1, 30, -1], result.Held);
        Assert.Equal(3, result.Copied);
    }

    [Fact]
    public void AKeptPositionBeyondTheNewCountMovesAndStaleSlotsEmpty()
    {
        // 7 was held in slot 3, but only two entries are listed now: it is copied into a freed slot below 2
        var result = HotSetReference.Update([5, 6, 8, 7], sinks: 0, listed: [7, 5], length: 20);
        Assert.Equal([5, 7, -1, -1], result.Held);
        Assert.Equal(1, result.Copied);
        Assert.Equal(result.Held.Where(p => p >= 0).Distinct().Count(), result.Held.Count(p => p >= 0));
    }

    [Fact]
    public void TheListIsCutToTheHotCapacity()
    {
        var result = HotSetReference.Update([-1, -1], sinks: 1, listed: [4, 5, 6], length: 10);
        Assert.Equal([0, 4], result.Held);
        Assert.Equal(2, result.Copied);
    }
}
