using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Decode attention under a KV policy (ALISA SWA, H2O, StreamingLLM, local) in TorchSharp ops, on any device
/// and tier layout: select tokens per sequence (and per KV head where the policy says so), gather only their K/V into
/// a dense tensor, attend in fp32 (with <see cref="KvPolicy.Summaries"/>, the pages' summaries of the rest beside them),
/// and record the weights the policy ranks tokens by. The reference of <see cref="KernelAttention"/>, which does the
/// same in native kernels.</summary>
public sealed class SparseAttention(KvCache cache, AttentionBatch batch, SparseStep step, TokenScores? scores) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        if (batch.QueryLength != 1) throw new InvalidOperationException("sparse attention runs on decode steps (one token per sequence)");
        using var scope = NewDisposeScope();
        long b = query.shape[0], heads = query.shape[1], d = query.shape[3], kvHeads = key.shape[1], l = batch.KeyLength;
        cache.Write(layer, batch.Write, key.reshape(b, kvHeads, d), value.reshape(b, kvHeads, d));
        ScoreKeeping.Prepare(scores, step, layer, batch.WriteSlots);

        using var selection = TokenSelector.Select(layer, step, scores, cache, query, batch.ReadSlots);
        var selected = selection.ToMask(l).expand(b, kvHeads, l);
        // compact the selection: indices [B, KvH, M] of selected positions first; `attend` marks real ones
        int most = step.Layer(layer).MaxEntries;
        var (flags, indices) = selected.to(ScalarType.Float32).topk(Math.Min(most, (int)l), dim: -1);
        var attend = flags.gt(Scalars.Of(0.5f));
        var slots = batch.ReadSlots.unsqueeze(1).expand(b, kvHeads, l).gather(2, indices);
        var slotHeads = (slots * Scalars.Of(kvHeads)).add(Scalars.Arange(kvHeads, query.device).view(1, kvHeads, 1), Scalars.One);
        var (k, v) = cache.GatherPerHead(layer, slotHeads, batch.ReadsCpuTier);             // [B, KvH, M, D]

        long group = heads / kvHeads;
        var q = query.reshape(b, kvHeads, group, d).to(ScalarType.Float32);
        var (keys32, values32) = (k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var logits = q.matmul(keys32.transpose(2, 3)) / Scalars.Of(Math.Sqrt(d));                          // [B, KvH, G, M]
        var masked = logits.masked_fill(attend.unsqueeze(2).logical_not(), Scalars.NegativeInfinity);
        Tensor weights, output;
        if (SummaryEntries.Of(cache, layer, step, q, batch.ReadSlots, indices, attend, keys32, values32) is var (summaryLogits, summaryValues))
        {
            // one softmax over the selected tokens and the pages' summaries of the rest
            var all = cat([masked, summaryLogits], -1).softmax(-1);
            weights = all.narrow(3, 0, masked.shape[3]);
            output = weights.matmul(values32).add(all.narrow(3, masked.shape[3], summaryLogits.shape[3]).matmul(summaryValues), Scalars.One);
        }
        else
        {
            weights = masked.softmax(-1);
            output = weights.matmul(values32);
        }
        output = output.to(query.dtype).reshape(b, 1, heads * d);

        if (scores is not null)
        {
            var perPosition = zeros([b, kvHeads, l], ScalarType.Float32, query.device).scatter_add(2, indices, weights.sum(2));
            ScoreKeeping.Record(scores, step, layer, batch.ReadSlots, perPosition, selected);
        }
        return output.MoveToOuterDisposeScope();
    }
}

/// <summary>The score upkeep around a sparse decode step's attention, shared by both implementations.</summary>
public static class ScoreKeeping
{
    /// <summary>Before selecting: fresh tokens start with empty scores; SWA's window sums drop the steps that left.</summary>
    public static void Prepare(TokenScores? scores, SparseStep? step, int layer, Tensor writeSlots)
    {
        scores?.Reset(layer, writeSlots);
        if (step is { UsesWindow: true }) scores!.Slide(layer, step.Window!);
    }

    /// <summary>Stores this step's weights per position [B, KvH, L] where the policies need them (H2O: with the
    /// selection [B, KvH, L], which tokens stay alive).</summary>
    public static void Record(TokenScores scores, SparseStep step, int layer, Tensor readSlots, Tensor perPosition, Tensor? selected)
    {
        if (step.UsesWindow)
        {
            var rows = scores.WindowGroups == 1 ? perPosition.sum(1, keepdim: true) : perPosition;
            scores.RecordWindow(layer, step.Window!, rows.unsqueeze(2));
        }
        if (step.UsesCumulative) scores.RecordCumulative(layer, readSlots, perPosition, selected!);
    }
}
