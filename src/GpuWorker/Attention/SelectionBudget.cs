namespace AlisaCluster.GpuWorker.Attention;

/// <summary>How many tokens of each kind one sequence attends to at one decode step, for n cached positions
/// (the current token included), in one layer (of <c>layers</c>) and KV head (only a learned split and a pyramid tell
/// them apart). Rounding is half-to-even, as .NET's Math.Round (and the reference) does.</summary>
public readonly record struct SelectionBudget(int Length, int Recent, int Sinks, int Global, int ScoreWindow)
{
    /// <summary>Most positions the selection can hold (the union may be smaller where the parts overlap).</summary>
    public int MaxSelected => Math.Min(Length, Recent + Sinks + Global);

    /// <summary>Most entries any layer and KV head lists at length n besides the recent window (sinks + global picks;
    /// 0 for policies that list none): the hot slots a sequence needs.</summary>
    public static int MaxListed(KvPolicy policy, int n) =>
        policy.IsDense ? 0 : Extremes(policy, n).Where(b => b.Global > 0).Select(b => b.Sinks + b.Global).DefaultIfEmpty(0).Max();

    /// <summary>Budgets that between them bound every layer and KV head at length n: each layer and head of a learned
    /// split; otherwise the first and last of two layers, a pyramid's two ends whatever the model's depth (both the
    /// flat budget without one).</summary>
    public static IEnumerable<SelectionBudget> Extremes(KvPolicy policy, int n)
    {
        var shape = policy.RecentFractions;
        int layers = shape?.Length ?? 2;
        for (int layer = 0; layer < layers; layer++)
            for (int head = 0; head < (shape?[layer].Length ?? 1); head++)
                yield return For(policy, n, layer, head, layers);
    }

    public static SelectionBudget For(KvPolicy policy, int n, int layer = 0, int kvHead = 0, int layers = 1)
    {
        if (policy.IsDense) return new(n, n, 0, 0, 0);
        double r = policy.TokenRatioOf(layer, layers); // with summaries, their entries come out of the budget
        int b = Math.Max(1, (int)Math.Round(n * r));
        int k = Math.Max(1, (int)Math.Round(n * policy.TokenRatio / 2)); // one score window for every layer
        switch (policy.Kind)
        {
            case KvPolicyKind.Local:
                return new(n, Math.Min(b, n), 0, 0, 0);
            case KvPolicyKind.Streaming:
                return new(n, Math.Min(n, Math.Max(1, b - KvPolicy.StreamingSinkTokens)), Math.Min(n, KvPolicy.StreamingSinkTokens), 0, 0);
            case KvPolicyKind.H2O:
                int recent = Math.Min(Math.Max(1, (int)Math.Round(n * r / 2)), n);
                return new(n, recent, 0, b - recent, 0);
            case KvPolicyKind.Swa when policy.LocalFraction == 0.5 && policy.Sinks == 0 && !policy.MeanScores && policy.RecentFractions is null
                                       && policy.PyramidSlope == 0:
                return new(n, k, 0, Math.Min(k, n - k), k); // the paper: k recent + k global
            case KvPolicyKind.Swa:
                int local = Math.Min(n, Math.Max(1, (int)Math.Round(n * r * policy.LocalFractionOf(layer, kvHead))));
                int sinks = Math.Min(policy.Sinks, n - local);
                return new(n, local, sinks, Math.Max(0, Math.Min(b - local - sinks, n - local - sinks)), k);
            case KvPolicyKind.Quest:
                // the whole budget: QuestPageSelector splits Recent into the recent window and whole pages; Ada-KV moves
                // pages between KV heads (the same total), so one head may read more than b (Global makes room for it)
                int questSinks = Math.Min(policy.Sinks, b - 1);
                return new(n, b - questSinks, questSinks, policy.AdaptiveHeads ? n - b : 0, 0);
            default:
                throw new NotSupportedException(policy.Kind.ToString());
        }
    }
}
