using AlisaCluster.GpuWorker.Attention;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Attention;

/// <summary>A layer's selection as a bool mask [B, SG, L], for tests that assert which positions are attended (SWA's
/// window sums first drop the steps that left the window, as the attention does before selecting).</summary>
internal static class SelectionMasks
{
    public static Tensor Of(int layer, SparseStep step, TokenScores scores, AttentionBatch batch)
    {
        if (step.UsesWindow) scores.Slide(layer, step.Window!);
        using var selection = TokenSelector.Select(layer, step, scores, batch.ReadSlots);
        return selection.ToMask(batch.KeyLength);
    }
}
