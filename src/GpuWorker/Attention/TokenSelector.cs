using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Builds each sequence's selection for one layer at one decode step: recent window, sink tokens, and the
/// top-scoring older tokens (SWA: windowed attention sum; H2O: cumulative sum among the not-yet-evicted).</summary>
public static class TokenSelector
{
    /// <summary>[B, 1, L]: at how many steps of its score window each position existed (position j exists from step j
    /// on; the query is at step n - 1); 1 for rows that rank by sum.</summary>
    private static Tensor PresentSteps(SparseStep step, Tensor positions)
    {
        var existed = (step.Lengths - Scalars.Of(1L) - positions).unsqueeze(1).to(ScalarType.Float32);
        return minimum(existed, step.MeanWindow!).clamp_min(Scalars.Of(1.0));
    }

    /// <summary>Returns a bool mask [B, G, L] of the positions to attend (G = KV heads when selection is per head, else 1).
    /// The layer picks its recent/global counts (they differ by layer and KV head only under a learned split).</summary>
    public static Tensor Select(int layer, SparseStep step, TokenScores? scores, Tensor readSlots)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1];
        var device = readSlots.device;
        var positions = arange(l, device: device).view(1, l);
        var valid = positions < step.Lengths;
        var budget = step.Layer(layer);
        var recent = positions.unsqueeze(1) >= (step.Lengths.unsqueeze(1) - budget.Recent);               // [B, H, L]
        var fixedPart = (recent | (positions < step.Sinks).unsqueeze(1)) & valid.unsqueeze(1);
        if (budget.MaxGlobal == 0) return fixedPart.MoveToOuterDisposeScope();

        long groups = step.PerHead ? scores!.KvHeads : 1;
        var candidates = (valid.unsqueeze(1) & fixedPart.logical_not()).expand(b, groups, l);
        var ranking = zeros([b, groups, l], ScalarType.Float32, device);
        if (step.UsesWindow)
        {
            var window = scores!.WindowSum(layer, readSlots, step.ColumnWeights!);       // [B, 1 or KvH, L]
            var shared = window.shape[1] == 1 ? window : window.sum(1, keepdim: true);     // one selection per layer
            window = groups == 1 ? shared : where(step.PerHeadWindow, window.expand(b, groups, l), shared.expand(b, groups, l));
            ranking = step.MeanWindow is null ? window : window / PresentSteps(step, positions);
        }
        if (step.UsesCumulative)
        {
            var (cumulative, alive) = scores!.CumulativeOf(layer, readSlots);              // [B, KvH, L]
            ranking = where(step.IsH2O, cumulative, ranking);
            candidates = candidates & (alive | step.IsH2O.logical_not());
        }
        ranking = ranking.masked_fill(candidates.logical_not(), Scalars.NegativeInfinity);
        int take = (int)Math.Min(budget.MaxGlobal, l);
        var (values, indices) = ranking.topk(take, dim: -1);
        var rank = arange(take, device: device).view(1, 1, take);
        var keep = (rank < budget.Global) & values.isfinite();
        var global = zeros([b, groups, l], ScalarType.Bool, device).scatter(2, indices, keep);
        return (global | fixedPart).MoveToOuterDisposeScope();
    }
}
