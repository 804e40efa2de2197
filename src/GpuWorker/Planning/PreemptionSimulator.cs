namespace AlisaCluster.GpuWorker.Planning;

/// <summary>Predicts the run time of a batch kept all on the GPU when it does not fit: the scheduler's vLLM-style
/// policy (first come first served admission while the whole prefix fits, the newest running sequence preempted when a
/// step finds no room, its KV rebuilt by a prefill when it is admitted again), simulated step by step with the cost
/// model's compute and prefill times. The planner weighs this against its tiered plans.</summary>
public static class PreemptionSimulator
{
    /// <summary>Seconds to generate every sequence's tokens; null if one sequence alone cannot fit.</summary>
    public static double? TotalSeconds(CostModel cost, TierPlanner.Workload work, long gpuTokens)
    {
        int bs = work.BlockSize;
        long blocks = gpuTokens / bs;
        int Blocks(int tokens) => (tokens + bs - 1) / bs;
        if (Blocks(work.PromptTokens + work.GeneratedTokens + 1) > blocks) return null;
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
            while (waiting.First is { } next && used + Blocks(Length(next.Value) + 1) <= blocks)
            {
                waiting.RemoveFirst();
                running.Add(next.Value);
                held[next.Value] = Blocks(Length(next.Value) + 1);
                used += held[next.Value];
                seconds += cost.RecomputeSeconds(1, Length(next.Value)); // the prefill of its prompt and what it generated
            }
            for (int i = 0; i < running.Count; i++)
            {
                int s = running[i], need = Blocks(Length(s) + 1) - held[s];
                while (need > blocks - used && running[^1] != s) { int victim = running[^1]; Release(victim); waiting.AddFirst(victim); }
                if (need > blocks - used) { Release(s); waiting.AddFirst(s); break; }
                held[s] += need;
                used += need;
            }
            if (running.Count == 0) continue;
            seconds += cost.ComputeSeconds(running.Count, (int)running.Average(Length) + 1);
            foreach (var s in running.ToList())
                if (++generated[s] >= work.GeneratedTokens) Release(s);
        }
        return seconds;
    }
}
