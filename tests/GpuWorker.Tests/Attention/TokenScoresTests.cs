using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Attention;

public class TokenScoresTests
{
    private static readonly Device CPU = new("cpu");

    /// <summary>A weight enters the window sum as the ring stores it, so the step that leaves the window takes out exactly
    /// what came in: with an fp16 ring (16-bit models) the sum returns to zero, not to the rounding residue.</summary>
    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    public void WeightLeavesTheWindowAsItEntered(ScalarType historyType)
    {
        using var scores = new TokenScores(1, 8, 2, 4, perHeadWindow: false, cumulative: false, CPU, historyType);
        using var slots = tensor(new long[] { 3, 5 }, [1, 2]);
        using var rows = tensor(new[] { 0.123456789f, 0.987654321f }, [1, 1, 1, 2]);   // [B, groups, Q, L]
        using (var index = scores.IndexOf(slots, tensor(new long[] { 0 }, [1, 1]))) scores.RecordWindow(0, index, rows);

        var (history, sums) = scores.WindowStores(0);
        Assert.Equal(historyType, history.dtype);
        float stored = historyType == ScalarType.Float16 ? (float)(Half)0.123456789f : 0.123456789f;
        Assert.Equal(stored, sums[0, 3].item<float>());
        Assert.Equal(stored, history[0, 0, 3].to(ScalarType.Float32).item<float>());

        using (var index = scores.IndexOf(slots, tensor(new long[] { 1 }, [1, 1]), tensor(new long[] { 0 }, [1, 1]))) scores.Slide(0, index);
        Assert.Equal(0f, sums[0, 3].item<float>());
        Assert.Equal(0f, sums[0, 5].item<float>());
    }

    /// <summary>Per-head stores keep each KV head's history and sums apart, slots last ([groups, ring, slots] and
    /// [groups, slots], the layout the native upkeep reads): a weight recorded for head 1 lands in head 1's row only,
    /// and leaves it when its column leaves the window.</summary>
    [Fact]
    public void PerHeadWeightsLandInTheirHeadsRows()
    {
        using var scores = new TokenScores(1, 8, 2, 3, perHeadWindow: true, cumulative: false, CPU);
        using var slots = tensor(new long[] { 6, 2 }, [1, 2]);
        using var rows = tensor(new[] { 0.25f, 0.5f, 1f, 2f }, [1, 2, 1, 2]);   // [B, groups, Q, L]: head 0 then head 1
        using (var index = scores.IndexOf(slots, tensor(new long[] { 2 }, [1, 1]))) scores.RecordWindow(0, index, rows);

        var (history, sums) = scores.WindowStores(0);
        Assert.Equal([2L, 3, 8], history.shape);
        Assert.Equal([2L, 8], sums.shape);
        Assert.Equal(new[] { 0.25f, 0.5f, 1f, 2f }, new[] { sums[0, 6], sums[0, 2], sums[1, 6], sums[1, 2] }.Select(t => t.item<float>()));
        Assert.Equal(2f, history[1, 2, 2].item<float>());
        Assert.Equal(3.75f, history.sum().item<float>());
        using (var index = scores.IndexOf(slots, tensor(new long[] { 0 }, [1, 1]), tensor(new long[] { 2 }, [1, 1]))) scores.Slide(0, index);
        Assert.Equal(0f, sums.abs().sum().item<float>());
    }

    [Fact]
    public void HistoryOfSixteenBitModelsIsHalfTheBytes()
    {
        Assert.Equal(ScalarType.Float16, TokenScores.HistoryTypeFor(ScalarType.BFloat16));
        Assert.Equal(ScalarType.Float32, TokenScores.HistoryTypeFor(ScalarType.Float32));
        using var full = new TokenScores(2, 64, 4, 10, perHeadWindow: true, cumulative: false, CPU);
        using var half = new TokenScores(2, 64, 4, 10, perHeadWindow: true, cumulative: false, CPU, ScalarType.Float16);
        long sums = 2 * 64 * 4 * 4;
        Assert.Equal((full.Bytes - sums) / 2, half.Bytes - sums);
        Assert.Throws<ArgumentException>(() => new TokenScores(1, 8, 2, 4, false, false, CPU, ScalarType.BFloat16));
    }
}
