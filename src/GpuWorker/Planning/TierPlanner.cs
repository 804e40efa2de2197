using AlisaCluster.GpuWorker.Attention;

namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Chooses p1, p2, alpha and beta at start-up from the cost model: p1 is where the batch's KV outgrows the
/// GPU budget, p2 where the offloaded part outgrows the CPU budget; alpha and beta are searched on a grid (steps of
/// 0.05), each candidate simulated over every decode step of the workload against both budgets, and the cheapest
/// feasible one wins. A few hundred thousand arithmetic steps: no runtime cost.</summary>
public static class TierPlanner
{
    /// <param name="HotSetMissRate">with a GPU hot set (<see cref="Kv.KvCache.HasHotSet"/>): the share of listed CPU-tier
    /// entries a step copies in from the CPU (the rest were listed at the step before); each sequence also holds hot
    /// blocks for its listed entries. Null: no hot set, every listed CPU-tier row is read each step.</param>
    public sealed record Workload(int Batch, int PromptTokens, int GeneratedTokens, KvPolicy Policy, int BlockSize, double? HotSetMissRate = null)
    {
        /// <summary>Hot blocks one sequence holds at length n (0 without a hot set).</summary>
        public int HotBlocksAt(int n) => HotSetMissRate is null ? 0 : (SelectionBudget.MaxListed(Policy, n) + BlockSize - 1) / BlockSize;
    }

    /// <summary>Tokens of KV each tier holds for the whole batch.</summary>
    public sealed record Budgets(long GpuTokens, long CpuTokens, long DroppedTokens);

    /// <param name="Preempts">the batch does not fit and preempting (vLLM-style) is predicted cheaper than any tiered plan</param>
    public sealed record Choice(KvTierPlan Plan, double PredictedStepSeconds, CostModel.StepCost FirstStep, CostModel.StepCost LastStep,
        bool Preempts = false);

    private const double Grid = 0.05;

    /// <summary>The cheapest feasible plan, or null when even the most aggressive one does not fit. When the batch
    /// outgrows the GPU, tiered plans compete with keeping all KV on the GPU and preempting (simulated), where the GPU
    /// holds <paramref name="gpuOnlyTokens"/> (more than under tiers, whose tokens keep their scores on the GPU;
    /// default: the budgets' GPU tokens).</summary>
    public static Choice? Plan(CostModel cost, Workload work, Budgets budgets, long? gpuOnlyTokens = null)
    {
        var tiered = PlanTiers(cost, work, budgets);
        if (tiered is { Plan.IsAllGpu: true }) return tiered;
        if (work.HotSetMissRate is not null && OffloadingWithPreemption(cost, work, budgets) is { } hot
            && (tiered is null || hot.PredictedStepSeconds < tiered.PredictedStepSeconds)) tiered = hot;
        if (PreemptionSimulator.TotalSeconds(cost, work, gpuOnlyTokens ?? budgets.GpuTokens) is not { } preempting
            || (tiered is not null && tiered.PredictedStepSeconds * work.GeneratedTokens <= preempting)) return tiered;
        var step = new CostModel.StepCost(preempting / work.GeneratedTokens, 0, 0, 0);
        return new Choice(KvTierPlan.AllGpu, step.Total, step, step, Preempts: true);
    }

    /// <summary>With a hot set a sequence needs little GPU room once its older tokens are on the CPU: everything past
    /// the recent window offloaded from where the batch outgrows the GPU, and the few sequences that still do not fit
    /// preempted (simulated); null when the CPU tier is too small for it.</summary>
    private static Choice? OffloadingWithPreemption(CostModel cost, Workload work, Budgets budgets)
    {
        int end = work.PromptTokens + work.GeneratedTokens;
        var plan = new KvTierPlan(LongestOnGpu(work, budgets.GpuTokens / work.Batch / work.BlockSize), int.MaxValue, 1, 0, RecentWindow(work.Policy, end));
        if (LastFittingLength(plan, work, budgets.CpuTokens) != int.MaxValue) return null;
        if (PreemptionSimulator.TotalSeconds(cost, work, budgets.GpuTokens, plan) is not { } seconds) return null;
        var step = new CostModel.StepCost(seconds / work.GeneratedTokens, 0, 0, 0);
        return new Choice(plan, step.Total, step, step);
    }

