using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The page summaries' kernels (native/src/page_summaries.cuh), which let the decode graphs serve
/// <see cref="Attention.KvPolicy.Summaries"/>: the step's write folds its new rows into their pages' sums (what
/// <see cref="Kv.PageSummaries.Update"/> does for host-planned writes), and after the attention kernel each page's
/// tokens the selection left out join its softmax as one entry of their mean key and value
/// (<see cref="Attention.SummaryEntries"/> in <see cref="Attention.SparseAttention"/> is the reference).</summary>
public static class PageSummariesKernel
{
    /// <summary>Adds the rows stored at <paramref name="slots"/> [B] (one new token per sequence) to their blocks' sums
    /// [blocks, KvH, D] fp32; <paramref name="rowsLike"/> has the rows' dtype, which INT8 rows are read back in.</summary>
    public static void Add((Tensor Keys, Tensor Values) sums, KvPoolTensors pool, Tensor slots, Tensor rowsLike, int blockSize) =>
        AlisaNative.Check(AlisaNative.alisa_page_sums_add(sums.Keys.Handle, sums.Values.Handle, pool.Keys.Handle, pool.Values.Handle,
            pool.KeyParams?.Handle ?? IntPtr.Zero, pool.ValueParams?.Handle ?? IntPtr.Zero, slots.Handle, rowsLike.Handle, blockSize), "page_sums_add");

    /// <summary>Merges the summary entries into the attention kernel's <paramref name="output"/> [B, H, D] and
    /// <paramref name="lse"/> [B, H] fp32 in place, for rows whose <paramref name="asks"/> [B] uint8 is set.</summary>
    /// <param name="query">[B, H, D] contiguous, as the kernel attended it</param>
    public static void Attend(Tensor output, Tensor lse, Tensor query, (Tensor Keys, Tensor Values) sums, KvPoolTensors pool, Tensor blockTable,
        Tensor lengths, AttentionSelection selection, Tensor asks, int blockSize, float scale) =>
        AlisaNative.Check(AlisaNative.alisa_summary_attention(output.Handle, lse.Handle, query.Handle, sums.Keys.Handle, sums.Values.Handle,
            pool.Keys.Handle, pool.Values.Handle, pool.KeyParams?.Handle ?? IntPtr.Zero, pool.ValueParams?.Handle ?? IntPtr.Zero,
            blockTable.Handle, lengths.Handle, selection.Segments.Handle, selection.Positions.Handle, asks.Handle, blockSize, scale),
            "summary_attention");
}
