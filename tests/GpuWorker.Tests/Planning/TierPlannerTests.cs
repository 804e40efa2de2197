using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Planning;

namespace AlisaCluster.GpuWorker.Tests.Planning;

/// <summary>The planner on a synthetic profile: step = 10 ms + 1 us per batch-token, prefill 1 us per token,
/// fetch 1 GB/s with 1 KB per token (so moving a token costs 1 us, like recomputing it).</summary>
public sealed class TierPlannerTests
{
    private static readonly DeviceProfile Profile = new("synthetic",
        [new(1, 100, 0.0101), new(1, 400, 0.0104), new(8, 100, 0.0108), new(8, 400, 0.0132)],
        [new(1, 16, 0.000016), new(1, 256, 0.000256), new(4, 128, 0.000512), new(4, 256, 0.001024)],
        FetchBytesPerSecond: 1e9, OffloadBytesPerSecond: 1e9);

    private static readonly CostModel Cost = new(Profile, fetchBytesPerToken: 1000, offloadBytesPerToken: 1000);
    private static readonly TierPlanner.Workload Work = new(Batch: 8, PromptTokens: 128, GeneratedTokens: 512, KvPolicy.Parse("swa:0.8"), BlockSize: 16);

    [Fact]
    public void CostModelReproducesTheProfile()
    {
        Assert.Equal(0.0132, Cost.ComputeSeconds(8, 400), 6);
        Assert.Equal(0.000256, Cost.RecomputeSeconds(1, 256), 6);
    }

    [Theory]
    [InlineData("profile-llama2-7b.json")]
    [InlineData("profile-opt-6.7b.json")]
    public void FitsOfMeasuredH200ProfilesStayPositiveAndCloseToTheirPoints(string file)
    {
        var path = Path.Combine(RepoPaths.Root, "docs", "results", "tiers", file);
        var profile = System.Text.Json.JsonSerializer.Deserialize<DeviceProfile>(File.ReadAllText(path))!;
        var cost = new CostModel(profile, 1, 1);
        foreach (var point in profile.DecodeSteps)
            Assert.InRange(cost.ComputeSeconds(point.Batch, point.Length), point.Seconds * 0.8, point.Seconds * 1.2);
        foreach (var batch in new[] { 1, 8, 64, 256 })
            foreach (var length in new[] { 16, 640, 4096 })
                Assert.True(cost.ComputeSeconds(batch, length) > 0 && cost.RecomputeSeconds(batch, length) > 0);
    }

    [Theory]
    [InlineData(256, 640, 16384)] // the 24 GiB table's batch 256: 24 rows at 640 tokens, and 256 at 56
    [InlineData(64, 640, 16384)]
    [InlineData(16, 80, 1280)]
    [InlineData(2, 56, 256)]
    public void ProfiledDecodePointsReachTheLargestBatchAndFitTheScratchKv(int maxBatch, int maxLength, int kvTokens)
    {
        var points = Profiler.DecodePoints(maxBatch, maxLength, kvTokens);
        Assert.Contains(points, p => p.Batch == maxBatch);
        Assert.Equal(points.Count, points.Distinct().Count());
        int longest = points.Max(p => p.Length);
        foreach (var (batch, length) in points)
        {
            Assert.InRange(batch, 1, maxBatch);
            Assert.InRange(length, 16, longest);
            // every row reserves its length + 4 timed steps in whole 16-token blocks of the scratch cache
            Assert.True(batch * ((length + 4 + 15) / 16) <= kvTokens / 16, $"{batch} x {length} does not fit {kvTokens} tokens");
        }
    }

    [Fact]
    public void AProfileStoredAtASmallerBatchDoesNotServeALargerOne()
    {
        DeviceProfile Timed(int maxBatch) => new("key", Profiler.DecodePoints(maxBatch, 640, 16384).Select(p => new DeviceProfile.StepPoint(p.Batch, p.Length, 0.01)).ToList(),
            [], 1e9, 1e9);
        Assert.False(Timed(64).Covers(Profiler.DecodePoints(256, 640, 16384)));
        Assert.True(Timed(256).Covers(Profiler.DecodePoints(64, 640, 16384)));
        Assert.True(Timed(256).Covers(Profiler.DecodePoints(256, 640, 16384)));
        Assert.False(Timed(256).Covers(Profiler.DecodePoints(256, 4096, 16384 * 4)));
    }

    [Fact]
    public void EverythingOnTheGpuWhenTheBatchFits()
    {
        var choice = TierPlanner.Plan(Cost, Work, new(GpuTokens: 8 * 656, CpuTokens: 0, DroppedTokens: 0));
        Assert.NotNull(choice);
        Assert.True(choice.Plan.IsAllGpu);
    }

    [Fact]
    public void OffloadsJustEnoughWhenTheGpuIsShortAndRespectsBothBudgets()
    {
        var budgets = new TierPlanner.Budgets(GpuTokens: 8 * 320, CpuTokens: 8 * 640, DroppedTokens: 0);
        var choice = TierPlanner.Plan(Cost, Work, budgets)!;
        Assert.Equal(319, choice.Plan.P1);
        Assert.Equal(int.MaxValue, choice.Plan.P2);
        Assert.InRange(choice.Plan.Alpha, 0.4, 0.7); // enough to fit, no more: moving tokens costs time
        for (int n = 128; n < 640; n++)
        {
            var (offloaded, _) = choice.Plan.BlocksAt(n, 16);
            Assert.True(((n + 16) / 16 - offloaded) * 16 * 8 <= budgets.GpuTokens, $"GPU over budget at {n}");
        }
        Assert.True(choice.PredictedStepSeconds > Cost.ComputeSeconds(8, 128));
    }

