using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Quest (Tang et al., 2024): ranks the KV pages (pool blocks) of a sequence by an upper bound of the logit
/// the current query can give any key in the page, sum_d max(q_d min_d, q_d max_d) from the page's element-wise key
/// bounds (<see cref="PageKeyBounds"/>), taking the largest over the KV head's query group, and attends the top pages
/// within the budget, the recent window (which always holds the current page) and any sinks. With
/// <see cref="KvPolicy.AdaptiveHeads"/> the layer's pages go to the KV heads whose pages hold most of the estimated
/// attention mass (Ada-KV) instead of the same count per head. With <see cref="KvPolicy.ExactTokens"/> a page is one
/// token ranked by the attention weight the current query group gives it, from the true logits: an exact top-k, the
/// best a query-aware selection of that budget can choose, at the cost of reading every key. Rows of other policies keep <see cref="TokenSelector"/>.</summary>
public static class QuestPageSelector
{
    /// <summary>One row's split of its budget b: sinks, a recent window of W tokens, and Q whole pages.</summary>
    public readonly record struct Split(int Window, int Pages, int Sinks);

    /// <summary>b = recent + sinks tokens (<see cref="SelectionBudget"/>) for n cached positions: the window takes at
    /// least round(b x local) and at least the current page; whole pages take what is left, the window the rest.</summary>
    public static Split SplitOf(KvPolicy policy, SelectionBudget budget, int pageSize)
    {
        pageSize = PageOf(policy, pageSize);
        int n = budget.Length, sinks = budget.Sinks, b = budget.Recent + sinks;
        int currentPage = (n - 1) % pageSize + 1;
        int least = Math.Max((int)Math.Round(b * policy.LocalFraction), currentPage);
        int pages = Math.Max(0, (b - sinks - least) / pageSize);
        return new(b - sinks - pages * pageSize, pages, sinks);
    }

    /// <summary>The tokens a row's pages hold: the pool's block size, or one token for an exact top-k.</summary>
    public static int PageOf(KvPolicy policy, int blockSize) => policy.ExactTokens ? 1 : blockSize;

    /// <summary>A row's selection inputs in <see cref="SparseStep"/>'s segment form: sinks, the tokens of its whole pages
    /// per KV head (the global budget) and the window's start; and its most attended entries in one KV head (Ada-KV:
    /// every position). Sinks and window never overlap (sinks + window &lt;= b &lt;= n).</summary>
    public static (int Sinks, int Global, int RecentStart, int MaxEntries) Segments(KvPolicy policy, SelectionBudget budget, int pageSize)
    {
        var split = SplitOf(policy, budget, pageSize);
        return (split.Sinks, split.Pages * PageOf(policy, pageSize), budget.Length - split.Window, budget.MaxSelected);
    }

    /// <summary>The layer's selection: per KV head, the sinks, the window and the listed positions of the chosen pages
    /// outside both (rows of other policies as <see cref="TokenSelector"/> selects them, from the native window ranking when given).</summary>
    public static TokenSelection Select(int layer, SparseStep step, TokenScores? scores, KvCache cache, Tensor query, Tensor readSlots,
        Tensor? windowRanking = null)
    {
        using var scope = NewDisposeScope();
        var device = readSlots.device;
        var byPage = step.Policies.Select(p => p.NeedsPageBounds).ToArray();
        var byToken = step.Policies.Select(p => p.RanksByQuery && p.ExactTokens).ToArray();
        TokenSelection? chosen = null;
        foreach (var (rows, exact) in new[] { (byPage, false), (byToken, true) })
        {
            if (!rows.Any(r => r)) continue;
            var these = Ranked(layer, step, cache, query, readSlots, exact);
            chosen = chosen is null ? these : TokenSelection.Where(tensor(rows, device: device), these, chosen);
        }
        var isQuest = step.Policies.Select(p => p.RanksByQuery).ToArray();
        if (isQuest.All(q => q)) return chosen!.MoveToOuterDisposeScope();
        using var others = TokenSelector.Select(layer, step, scores, readSlots, windowRanking);
        return TokenSelection.Where(tensor(isQuest, device: device), chosen!, others).MoveToOuterDisposeScope();
    }

