namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Which prompt tokens one engine step prefills (chunked prefill, as vLLM and Sarathi do): at most a token
/// budget per step, so a long prompt is spread over several steps and the running streams keep getting a token
/// every step. Sequences are taken in admission order; chunks of the same length from sequences whose policy needs
/// no prefill scores run as one batched forward. A policy that seeds scores from the prefill (SWA, H2O) has its
/// whole prompt prefilled at once, alone (its score seeding reads the whole prefix).</summary>
public static class PrefillPlan
{
    public readonly record struct Chunk(Sequence Sequence, int Tokens);

    /// <summary>Groups of chunks, each group one forward (all chunks of a group have the same length).</summary>
    public static List<List<Chunk>> For(IEnumerable<Sequence> running, int tokenBudget)
    {
        var groups = new List<List<Chunk>>();
        var byLength = new Dictionary<int, List<Chunk>>();
        int budget = tokenBudget;
        foreach (var sequence in running)
        {
            // the last pending token is fed by the decode step together with the rest of the batch
            int pending = sequence.PendingTokens - 1;
            if (pending <= 0) continue;
            var policy = sequence.Kv.Policy;
            if (policy.NeedsWindowScores || policy.NeedsCumulativeScores)
            {
                if (budget < pending && budget < tokenBudget) break; // alone, whole: it waits for a step of its own
                groups.Add([new Chunk(sequence, pending)]);
                budget -= pending;
            }
            else
            {
                int take = Math.Min(pending, budget);
                if (take <= 0) break;
                if (!byLength.TryGetValue(take, out var group)) groups.Add(byLength[take] = group = []);
                group.Add(new Chunk(sequence, take));
                budget -= take;
            }
            if (budget <= 0) break;
        }
        return groups;
    }
}
