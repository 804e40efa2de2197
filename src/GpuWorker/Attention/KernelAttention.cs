using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Native;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Decode attention by the native kernel for any KV policy, format and tier layout without dropped blocks:
/// stores the new K/V rows (quantising them for INT8), selects on the device (<see cref="TokenSelector"/>, Quest's
/// pages by <see cref="QuestPageSelector"/>), and the
/// kernel reads just the selected rows in place, GPU-resident ones from the pool and CPU-tier ones over PCIe from
/// page-locked memory (no gather, no host sync). For score-keeping policies it also returns each attended entry's
/// weight, which <see cref="ScoreKeeping"/> records; with page summaries, their entries join the softmax
/// (<see cref="PageSummariesKernel"/>). <see cref="SparseAttention"/> is its TorchSharp reference.</summary>
public sealed class KernelAttention(KvCache cache, KernelStepInputs inputs, SparseStep? step, TokenScores? scores) : IAttention
{
    /// <summary>Why the kernel cannot serve this model on this device, or null. It reads every cached token of a
    /// sequence, so a model with a sliding attention window takes the masked eager attention.</summary>
    public static string? Unsupported(Model.ModelConfig config, Device device)
    {
        if (config.SlidingWindow is not null) return "the model has a sliding attention window (the kernel reads every cached token; the eager step masks)";
        if (device.type != TorchSharp.DeviceType.CUDA) return $"the model is on {device}, not a CUDA device";
        if (!AlisaNative.IsAvailable) return AlisaNative.Detail;
        return PagedDecodeAttentionKernel.Unsupported(config.NumHeads, config.NumKvHeads, config.HeadDim);
    }

    /// <summary>Whether the kernel can serve this batch: the model is supported, one new token per sequence, no dropped
    /// blocks.</summary>
    public static bool CanServe(AttentionBatch batch, Model.ModelConfig config, Device device) =>
        batch.QueryLength == 1 && batch.Sequences.All(s => s.DroppedBlocks == 0) && Unsupported(config, device) is null;

    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        using var scope = NewDisposeScope();
        long b = query.shape[0], heads = query.shape[1], d = query.shape[3], kvHeads = key.shape[1], l = inputs.KeyLength;
        var pool = cache.PoolOf(layer);
        cache.WriteNative(layer, inputs.Write, key, value);
        bool nativeWindow = WindowScoresKernel.Serves(step, scores);
        Tensor? ranking = null;                // the selection's, made while sliding the window
        TokenSelection? selectedWhileSliding = null;
        if (nativeWindow)
        {
            scores!.ResetCumulative(layer, inputs.ScoreWriteSlots);
            var segments = WindowScoresKernel.ServesRanking(step, scores) && step!.Layer(layer).MaxGlobal > 0 ? step.Layer(layer).Segments : null;
            if (segments is not null && !step!.RanksByQuery && WindowScoresKernel.SelectsWhileSliding(scores, layer, segments))
                selectedWhileSliding = new TokenSelection(segments.alias(), WindowScoresKernel.SlideAndTop(scores, layer, inputs.ReadSlots,
                    inputs.Lengths, step.CurrentColumns!, step.LeavingColumns!, segments, Math.Min(step.Layer(layer).MaxGlobal, l)), step.Lengths.alias());
            else
                ranking = WindowScoresKernel.Slide(scores, layer, inputs.ReadSlots, inputs.Lengths, step!.CurrentColumns!, step.LeavingColumns!, segments);
        }
        else ScoreKeeping.Prepare(scores, step, layer, inputs.ScoreWriteSlots);

