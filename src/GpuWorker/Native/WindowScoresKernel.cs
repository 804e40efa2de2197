using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>SWA's window score upkeep in two native launches per layer (native/src/window_scores.cu): Slide before
/// selecting (fed tokens start empty, the steps leaving the window are subtracted, this step's column cleared),
/// Record after attention (each attended entry's weight added to the column and the sum). They replace the
/// TorchSharp <see cref="ScoreKeeping"/> ops (their reference, which native-check compares them with).</summary>
public static class WindowScoresKernel
{
    /// <summary>Whether a step's score upkeep can run natively: window scores only (H2O's cumulative ones stay in
    /// TorchSharp), and per-head selections only into per-head stores.</summary>
    public static bool Serves(SparseStep? step, TokenScores? scores) =>
        step is { UsesWindow: true, UsesCumulative: false, CurrentColumns: not null } && scores is { HasWindow: true }
        && (!step.PerHead || scores.WindowGroups > 1);

    /// <param name="readSlots">[B, L] logical slots of positions 0..L-1</param>
    /// <param name="lengths">[B] positions cached, the fed token included</param>
    /// <param name="columns">[B] (or [B, 1]) this step's ring column</param>
    /// <param name="leaving">[B, J] ring columns leaving the window (-1: none)</param>
    public static void Slide(TokenScores scores, int layer, Tensor readSlots, Tensor lengths, Tensor columns, Tensor leaving)
    {
        var (history, sums) = scores.WindowStores(layer);
        AlisaNative.Check(AlisaNative.alisa_window_slide(history.Handle, sums.Handle, readSlots.Handle, lengths.Handle, columns.Handle,
            leaving.Handle), "window_slide");
    }

    /// <param name="weights">[B, KvH, n] fp32 from <see cref="PagedDecodeAttentionKernel.Weights"/></param>
    /// <param name="positions">[B, KvH, n] int64, the entries' positions</param>
    public static void Record(TokenScores scores, int layer, Tensor readSlots, Tensor lengths, Tensor columns, Tensor weights, Tensor positions)
    {
        var (history, sums) = scores.WindowStores(layer);
        AlisaNative.Check(AlisaNative.alisa_window_record(history.Handle, sums.Handle, readSlots.Handle, lengths.Handle, columns.Handle,
            weights.Handle, positions.Handle), "window_record");
    }
}
