namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Which prompt tokens one engine step prefills (chunked prefill, as vLLM and Sarathi do): at most a token
/// budget per step, so a long prompt is spread over several steps and the running streams keep getting a token
/// every step. Sequences are taken in admission order; chunks of the same length run as one batched forward. A
/// policy that seeds scores from the prefill (SWA, H2O) has its whole prompt prefilled at once (its score seeding
/// reads the whole prefix), batched with whole prompts of the same length and policy.</summary>
public static class PrefillPlan
{
    public readonly record struct Chunk(Sequence Sequence, int Tokens);

    /// <summary>Groups of chunks, each group one forward (all chunks of a group have the same length).</summary>
    public static List<List<Chunk>> For(IEnumerable<Sequence> running, int tokenBudget)
    {
        var groups = new List<List<Chunk>>();
        var byShape = new Dictionary<(int Tokens, Attention.KvPolicy? ScoredPolicy), List<Chunk>>();
        int budget = tokenBudget;
        foreach (var sequence in running)
        {
            // the last pending token is fed by the decode step together with the rest of the batch
            int pending = sequence.PendingTokens - 1;
            if (pending <= 0) continue;
            var policy = sequence.Kv.Policy;
            bool scored = policy.NeedsWindowScores || policy.NeedsCumulativeScores;
            // whole, scored prompts: one longer than the budget waits for a step of its own
            if (scored && budget < pending && budget < tokenBudget) break;
            int take = scored ? pending : Math.Min(pending, budget);
            if (take <= 0) break;
            var shape = (take, scored ? policy : null);
            if (!byShape.TryGetValue(shape, out var group)) groups.Add(byShape[shape] = group = []);
            group.Add(new Chunk(sequence, take));
            budget -= take;
            if (budget <= 0) break;
        }
        return groups;
    }
}
