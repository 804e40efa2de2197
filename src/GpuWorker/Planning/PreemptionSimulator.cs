namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Predicts the run time of a batch that does not fit the GPU: the scheduler's vLLM-style policy (first come
/// first served admission while the sequence fits, the newest running sequence preempted when a step finds no room,
/// its KV rebuilt by a prefill when it is admitted again), simulated step by step with the cost model's compute and
/// prefill times. Without a plan every token stays on the GPU; with one (a tiered engine with a hot set) a sequence
/// holds only what the plan keeps on the GPU plus its hot blocks, and steps pay the plan's fetches and offloads.
/// The planner weighs this against its tiered plans that never preempt.</summary>
public static class PreemptionSimulator
{
    /// <summary>Seconds to generate every sequence's tokens; null if one sequence alone cannot fit.</summary>
    public static double? TotalSeconds(CostModel cost, TierPlanner.Workload work, long gpuTokens, KvTierPlan? plan = null)
    {
        int bs = work.BlockSize;
        long blocks = gpuTokens / bs;
        int Blocks(int tokens) => (tokens + bs - 1) / bs;
        int Offloaded(int length) => plan is null ? 0 : Math.Min(plan.BlocksAt(length, bs).Offloaded, length / bs);
        // GPU blocks a sequence of `length` cached tokens holds while it feeds its next one
        int Footprint(int length) => Blocks(length + 1) - Offloaded(length) + (plan is null ? 0 : work.HotBlocksAt(length + 1));
        if (Footprint(work.PromptTokens + work.GeneratedTokens) > blocks) return null;
        var generated = new int[work.Batch];
        var held = new int[work.Batch];
        var waiting = new LinkedList<int>(Enumerable.Range(0, work.Batch));
        var running = new List<int>();
        long used = 0;
        double seconds = 0;
        int Length(int s) => work.PromptTokens + generated[s];
        void Release(int s) { used -= held[s]; held[s] = 0; running.Remove(s); }
        while (running.Count > 0 || waiting.Count > 0)
        {
            while (waiting.First is { } next && used + Footprint(Length(next.Value)) <= blocks)
            {
                waiting.RemoveFirst();
                running.Add(next.Value);
                held[next.Value] = Footprint(Length(next.Value));
                used += held[next.Value];
                seconds += cost.RecomputeSeconds(1, Length(next.Value)); // the prefill of its prompt and what it generated
            }
            for (int i = 0; i < running.Count; i++)
            {
                int s = running[i], need = Footprint(Length(s)) - held[s];
                while (need > blocks - used && running[^1] != s) { int victim = running[^1]; Release(victim); waiting.AddFirst(victim); }
                if (need > blocks - used) { Release(s); waiting.AddFirst(s); break; }
                held[s] += need;
                used += need;
            }
            if (running.Count == 0) continue;
            seconds += cost.ComputeSeconds(running.Count, (int)running.Average(Length) + 1);
            if (plan is not null)
            {
                double fetched = running.Sum(s => TierPlanner.FetchedPerSequence(work, Length(s) + 1, Offloaded(Length(s)) * bs, plan.RecentTokens));
                double offloaded = running.Sum(s => Offloaded(Length(s) + 1) - Offloaded(Length(s))) * (double)bs;
                seconds += cost.FetchSeconds(fetched) + cost.OffloadSeconds(offloaded);
            }
            foreach (var s in running.ToList())
                if (++generated[s] >= work.GeneratedTokens) Release(s);
        }
        return seconds;
    }
}