    /// <summary>Every row's selection at one granularity: pages of the pool's block size ranked by their key bounds, or
    /// (<paramref name="exact"/>) pages of one token ranked by the query's true logit, an exact top-k.</summary>
    private static TokenSelection Ranked(int layer, SparseStep step, KvCache cache, Tensor query, Tensor readSlots, bool exact)
    {
        using var scope = NewDisposeScope();
        long b = readSlots.shape[0], l = readSlots.shape[1], kvHeads = cache.KvHeads;
        int pageSize = exact ? 1 : cache.BlockSize;
        long pageCount = (l + pageSize - 1) / pageSize;
        var device = readSlots.device;
        var inputs = step.Layer(layer);
        var parts = inputs.Segments.select(1, 0).to(ScalarType.Int64);                                   // [B, 3]: the same in every group
        var (sinks, recentStart) = (parts.narrow(1, 0, 1), parts.narrow(1, 2, 1));                        // [B, 1]
        var pages = parts.narrow(1, 1, 1).floor_divide(Scalars.Of((long)pageSize)).view(b, 1, 1);
        bool adaptive = step.Policies.Any(p => p.AdaptiveHeads);
        long spread = adaptive ? kvHeads : 1;
        int take = (int)Math.Min(inputs.MaxGlobal / pageSize * spread, pageCount * spread);

        var count = zeros([b, kvHeads, 1], ScalarType.Int64, device);
        Tensor? order = null;
        if (take > 0)
        {
            var upper = exact ? Logits(cache, layer, query, readSlots)                                 // [B, KvH, G, P]
                : UpperBounds(cache.PageBounds ?? throw new InvalidOperationException("Quest needs the KV cache's page key bounds"),
                    layer, query, readSlots, pageSize, pageCount);
            var pageStart = (Scalars.Arange(pageCount, device) * Scalars.Of((long)pageSize)).view(1, pageCount);
            // a page is a candidate if some of its positions are outside the window and the sinks
            var candidates = (pageStart < recentStart) & (pageStart.add(Scalars.Of((long)pageSize), Scalars.One) > sinks); // [B, P]
            var mass = exact || adaptive ? Mass(upper, candidates, query.shape[3]) : null;                  // [B, KvH, P]
            // a head's own pages by the largest bound in its group (Quest); tokens by the group's attention weight
            var perHead = TopPages(exact ? mass! : upper.amax(2), candidates.unsqueeze(1), pages, (int)Math.Min(take / spread, pageCount));
            var chosen = adaptive
                ? where(tensor(step.Policies.Select(p => p.AdaptiveHeads).ToArray(), device: device).view(b, 1, 1),
                    TopPagesAcrossHeads(mass!, candidates, pages, take), perHead)
                : perHead;
            var tokens = chosen.unsqueeze(-1).expand(b, kvHeads, pageCount, pageSize).reshape(b, kvHeads, pageCount * pageSize).narrow(2, 0, l);
            var positions = Scalars.Arange(l, device).view(1, l);
            var listed = tokens & ((positions >= sinks) & (positions < recentStart)).unsqueeze(1);        // the pages' other positions
            count = listed.sum([-1L], keepdim: true);
            // listed positions first; a head lists at most its share of pages (Ada-KV: up to every candidate page)
            (_, order) = listed.to(ScalarType.Float32).topk((int)Math.Min(Math.Min(take, pageCount) * pageSize, l), dim: -1);
        }
        var segments = cat([sinks.unsqueeze(1).expand(b, kvHeads, 1), count, recentStart.unsqueeze(1).expand(b, kvHeads, 1)], 2);
        return new TokenSelection(segments.to(ScalarType.Int32), order, step.Lengths.alias()).MoveToOuterDisposeScope();
    }