        using var selection = step is null ? null : selectedWhileSliding ?? TokenSelector.Select(layer, step, scores, cache, query, inputs.ReadSlots, ranking);
        var kernelSelection = selection is null ? null
            : new AttentionSelection(selection.Segments, selection.Listed?.to(ScalarType.Int32) ?? zeros([b, selection.Segments.shape[1], 1], ScalarType.Int32, query.device));
        if (kernelSelection is not null && selection!.Listed is not null && inputs.HotTable is { } hotTable) // listed rows from the hot set
            kernelSelection = HotSetKernel.Update(kernelSelection, cache.HotPositionsOf(layer), hotTable, cache.HotCounters, pool, cache.CpuPoolOf(layer),
                cache.GpuPoolBlocks, inputs.BlockTable, inputs.Lengths, cache.BlockSize);
        int entries = step?.Layer(layer).MaxEntries ?? (int)l;
        bool keepScores = scores is not null && step is { UsesWindow: true } or { UsesCumulative: true };
        var logits = keepScores ? empty([b, heads, entries], ScalarType.Float32, query.device) : null;
        var asksSummaries = step?.AsksSummaries;
        var lse = keepScores || asksSummaries is not null ? empty([b, heads], ScalarType.Float32, query.device) : null;
        var output = empty([b, heads, d], query.dtype, query.device);
        float scale = (float)(1 / Math.Sqrt(d));
        PagedDecodeAttentionKernel.Run(output, query, pool, inputs.BlockTable, inputs.Lengths, cache.BlockSize, scale,
            cache.CpuPoolOf(layer), cache.GpuPoolBlocks, kernelSelection, logits, lse);
        if (asksSummaries is not null) // before the weights are recorded: they are normalised over the summaries too
            PageSummariesKernel.Attend(output, lse!, query.reshape(b, heads, d).contiguous(),
                (cache.PageSummaries ?? throw new InvalidOperationException("page summaries need a KV cache that keeps them")).Of(layer),
                pool, inputs.BlockTable, inputs.Lengths, kernelSelection!, asksSummaries, cache.BlockSize, scale);
        if (keepScores && nativeWindow)
            WindowScoresKernel.Record(scores!, layer, inputs.ReadSlots, inputs.Lengths, step!.CurrentColumns!, logits!, lse!, kernelSelection!, (int)kvHeads);
        else if (keepScores)
        {
            var weights = empty([b, kvHeads, entries], ScalarType.Float32, query.device);
            var positions = empty([b, kvHeads, entries], ScalarType.Int64, query.device);
            PagedDecodeAttentionKernel.Weights(weights, positions, logits!, lse!, inputs.Lengths, kernelSelection);
            var perPosition = zeros([b, kvHeads, l], ScalarType.Float32, query.device).scatter_add(2, positions, weights);
            ScoreKeeping.Record(scores!, step!, layer, inputs.ReadSlots, perPosition, step!.UsesCumulative ? selection!.ToMask(l).expand(b, kvHeads, l) : null);
        }
        return output.view(b, 1, heads * d).MoveToOuterDisposeScope();
    }
}

/// <summary>What the attention kernel reads besides the pools, as device tensors: where the new rows go (GPU pool
/// slots [B], with page groups where Quest's bounds are kept) and their logical slots [B] (what scores are indexed
/// by), logical slots of positions 0..L-1 [B, L] (padding: the scratch slot 0), the kernel's block table [B, max blocks] int64 (GPU blocks, or the GPU pool's block count + CPU block),
/// lengths [B] int64, and with a hot set each sequence's hot blocks [B, MH] int64 (then -1). A host-built step makes
/// them from its <see cref="AttentionBatch"/>; a CUDA graph from static buffers.</summary>
public sealed record KernelStepInputs(WritePlan Write, Tensor ScoreWriteSlots, Tensor ReadSlots, Tensor BlockTable, Tensor Lengths, Tensor? HotTable = null)
{
    public long KeyLength => ReadSlots.shape[1];
}

/// <summary>A decode batch's block table, lengths and hot table (with a hot set) for the kernel, built once per step on
/// the host and uploaded with one copy.</summary>
internal sealed class KernelBlockTable : IDisposable
{
    public required Tensor Blocks { get; init; }
    public required Tensor Lengths { get; init; }
    public Tensor? HotBlocks { get; init; }

    public static KernelBlockTable For(KvCache cache, AttentionBatch batch)
    {
        var sequences = batch.Sequences;
        int width = Math.Max(1, sequences.Max(s => s.Blocks.Count));
        int hotWidth = cache.HasHotSet ? Math.Max(1, sequences.Max(s => s.HotBlocks.Count)) : 0;
        var host = new long[sequences.Count * (width + 1 + hotWidth)];
        for (int b = 0; b < sequences.Count; b++)
        {
            for (int i = 0; i < sequences[b].Blocks.Count; i++)
                host[b * width + i] = cache.KernelBlockOf(sequences[b].Blocks[i])
                    ?? throw new InvalidOperationException("the attention kernel does not read dropped (phase III) blocks");
            host[sequences.Count * width + b] = batch.StartPositions[b] + batch.QueryLength;
            var hot = host.AsSpan(sequences.Count * (width + 1) + b * hotWidth, hotWidth);
            hot.Fill(-1);
            for (int i = 0; i < sequences[b].HotBlocks.Count; i++) hot[i] = sequences[b].HotBlocks[i];
        }
        using var all = tensor(host, device: batch.ReadSlots.device);
        return new KernelBlockTable
        {
            Blocks = all.narrow(0, 0, sequences.Count * width).view(sequences.Count, width),
            Lengths = all.narrow(0, sequences.Count * width, sequences.Count),
            HotBlocks = hotWidth == 0 ? null : all.narrow(0, sequences.Count * (width + 1), sequences.Count * hotWidth).view(sequences.Count, hotWidth),
        };
    }

    public void Dispose() { Blocks.Dispose(); Lengths.Dispose(); HotBlocks?.Dispose(); }
}
