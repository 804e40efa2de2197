using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Decode attention under a KV policy (ALISA SWA, H2O, StreamingLLM, local): select tokens per sequence
/// (and per KV head where the policy says so), gather only their K/V into a dense tensor, attend in fp32, and record
/// the weights the policy ranks tokens by. Unselected tokens stay in the cache (except H2O's evictions).</summary>
public sealed class SparseAttention(KvCache cache, AttentionBatch batch, SparseStep step, TokenScores? scores) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        if (batch.QueryLength != 1) throw new InvalidOperationException("sparse attention runs on decode steps (one token per sequence)");
        using var scope = NewDisposeScope();
        long b = query.shape[0], heads = query.shape[1], d = query.shape[3], kvHeads = key.shape[1], l = batch.KeyLength;
        cache.Write(layer, batch.Write, key.reshape(b, kvHeads, d), value.reshape(b, kvHeads, d));
        scores?.Reset(layer, batch.WriteSlots);

        var selected = (step.Policies.Any(p => p.NeedsPageBounds)
            ? QuestPageSelector.Select(layer, step, scores, cache, query, batch.ReadSlots)
            : TokenSelector.Select(layer, step, scores, batch.ReadSlots)).expand(b, kvHeads, l);
        // compact the selection: indices [B, KvH, M] of selected positions first; `attend` marks real ones
        var (flags, indices) = selected.to(ScalarType.Float32).topk(step.MaxSelected, dim: -1);
        var attend = flags.gt(Scalars.Of(0.5f));
        var slots = batch.ReadSlots.unsqueeze(1).expand(b, kvHeads, l).gather(2, indices);
        var slotHeads = slots * Scalars.Of(kvHeads) + arange(kvHeads, device: query.device).view(1, kvHeads, 1);
        var (k, v) = cache.GatherPerHead(layer, slotHeads);                                 // [B, KvH, M, D]

        long group = heads / kvHeads;
        var q = query.reshape(b, kvHeads, group, d).to(ScalarType.Float32);
        var logits = q.matmul(k.to(ScalarType.Float32).transpose(2, 3)) / Scalars.Of(Math.Sqrt(d));      // [B, KvH, G, M]
        var weights = logits.masked_fill(attend.unsqueeze(2).logical_not(), Scalars.NegativeInfinity).softmax(-1);
        var output = weights.matmul(v.to(ScalarType.Float32)).to(query.dtype).reshape(b, 1, heads * d);

        if (scores is not null) Record(layer, weights.sum(2), indices, selected, b, kvHeads, l);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Scatters the weights [B, KvH, M] back to positions and stores them where the policies need them.</summary>
    private void Record(int layer, Tensor weights, Tensor indices, Tensor selected, long b, long kvHeads, long l)
    {
        var perPosition = zeros([b, kvHeads, l], ScalarType.Float32, weights.device).scatter_add(2, indices, weights);
        if (step.UsesWindow)
        {
            var rows = scores!.WindowGroups == 1 ? perPosition.sum(1, keepdim: true) : perPosition;
            scores.RecordWindow(layer, batch.ReadSlots, step.Columns!, rows.unsqueeze(2));
        }
        if (step.UsesCumulative) scores!.RecordCumulative(layer, batch.ReadSlots, perPosition, selected);
    }
}