    /// <summary>[B, KvH, G, L]: every cached key's true logit q.k per query head (what a page bound is an upper bound of);
    /// reads every key, so an exact top-k costs half a dense attention's reads.</summary>
    public static Tensor Logits(KvCache cache, int layer, Tensor query, Tensor readSlots)
    {
        using var scope = NewDisposeScope();
        long b = query.shape[0], d = query.shape[3];
        var (keys, _) = cache.Gather(layer, readSlots);                                                // [B, L, KvH, D]
        var q = query.reshape(b, cache.KvHeads, -1, d).to(ScalarType.Float32);
        return q.matmul(keys.to(ScalarType.Float32).permute(0, 2, 3, 1)).MoveToOuterDisposeScope();
    }

    /// <summary>[B, KvH, G, P]: per query head and page, the largest q.k any key within the page's bounds can give,
    /// as two matmuls (positive parts of q against the maxima, negative parts against the minima).</summary>
    public static Tensor UpperBounds(PageKeyBounds bounds, int layer, Tensor query, Tensor readSlots, int pageSize, long pageCount)
    {
        long b = query.shape[0], d = query.shape[3];
        var (min, max) = bounds.Of(layer);
        long kvHeads = min.shape[1];
        var blocks = KvCache.PageBlocks(readSlots, pageSize, pageCount);
        var low = min.index_select(0, blocks).view(b, pageCount, kvHeads, d).permute(0, 2, 3, 1);     // [B, KvH, D, P]
        var high = max.index_select(0, blocks).view(b, pageCount, kvHeads, d).permute(0, 2, 3, 1);
        var q = query.reshape(b, kvHeads, -1, d).to(ScalarType.Float32);
        // blocks not written yet hold infinities: 0 x inf would be NaN, and those pages are never candidates
        return q.clamp_min(Scalars.Of(0.0)).matmul(high.nan_to_num(0, 0, 0)).add(q.clamp_max(Scalars.Of(0.0)).matmul(low.nan_to_num(0, 0, 0)), Scalars.One);
    }

    /// <summary>Per KV head, the <paramref name="pages"/>[b] best candidate pages by <paramref name="score"/> [B, KvH, P].</summary>
    private static Tensor TopPages(Tensor score, Tensor candidates, Tensor pages, int take)
    {
        var ranking = score.masked_fill(candidates.logical_not(), Scalars.NegativeInfinity);
        var (values, indices) = ranking.topk(take, dim: -1);
        var keep = (Scalars.Arange(take, score.device).view(1, 1, take) < pages) & values.isfinite();
        return zeros(ranking.shape, ScalarType.Bool, score.device).scatter(2, indices, keep);
    }

    /// <summary>[B, KvH, P]: the attention mass each candidate page can hold for the KV head's query group, the softmax
    /// of the scaled logits (or their page bounds) over the candidates, summed over the group.</summary>
    private static Tensor Mass(Tensor upper, Tensor candidates, long headDim)
    {
        long b = upper.shape[0], pageCount = upper.shape[3];
        var logits = (upper / Scalars.Of(Math.Sqrt(headDim))).masked_fill(candidates.view(b, 1, 1, pageCount).logical_not(), Scalars.NegativeInfinity);
        return logits.softmax(-1).nan_to_num(0, 0, 0).sum(2);
    }

    /// <summary>Ada-KV: the row's KvH x pages[b] pages go to the (head, page) pairs with the most mass.</summary>
    private static Tensor TopPagesAcrossHeads(Tensor mass, Tensor candidates, Tensor pages, int take)
    {
        long b = mass.shape[0], kvHeads = mass.shape[1], pageCount = mass.shape[2];
        return TopPages(mass.reshape(b, 1, kvHeads * pageCount), candidates.repeat(1, kvHeads).unsqueeze(1), pages * Scalars.Of(kvHeads), take)
            .view(b, kvHeads, pageCount);
    }
}
