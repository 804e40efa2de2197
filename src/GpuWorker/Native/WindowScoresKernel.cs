using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>SWA's window scores in two native launches per layer (native/src/window_scores.cu): Slide before selecting
/// (fed tokens start empty, the steps leaving the window are subtracted, this step's column cleared; in the same pass
/// the ranking the selection's top-k reads, and usually the top-k too: SlideAndTop), Record after attention (each attended entry's weight, from the attention
/// kernel's logits, added to the column and the sum). They replace the TorchSharp ops of <see cref="ScoreKeeping"/> and
/// <see cref="TokenSelector"/> (their references, which native-check compares them with).</summary>
public static class WindowScoresKernel
{
    /// <summary>Whether a step's score upkeep can run natively: window scores only (H2O's cumulative ones stay in
    /// TorchSharp), and per-head selections only into per-head stores.</summary>
    public static bool Serves(SparseStep? step, TokenScores? scores) =>
        step is { UsesWindow: true, UsesCumulative: false, CurrentColumns: not null } && scores is { HasWindow: true }
        && (!step.PerHead || scores.WindowGroups > 1);

    /// <summary>Whether the selection's ranking can be made natively too: SWA rows that rank by sum, and per-head
    /// selection for all of them or none.</summary>
    public static bool ServesRanking(SparseStep? step, TokenScores? scores) => Serves(step, scores) && step!.MeanWindow is null
        && step.Policies.Where(p => p.NeedsWindowScores).All(p => p.PerKvHead == step.PerHead);

    /// <summary>The ranking [B, SG, L] of a layer's selection: window sums of candidate positions (sinks &lt;= l &lt;
    /// recent start, from segments [B, SG, 3] int32), -inf elsewhere. Slide makes it in its pass when SG is the
    /// stores' group count; this launch serves one selection per layer over per-head sums.</summary>
    public static Tensor Rank(TokenScores scores, int layer, Tensor readSlots, Tensor segments)
    {
        var ranking = empty([readSlots.shape[0], segments.shape[1], readSlots.shape[1]], ScalarType.Float32, readSlots.device);
        AlisaNative.Check(AlisaNative.alisa_window_ranking(ranking.Handle, scores.WindowStores(layer).Sums.Handle, readSlots.Handle,
            segments.Handle), "window_ranking");
        return ranking;
    }

    /// <summary>Per row of ranking [B, SG, L], the positions of its largest values, as many as the row's listed count in
    /// segments [B, SG, 3] int32 (at most k &lt;= L), ascending, then zeros: listed [B, SG, k] int32. Among values
    /// tied with the last one taken the lowest positions (native/src/select_top.cu; torch.topk is its reference).</summary>
    public static Tensor Top(Tensor ranking, Tensor segments, long k)
    {
        var listed = empty([ranking.shape[0], ranking.shape[1], k], ScalarType.Int32, ranking.device);
        AlisaNative.Check(AlisaNative.alisa_select_top(listed.Handle, ranking.Handle, segments.Handle), "select_top");
        return listed;
    }

    /// <summary>Slides the layer's window; with the selection's segments [B, SG, 3] it returns the ranking [B, SG, L]
    /// (<see cref="Rank"/>), made in the same pass where SG is the stores' group count.</summary>
    /// <param name="readSlots">[B, L] logical slots of positions 0..L-1</param>
    /// <param name="lengths">[B] positions cached, the fed token included</param>
    /// <param name="columns">[B] (or [B, 1]) this step's ring column</param>
    /// <param name="leaving">[B, J] ring columns leaving the window (-1: none)</param>
    public static Tensor? Slide(TokenScores scores, int layer, Tensor readSlots, Tensor lengths, Tensor columns, Tensor leaving, Tensor? segments = null)
    {
        var (history, sums) = scores.WindowStores(layer);
        bool fused = segments is not null && SelectsWhileSliding(scores, layer, segments);
        var ranking = fused ? empty([readSlots.shape[0], segments!.shape[1], readSlots.shape[1]], ScalarType.Float32, readSlots.device) : null;
        AlisaNative.Check(AlisaNative.alisa_window_slide(history.Handle, sums.Handle, readSlots.Handle, lengths.Handle, columns.Handle,
            leaving.Handle, fused ? segments!.Handle : IntPtr.Zero, ranking?.Handle ?? IntPtr.Zero), "window_slide");
        return fused || segments is null ? ranking : Rank(scores, layer, readSlots, segments);
    }

    /// <summary>Whether the slide can rank, and <see cref="SlideAndTop"/> select, in its own pass for a selection with these
    /// segments [B, SG, 3]: one selection group per score group.</summary>
    public static bool SelectsWhileSliding(TokenScores scores, int layer, Tensor segments) => segments.shape[1] == scores.WindowStores(layer).Sums.shape[0];

    /// <summary><see cref="Slide"/> and <see cref="Top"/> in one launch (one thread block per selection row slides the
    /// row, then selects from the ranking it wrote): listed [B, SG, k] int32, 1 &lt;= k &lt;= L. Needs
    /// <see cref="SelectsWhileSliding"/>.</summary>
    public static Tensor SlideAndTop(TokenScores scores, int layer, Tensor readSlots, Tensor lengths, Tensor columns, Tensor leaving, Tensor segments, long k)
    {
        var (history, sums) = scores.WindowStores(layer);
        using var ranking = empty([readSlots.shape[0], segments.shape[1], readSlots.shape[1]], ScalarType.Float32, readSlots.device);
        var listed = empty([readSlots.shape[0], segments.shape[1], k], ScalarType.Int32, readSlots.device);
        AlisaNative.Check(AlisaNative.alisa_window_slide_select(history.Handle, sums.Handle, readSlots.Handle, lengths.Handle, columns.Handle,
            leaving.Handle, segments.Handle, ranking.Handle, listed.Handle), "window_slide_select");
        return listed;
    }

    /// <summary>Adds each attended entry's weight to the window: exp(logit - lse) summed over the KV head's query group
    /// (and over the KV heads for one score group per layer), at the entry's position under the selection.</summary>
    /// <param name="logits">[B, H, n] fp32 and <paramref name="lse"/> [B, H], from <see cref="PagedDecodeAttentionKernel.Run"/></param>
    /// <param name="selection">what the kernel attended (segments [B, SG, 3], listed [B, SG, k] int32)</param>
    public static void Record(TokenScores scores, int layer, Tensor readSlots, Tensor lengths, Tensor columns, Tensor logits, Tensor lse,
        AttentionSelection selection, int kvHeads)
    {
        var (history, sums) = scores.WindowStores(layer);
        AlisaNative.Check(AlisaNative.alisa_window_record(history.Handle, sums.Handle, readSlots.Handle, lengths.Handle, columns.Handle,
            logits.Handle, lse.Handle, selection.Segments.Handle, selection.Positions.Handle, kvHeads), "window_record");
    }
}
