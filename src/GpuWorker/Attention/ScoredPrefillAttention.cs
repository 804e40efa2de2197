using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Prefill for a batch of sequences under one SWA or H2O policy: attention itself is dense (SDPA); in addition
/// the weights of the query rows the policy needs are computed explicitly (fused kernels do not return them) and seed
/// its scores: SWA each sequence's last k rows (its first decode window), H2O all rows (cumulative attention). Rows of
/// the batch's widest window that fall before a sequence's own window count as nothing.</summary>
public sealed class ScoredPrefillAttention(KvCache cache, AttentionBatch batch, TokenScores scores) : IAttention
{
    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        var output = PagedAttention.Forward(cache, layer, batch, query, key, value);
        using var scope = NewDisposeScope();
        scores.Reset(layer, batch.WriteSlots);
        var policy = batch.Sequences[0].Policy;
        if (batch.Sequences.Any(s => s.Policy != policy)) throw new InvalidOperationException("a scored prefill batch shares one policy");
        var lengths = batch.StartPositions.Select(start => start + batch.QueryLength).ToArray();
        var windowRows = lengths.Select(length => policy.NeedsCumulativeScores ? batch.QueryLength
            : Math.Min(batch.QueryLength, SelectionBudget.For(policy, length).ScoreWindow)).ToArray();
        int rows = windowRows.Max();
        var weights = RowWeights(layer, query, rows);                                        // [B, KvH, rows, L]
        if (policy.NeedsWindowScores)
        {
            var device = query.device;
            var row = Scalars.Arange(rows, device).view(1, rows);
            var ends = tensor(lengths.Select(l => (long)l).ToArray(), device: device).view(-1, 1);
            var firsts = tensor(windowRows.Select(r => (long)(rows - r)).ToArray(), device: device).view(-1, 1);
            var inWindow = (row >= firsts).to(ScalarType.Float32).view(-1, 1, rows, 1);
            var windowed = weights * inWindow;
            var grouped = scores.WindowGroups == 1 ? windowed.sum(1, keepdim: true) : windowed;
            var columns = ends.sub(Scalars.Of((long)rows)).add(row, Scalars.One).remainder(Scalars.Of((long)scores.Ring)); // [B, rows]
            scores.ClearWindow(layer, batch.ReadSlots); // an earlier chunk's rows are not in the first decode window
            using var index = scores.IndexOf(batch.ReadSlots, columns);
            scores.RecordWindow(layer, index, grouped);
            for (int b = 0; b < lengths.Length; b++) batch.Sequences[b].ScoreFloor = lengths[b] - windowRows[b];
        }
        if (policy.NeedsCumulativeScores)
            scores.RecordCumulative(layer, batch.ReadSlots, weights.sum(2), ones_like(weights[.., .., 0], ScalarType.Bool));
        return output;
    }

    /// <summary>Attention weights [B, KvH, rows, L] of each sequence's last <paramref name="rows"/> queries, summed over
    /// each KV head's query group (padded key positions get none).</summary>
    private Tensor RowWeights(int layer, Tensor query, int rows)
    {
        long b = query.shape[0], heads = query.shape[1], d = query.shape[3], t = query.shape[2];
        var (keys, _) = cache.Gather(layer, batch.ReadSlots, batch.ReadsCpuTier);                               // [B, L, KvH, D]
        var k = keys.permute(0, 2, 1, 3).to(ScalarType.Float32);                             // [B, KvH, L, D]
        long kvHeads = k.shape[1], group = heads / kvHeads;
        var q = query[.., .., (int)(t - rows)..].to(ScalarType.Float32).reshape(b, kvHeads, group * rows, d);
        var logits = q.matmul(k.transpose(2, 3)).view(b, kvHeads, group, rows, -1) / Scalars.Of(Math.Sqrt(d));
        var mask = batch.Mask[.., .., (int)(t - rows)..].unsqueeze(2);                       // [B, 1, 1, rows, L]
        return logits.masked_fill(mask.logical_not(), Scalars.NegativeInfinity).softmax(-1).sum(2);
    }
}
