using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>One layer's selection for a batch, in the form the attention kernel reads: per (sequence, selection group)
/// Segments [B, SG, 3] int32 = (sinks, listed, recent start), i.e. positions [0, sinks), the first `listed` entries of
/// Listed [B, SG, K] (int64 from TorchSharp's top-k, int32 from the native one), and [recent start, length).</summary>
public sealed record TokenSelection(Tensor Segments, Tensor? Listed, Tensor Lengths) : IDisposable
{
    /// <summary>The same selection as a bool mask [B, SG, L].</summary>
    public Tensor ToMask(long keyLength)
    {
        using var scope = NewDisposeScope();
        var positions = Scalars.Arange(keyLength, Segments.device).view(1, 1, keyLength);
        var parts = Segments.to(ScalarType.Int64);
        var sinks = parts.narrow(2, 0, 1);
        var recent = positions >= parts.narrow(2, 2, 1) & positions < Lengths.unsqueeze(1);
        var mask = (positions < sinks) | recent;
        if (Listed is not null)
        {
            var rank = Scalars.Arange(Listed.shape[2], Segments.device).view(1, 1, -1);
            // entries past a row's count may repeat a listed position (padding is position 0): counted, not written,
            // so an unread entry never clears a read one
            var counted = (rank < parts.narrow(2, 1, 1)).to(ScalarType.Int32).expand(Listed.shape);
            var global = zeros([Segments.shape[0], Segments.shape[1], keyLength], ScalarType.Int32, Segments.device)
                .scatter_add(2, Listed.to(ScalarType.Int64), counted);
            mask = mask | global.gt(Scalars.Of(0L));
        }
        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>Per row, <paramref name="first"/>'s selection where <paramref name="rows"/> [B] is true, else
    /// <paramref name="second"/>'s; groups and listed widths are widened to the larger of the two.</summary>
    public static TokenSelection Where(Tensor rows, TokenSelection first, TokenSelection second)
    {
        using var scope = NewDisposeScope();
        long b = first.Segments.shape[0], groups = Math.Max(first.Segments.shape[1], second.Segments.shape[1]);
        var pick = rows.view(b, 1, 1);
        var segments = where(pick, first.Segments.expand(b, groups, 3), second.Segments.expand(b, groups, 3));
        long width = Math.Max(first.Listed?.shape[2] ?? 0, second.Listed?.shape[2] ?? 0);
        Tensor Widened(Tensor? listed) => (listed is null ? zeros([b, 1, width], ScalarType.Int64, rows.device)
            : nn.functional.pad(listed.to(ScalarType.Int64), [0, width - listed.shape[2]])).expand(b, groups, width); // past a row's count: unread
        var both = width == 0 ? null : where(pick, Widened(first.Listed), Widened(second.Listed));
        return new TokenSelection(segments.MoveToOuterDisposeScope(), both?.MoveToOuterDisposeScope(), first.Lengths.alias().MoveToOuterDisposeScope());
    }

    /// <summary>Keeps the selection past the caller's dispose scope.</summary>
    public TokenSelection MoveToOuterDisposeScope()
    {
        foreach (var t in new[] { Segments, Listed, Lengths }) t?.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose() { Segments.Dispose(); Listed?.Dispose(); }
}

/// <summary>Builds each sequence's selection for one layer at one decode step: recent window, sink tokens, and the
/// top-scoring older tokens (SWA: windowed attention sum; H2O: cumulative sum among the not-yet-evicted), on the
/// device: one top-k per layer with the largest budget in the batch; each row keeps its own count.</summary>
public static class TokenSelector
{
    /// <summary>[B, 1, L]: at how many steps of its score window each position existed (position j exists from step j
    /// on; the query is at step n - 1); 1 for rows that rank by sum.</summary>
    private static Tensor PresentSteps(SparseStep step, Tensor positions)
    {
        var existed = step.Lengths.sub(Scalars.Of(1L)).sub(positions).unsqueeze(1).to(ScalarType.Float32);
        return minimum(existed, step.MeanWindow!).clamp_min(Scalars.Of(1.0));
    }

    /// <summary>The layer's selection for every policy of the batch: Quest rows by their pages
    /// (<see cref="QuestPageSelector"/>, which reads the current query), the others by their scores.</summary>
    public static TokenSelection Select(int layer, SparseStep step, TokenScores? scores, Kv.KvCache cache, Tensor query, Tensor readSlots,
        Tensor? windowRanking = null) => step.RanksByQuery
        ? QuestPageSelector.Select(layer, step, scores, cache, query, readSlots, windowRanking)
        : Select(layer, step, scores, readSlots, windowRanking);

    /// <summary>The layer picks its segments (they differ by layer and KV head only under a learned split).</summary>
    /// <param name="windowRanking">the layer's ranking [B, SG, L] from the native window kernel (<see cref="Native.WindowScoresKernel.Slide"/>),
    /// when it made one: then only the top-k is left to do</param>
    public static TokenSelection Select(int layer, SparseStep step, TokenScores? scores, Tensor readSlots, Tensor? windowRanking = null)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1];
        var device = readSlots.device;
        var inputs = step.Layer(layer);
        if (inputs.MaxGlobal == 0)
            return new TokenSelection(inputs.Segments.clone().MoveToOuterDisposeScope(), null, step.Lengths.alias().MoveToOuterDisposeScope());
        if (windowRanking is not null)
        {
            var top = Native.WindowScoresKernel.Top(windowRanking, inputs.Segments, Math.Min(inputs.MaxGlobal, l));
            return new TokenSelection(inputs.Segments.alias().MoveToOuterDisposeScope(), top.MoveToOuterDisposeScope(), step.Lengths.alias().MoveToOuterDisposeScope());
        }

        long groups = inputs.Segments.shape[1];
        var positions = Scalars.Arange(l, device).view(1, 1, l);
        var parts = inputs.Segments.to(ScalarType.Int64);
        var candidates = (positions >= parts.narrow(2, 0, 1)) & (positions < parts.narrow(2, 2, 1));      // [B, SG, L]
        var ranking = zeros([b, groups, l], ScalarType.Float32, device);
        if (step.UsesWindow)
        {
            var window = scores!.WindowSum(layer, step.Window!, b);                            // [B, 1 or KvH, L]
            var shared = window.shape[1] == 1 ? window : window.sum(1, keepdim: true);        // one selection per layer
            window = groups == 1 ? shared : where(step.PerHeadWindow, window.expand(b, groups, l), shared.expand(b, groups, l));
            ranking = step.MeanWindow is null ? window : window / PresentSteps(step, positions.view(1, l));
        }
        var count = parts.narrow(2, 1, 1);
        if (step.UsesCumulative)
        {
            var (cumulative, alive) = scores!.CumulativeOf(layer, readSlots);                  // [B, KvH, L]
            ranking = where(step.IsH2O, cumulative, ranking);
            candidates = candidates & (alive | step.IsH2O.logical_not());
            count = minimum(count, candidates.sum([-1L], keepdim: true));                     // H2O's evicted tokens are gone
        }
        ranking = ranking.masked_fill(candidates.logical_not(), Scalars.NegativeInfinity);
        var (_, listed) = ranking.topk((int)Math.Min(inputs.MaxGlobal, l), dim: -1);
        var segments = cat([parts.narrow(2, 0, 1), count, parts.narrow(2, 2, 1)], 2).to(ScalarType.Int32);
        return new TokenSelection(segments.MoveToOuterDisposeScope(), listed.MoveToOuterDisposeScope(), step.Lengths.alias().MoveToOuterDisposeScope());
    }
}
