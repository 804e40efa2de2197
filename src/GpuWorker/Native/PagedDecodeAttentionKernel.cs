using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>The native paged decode attention kernel (native/src/paged_decode_attention.cu): one query token per
/// sequence attends to its cached keys, read in place from the KV pool through its block table. Shapes: output and
/// query [B, H, D], pools [slots, KvH, D], block table [B, M] int64, lengths [B] int64 (keys per sequence).
/// <see cref="PagedDecodeAttentionReference"/> computes the same on the CPU.</summary>
public static class PagedDecodeAttentionKernel
{
    /// <summary>Whether the kernel handles a model's attention shape (null) or why not.</summary>
    public static string? Unsupported(int heads, int kvHeads, int headDim) =>
        headDim is not (64 or 128) ? $"head dim {headDim} (the kernel has 64 and 128)"
        : heads % kvHeads != 0 || heads / kvHeads > 8 ? $"{heads} query heads over {kvHeads} KV heads (the kernel has 1..8 per KV head)"
        : null;

    public static void Run(Tensor output, Tensor query, Tensor keyPool, Tensor valuePool, Tensor blockTable, Tensor lengths,
        int blockSize, float scale) =>
        AlisaNative.Check(AlisaNative.alisa_paged_decode_attention(output.Handle, query.Handle, keyPool.Handle, valuePool.Handle,
            blockTable.Handle, lengths.Handle, blockSize, scale), "paged decode attention");
}
