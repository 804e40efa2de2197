using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Native;

/// <summary>One tier of the KV pool as the kernel reads it: rows [slots, KvH, D] in the model's dtype, or uint8 INT8
/// codes with per-row (scale, min) parameters [slots, KvH, 2] fp16.</summary>
public sealed record KvPoolTensors(Tensor Keys, Tensor Values, Tensor? KeyParams = null, Tensor? ValueParams = null)
{
    public bool IsInt8 => KeyParams is not null;
}

/// <summary>Which positions each (sequence, selection group) attends: segments [B, SG, 3] int32 = (sinks, listed,
/// recent start), i.e. positions [0, sinks), Positions[b, sg, ..listed] and [recent start, length); SG = 1 or KvH.
/// With a <paramref name="HotTable"/> [B, MH] int64 (<see cref="HotSetKernel"/>) listed entry j is read from the
/// sequence's hot slot j, not through the block table.</summary>
public sealed record AttentionSelection(Tensor Segments, Tensor Positions, Tensor? HotTable = null);

/// <summary>The native paged decode attention kernel (native/src/paged_decode_attention.cu): one query token per
/// sequence attends to cached keys read in place through its block table, from the GPU pool or (block-table entries
/// >= gpuBlocks) the page-locked CPU tier, all positions or a policy's selection, dequantising INT8 in registers;
/// optionally it writes each attended entry's logit and each head's log-sum-exp, from which <see cref="Weights"/>
/// gives the weights score-keeping policies rank tokens by. Shapes: output and query [B, H, D], block table [B, M]
/// int64, lengths [B] int64. <see cref="PagedDecodeAttentionReference"/> computes the same on the CPU.</summary>
public static class PagedDecodeAttentionKernel
{
    /// <summary>Whether the kernel handles a model's attention shape (null) or why not.</summary>
    public static string? Unsupported(int heads, int kvHeads, int headDim) =>
        headDim is not (64 or 128) ? $"head dim {headDim} (the kernel has 64 and 128)"
        : heads % kvHeads != 0 || heads / kvHeads > 8 ? $"{heads} query heads over {kvHeads} KV heads (the kernel has 1..8 per KV head)"
        : null;

    /// <param name="logits">[B, H, n] fp32 or null: each attended entry's scaled logit (n at least the most entries of a row)</param>
    /// <param name="lse">[B, H] fp32 or null: each head's log-sum-exp (needed with <paramref name="logits"/>)</param>
    public static void Run(Tensor output, Tensor query, KvPoolTensors gpu, Tensor blockTable, Tensor lengths, int blockSize, float scale,
        KvPoolTensors? cpu = null, long gpuBlocks = 0, AttentionSelection? selection = null, Tensor? logits = null, Tensor? lse = null)
    {
        static IntPtr H(Tensor? t) => t?.Handle ?? IntPtr.Zero;
        if (gpuBlocks == 0) gpuBlocks = gpu.Keys.shape[0] / blockSize;
        AlisaNative.Check(AlisaNative.alisa_paged_decode_attention(output.Handle, query.Handle, gpu.Keys.Handle, gpu.Values.Handle,
            H(gpu.KeyParams), H(gpu.ValueParams), H(cpu?.Keys), H(cpu?.Values), H(cpu?.KeyParams), H(cpu?.ValueParams), gpuBlocks,
            blockTable.Handle, lengths.Handle, H(selection?.Segments), H(selection?.Positions), H(selection?.HotTable), H(logits), H(lse),
            blockSize, scale),
            "paged decode attention");
    }

    /// <summary>weights [B, KvH, n] fp32: each attended entry's weight summed over its KV head's query group, and
    /// positions [B, KvH, n] int64 the entry's position (weight 0, position 0 past a row's entries).</summary>
    public static void Weights(Tensor weights, Tensor positions, Tensor logits, Tensor lse, Tensor lengths, AttentionSelection? selection) =>
        AlisaNative.Check(AlisaNative.alisa_attention_weights(weights.Handle, positions.Handle, logits.Handle, lse.Handle, lengths.Handle,
            selection?.Segments.Handle ?? IntPtr.Zero, selection?.Positions.Handle ?? IntPtr.Zero), "attention weights");
}