    [Fact]
    public void DeletesForRecomputationOnlyWhenTheCpuIsShortToo()
    {
        var choice = TierPlanner.Plan(Cost, Work, new(GpuTokens: 8 * 320, CpuTokens: 8 * 160, DroppedTokens: 8 * 640))!;
        Assert.True(choice.Plan.P2 < 640 && choice.Plan.Beta > 0, choice.Plan.ToString());
        Assert.True(choice.LastStep.Recompute > 0);
    }

    [Fact]
    public void PreemptsInsteadWhenMovingKvCostsMoreThanRecomputingWholeSequences()
    {
        var slowCopies = new CostModel(Profile with { FetchBytesPerSecond = 1e5, OffloadBytesPerSecond = 1e5 }, 1000, 1000);
        var choice = TierPlanner.Plan(slowCopies, Work, new(GpuTokens: 8 * 480, CpuTokens: 8 * 640, DroppedTokens: 0))!;
        Assert.True(choice.Preempts && choice.Plan.IsAllGpu, choice.Plan.ToString());
        Assert.False(TierPlanner.Plan(Cost, Work, new(GpuTokens: 8 * 480, CpuTokens: 8 * 640, DroppedTokens: 0))!.Preempts);
    }

    [Fact]
    public void PreemptionSimulatorMatchesTheStepSumWhenTheBatchFitsAndCostsMoreWhenItDoesNot()
    {
        var small = Work with { GeneratedTokens = 64 };
        double expected = 8 * Cost.RecomputeSeconds(1, 128) + Enumerable.Range(128, 64).Sum(n => Cost.ComputeSeconds(8, n + 1));
        Assert.Equal(expected, PreemptionSimulator.TotalSeconds(Cost, small, 8 * 208)!.Value, 6);
        Assert.True(PreemptionSimulator.TotalSeconds(Cost, small, 4 * 208)!.Value > expected * 1.5); // two waves
        Assert.Null(PreemptionSimulator.TotalSeconds(Cost, small, 160));
    }

    [Fact]
    public void NoPlanWhenNothingFits()
    {
        Assert.Null(TierPlanner.Plan(Cost, Work, new(GpuTokens: 8 * 64, CpuTokens: 0, DroppedTokens: 0)));
    }

    [Fact]
    public void PlanPhasesFollowTheLength()
    {
        var plan = new KvTierPlan(P1: 100, P2: 200, Alpha: 0.5, Beta: 0.5, RecentTokens: 32);
        Assert.Equal((0, 0), plan.BlocksAt(100, 16));
        Assert.Equal((2, 0), plan.BlocksAt(101, 16));  // (101 - 32) / 16 = 4 older blocks, half offloaded
        Assert.Equal((5, 2), plan.BlocksAt(201, 16));  // 10 older blocks, 5 offloaded, 2 of them deleted
        Assert.Equal((0, 0), KvTierPlan.AllGpu.BlocksAt(100000, 16));
        Assert.Equal((6, 0), KvTierPlan.FullOffload.BlocksAt(100, 16));
        Assert.Equal(plan, KvTierPlan.Parse(plan.ToSetting()));
        Assert.Equal(int.MaxValue, KvTierPlan.Parse("10,never,1,0,1").P2);
        Assert.Throws<ArgumentException>(() => KvTierPlan.Parse("10,5,1.5,0,1"));
    }
    [Fact]
    public void AHotSetHoldsTheListedRowsOnTheGpuAndFetchesOnlyItsMisses()
    {
        var budgets = new TierPlanner.Budgets(GpuTokens: 8 * 320, CpuTokens: 8 * 640, DroppedTokens: 0);
        var hot = Work with { HotSetMissRate = 0.1 };
        var choice = TierPlanner.Plan(Cost, hot, budgets)!;
        var without = TierPlanner.Plan(Cost, Work, budgets)!;
        // phase II starts earlier (the hot blocks share the GPU) and every step fits with them
        Assert.True(choice.Plan.P1 < without.Plan.P1);
        for (int n = 128; n < 640; n++)
        {
            var (offloaded, _) = choice.Plan.BlocksAt(n, 16);
            Assert.True(((n + 16) / 16 - offloaded + hot.HotBlocksAt(n + 1)) * 16 * 8 <= budgets.GpuTokens, $"GPU over budget at {n}");
        }
        // the same plan reads a tenth of the listed CPU rows per step with the hot set
        var plan = choice.Plan;
        var withHot = TierPlanner.Evaluate(Cost, hot, budgets with { GpuTokens = long.MaxValue }, plan)!;
        var withoutHot = TierPlanner.Evaluate(Cost, Work, budgets with { GpuTokens = long.MaxValue }, plan)!;
        Assert.Equal(withoutHot.LastStep.Fetch * 0.1, withHot.LastStep.Fetch, 9);
    }
    [Fact]
    public void WithAHotSetAGpuTooSmallForEveryPlanStillOffloadsAndPreemptsOnlyTheRest()
    {
        // 8 x 120 tokens: not even the window and hot blocks of all 8 sequences fit at the end
        var budgets = new TierPlanner.Budgets(GpuTokens: 8 * 120, CpuTokens: 8 * 640, DroppedTokens: 0);
        var hot = Work with { HotSetMissRate = 0.1 };
        var choice = TierPlanner.Plan(Cost, hot, budgets)!;
        Assert.False(choice.Preempts);
        Assert.Equal(1, choice.Plan.Alpha);
        Assert.Equal(int.MaxValue, choice.Plan.P2);
        var allOnGpu = PreemptionSimulator.TotalSeconds(Cost, hot, budgets.GpuTokens)!.Value;
        Assert.True(choice.PredictedStepSeconds * hot.GeneratedTokens < allOnGpu);
    }
}