    private static Choice? PlanTiers(CostModel cost, Workload work, Budgets budgets)
    {
        int bs = work.BlockSize, end = work.PromptTokens + work.GeneratedTokens;
        long gpuBlocksPerSequence = budgets.GpuTokens / work.Batch / bs;
        if ((end + bs - 1) / bs + work.HotBlocksAt(end) <= gpuBlocksPerSequence) return Evaluate(cost, work, budgets, KvTierPlan.AllGpu);
        int recent = RecentWindow(work.Policy, end); // SWA's local window stays on the GPU
        int p1 = LongestOnGpu(work, gpuBlocksPerSequence);
        Choice? best = null;
        for (double alpha = Grid; alpha <= 1 + 1e-9; alpha += Grid)
        {
            var offloadOnly = new KvTierPlan(p1, int.MaxValue, Math.Min(1, alpha), 0, recent);
            int p2 = LastFittingLength(offloadOnly, work, budgets.CpuTokens);
            for (double beta = 0; beta <= 1 + 1e-9; beta += Grid)
            {
                if (p2 == int.MaxValue && beta > 0) break; // the CPU never fills: nothing to delete
                var plan = offloadOnly with { P2 = p2, Beta = Math.Min(1, beta) };
                if (Evaluate(cost, work, budgets, plan) is { } choice && (best is null || choice.PredictedStepSeconds < best.PredictedStepSeconds - 1e-12))
                    best = choice;
            }
        }
        return best;
    }

    /// <summary>Phase II's start: the longest length at which a sequence's blocks (with the block being written and its
    /// hot blocks) still fit its share of the GPU.</summary>
    private static int LongestOnGpu(Workload work, long blocksPerSequence)
    {
        int bs = work.BlockSize, n = (int)Math.Min(int.MaxValue - 1, blocksPerSequence * bs - 1);
        while (n > 0 && (n + bs) / bs + work.HotBlocksAt(n + 1) > blocksPerSequence) n--;
        return n;
    }

    /// <summary>The most recent tokens any layer and head always attends to at length n (a learned split and a
    /// pyramid vary them).</summary>
    public static int RecentWindow(KvPolicy policy, int n) =>
        policy.IsDense ? 1 : SelectionBudget.Extremes(policy, n).Max(b => b.Recent);

    /// <summary>The longest length at which the plan's offloaded blocks still fit the CPU budget (int.MaxValue: always).</summary>
    private static int LastFittingLength(KvTierPlan plan, Workload work, long cpuTokens)
    {
        for (int n = work.PromptTokens; n < work.PromptTokens + work.GeneratedTokens; n++)
            if ((long)plan.BlocksAt(n, work.BlockSize).Offloaded * work.BlockSize * work.Batch > cpuTokens) return n - 1;
        return int.MaxValue;
    }

    /// <summary>Simulates every decode step (the step at length n writes position n); null if a budget is exceeded.</summary>
    public static Choice? Evaluate(CostModel cost, Workload work, Budgets budgets, KvTierPlan plan)
    {
        int bs = work.BlockSize, b = work.Batch;
        double total = 0;
        CostModel.StepCost? first = null, last = null;
        int previousOffloaded = plan.BlocksAt(work.PromptTokens - 1, bs).Offloaded;
        for (int n = work.PromptTokens; n < work.PromptTokens + work.GeneratedTokens; n++)
        {
            var (offloaded, dropped) = plan.BlocksAt(n, bs);
            offloaded = Math.Min(offloaded, n / bs);
            dropped = Math.Min(dropped, offloaded);
            long gpuTokens = ((long)(n + bs) / bs - offloaded + work.HotBlocksAt(n + 1)) * bs * b, cpuTokens = (long)(offloaded - dropped) * bs * b, droppedTokens = (long)dropped * bs * b;
            if (gpuTokens > budgets.GpuTokens || cpuTokens > budgets.CpuTokens || droppedTokens > budgets.DroppedTokens) return null;
            var step = new CostModel.StepCost(cost.ComputeSeconds(b, n + 1), cost.FetchSeconds(b * FetchedPerSequence(work, n + 1, (offloaded - dropped) * bs, plan.RecentTokens)),
                dropped > 0 ? cost.RecomputeSeconds(b, dropped * bs) : 0, cost.OffloadSeconds((double)b * Math.Max(0, offloaded - previousOffloaded) * bs));
            previousOffloaded = offloaded;
            first ??= step;
            last = step;
            total += step.Total;
        }
        return new Choice(plan, total / Math.Max(1, work.GeneratedTokens), first ?? new(0, 0, 0, 0), last ?? new(0, 0, 0, 0));
    }

    /// <summary>Tokens one sequence reads from the CPU per step: all of them for dense attention; for a sparse policy the
    /// expected share of its global picks, which are spread over the tokens older than the recent window (with a hot
    /// set, only the share of those it misses).</summary>
    internal static double FetchedPerSequence(Workload work, int length, int cpuTokens, int recent)
    {
        if (cpuTokens == 0) return 0;
        if (work.Policy.IsDense) return cpuTokens;
        var budget = SelectionBudget.For(work.Policy, length);
        return budget.Global * Math.Min(1.0, cpuTokens / (double)Math.Max(1, length - recent)) * (work.HotSetMissRate ?? 1);
    }
}
