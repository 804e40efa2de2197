using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Prefill for a sequence under SWA or H2O: attention itself is dense (SDPA); in addition the weights of the
/// query rows the policy needs are computed explicitly (fused kernels do not return them) and seed its scores:
/// SWA the last k rows (its first decode window), H2O all rows (cumulative attention).</summary>
public sealed class ScoredPrefillAttention(KvCache cache, AttentionBatch batch, TokenScores scores) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        var output = PagedAttention.Forward(cache, layer, batch, query, key, value);
        using var scope = NewDisposeScope();
        scores.Reset(layer, batch.WriteSlots);
        var policy = batch.Sequences[0].Policy;
        int length = batch.StartPositions[0] + batch.QueryLength;
        int rows = policy.NeedsCumulativeScores ? batch.QueryLength
            : Math.Min(batch.QueryLength, SelectionBudget.For(policy, length).ScoreWindow);
        var weights = RowWeights(layer, query, rows);                                        // [1, KvH, rows, L]
        if (policy.NeedsWindowScores)
        {
            var grouped = scores.WindowGroups == 1 ? weights.sum(1, keepdim: true) : weights;
            var columns = (arange(length - rows, length, device: query.device) % Scalars.Of((long)scores.Ring)).view(1, rows);
            scores.ClearWindow(layer, batch.ReadSlots); // an earlier chunk's rows are not in the first decode window
            using var index = scores.IndexOf(batch.ReadSlots, columns);
            scores.RecordWindow(layer, index, grouped);
            batch.Sequences[0].ScoreFloor = length - rows;
        }
        if (policy.NeedsCumulativeScores)
            scores.RecordCumulative(layer, batch.ReadSlots, weights.sum(2), ones_like(weights[.., .., 0], ScalarType.Bool));
        return output;
    }

    /// <summary>Attention weights of the last <paramref name="rows"/> queries, summed over each KV head's query group.</summary>
    private Tensor RowWeights(int layer, Tensor query, int rows)
    {
        long heads = query.shape[1], d = query.shape[3], t = query.shape[2];
        var (keys, _) = cache.Gather(layer, batch.ReadSlots);                               // [1, L, KvH, D]
        var k = keys.permute(0, 2, 1, 3).to(ScalarType.Float32);                             // [1, KvH, L, D]
        long kvHeads = k.shape[1], group = heads / kvHeads;
        var q = query[.., .., (int)(t - rows)..].to(ScalarType.Float32).reshape(1, kvHeads, group * rows, d);
        var logits = q.matmul(k.transpose(2, 3)).view(1, kvHeads, group, rows, -1) / Scalars.Of(Math.Sqrt(d));
        var mask = batch.Mask[.., .., (int)(t - rows)..].unsqueeze(2);                       // [1, 1, 1, rows, L]
        return logits.masked_fill(mask.logical_not(), Scalars.NegativeInfinity).softmax(-1).sum(2);
    }
}
