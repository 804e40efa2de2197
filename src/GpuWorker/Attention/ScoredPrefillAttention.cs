using AlisaCluster.GpuWorker.Kv;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Attention;

/// <summary>Prefill for a batch of sequences under one SWA or H2O policy: attention itself is dense (SDPA); in addition
/// the weights of the query rows the policy needs are computed explicitly (fused kernels do not return them) and seed
/// its scores: SWA each sequence's last k rows (its first decode window), H2O all rows (cumulative attention). Rows of
/// the batch's widest window that fall before a sequence's own window count as nothing. What is the same in every
/// layer (which rows, where they land in the score ring) is worked out once, when the attention is made.</summary>
public sealed class ScoredPrefillAttention : IAttention, IDisposable
{
    private readonly KvCache _cache;
    private readonly AttentionBatch _batch;
    private readonly TokenScores _scores;
    private readonly KvPolicy _policy;
    private readonly int _rows;                                // query rows whose weights seed the scores (the widest window)
    private readonly Tensor? _inWindow;                        // [B, 1, rows, 1] 1 where a row is in its sequence's window
    private readonly TokenScores.WindowIndex? _windowIndex;    // the ring columns of those rows

    public ScoredPrefillAttention(KvCache cache, AttentionBatch batch, TokenScores scores)
    {
        (_cache, _batch, _scores) = (cache, batch, scores);
        _policy = batch.Sequences[0].Policy;
        if (batch.Sequences.Any(s => s.Policy != _policy)) throw new InvalidOperationException("a scored prefill batch shares one policy");
        var lengths = batch.StartPositions.Select(start => start + batch.QueryLength).ToArray();
        var windowRows = lengths.Select(length => _policy.NeedsCumulativeScores ? batch.QueryLength
            : Math.Min(batch.QueryLength, SelectionBudget.For(_policy, length).ScoreWindow)).ToArray();
        _rows = windowRows.Max();
        if (!_policy.NeedsWindowScores) return;
        using var scope = NewDisposeScope();
        var device = batch.ReadSlots.device;
        var row = Scalars.Arange(_rows, device).view(1, _rows);
        var ends = tensor(lengths.Select(l => (long)l).ToArray(), device: device).view(-1, 1);
        var firsts = tensor(windowRows.Select(r => (long)(_rows - r)).ToArray(), device: device).view(-1, 1);
        _inWindow = (row >= firsts).to(ScalarType.Float32).view(-1, 1, _rows, 1).DetachFromDisposeScope();
        var columns = ends.sub(Scalars.Of((long)_rows)).add(row, Scalars.One).remainder(Scalars.Of((long)scores.Ring)); // [B, rows]
        _windowIndex = scores.IndexOf(batch.ReadSlots, columns);
        foreach (var t in new[] { _windowIndex.Sums, _windowIndex.Written }) t.DetachFromDisposeScope();
        for (int b = 0; b < lengths.Length; b++) batch.Sequences[b].ScoreFloor = lengths[b] - windowRows[b];
    }

    public Tensor Forward(int layer, Tensor query, Tensor key, Tensor value)
    {
        var (output, keys) = PagedAttention.Attend(_cache, layer, _batch, query, key, value);
        using var scope = NewDisposeScope();
        using var _ = keys;
        _scores.Reset(layer, _batch.WriteSlots);
        var weights = RowWeights(query, keys);                                               // [B, KvH, rows, L]
        if (_policy.NeedsWindowScores)
        {
            var windowed = weights * _inWindow!;
            var grouped = _scores.WindowGroups == 1 ? windowed.sum(1, keepdim: true) : windowed;
            _scores.ClearWindow(layer, _batch.ReadSlots); // an earlier chunk's rows are not in the first decode window
            _scores.RecordWindow(layer, _windowIndex!, grouped);
        }
        if (_policy.NeedsCumulativeScores)
            _scores.RecordCumulative(layer, _batch.ReadSlots, weights.sum(2), ones_like(weights[.., .., 0], ScalarType.Bool));
        return output;
    }

    /// <summary>Attention weights [B, KvH, rows, L] of each sequence's last rows queries, summed over each KV head's
    /// query group (padded key positions get none), from the keys [B, KvH, L, D] the attention read.</summary>
    private Tensor RowWeights(Tensor query, Tensor keys)
    {
        long b = query.shape[0], heads = query.shape[1], d = query.shape[3], t = query.shape[2];
        var k = keys.to(ScalarType.Float32);
        long kvHeads = k.shape[1], group = heads / kvHeads;
        var q = query[.., .., (int)(t - _rows)..].to(ScalarType.Float32).reshape(b, kvHeads, group * _rows, d);
        var logits = q.matmul(k.transpose(2, 3)).view(b, kvHeads, group, _rows, -1) / Scalars.Of(Math.Sqrt(d));
        var mask = _batch.Mask[.., .., (int)(t - _rows)..].unsqueeze(2);                      // [B, 1, 1, rows, L]
        return logits.masked_fill(mask.logical_not(), Scalars.NegativeInfinity).softmax(-1).sum(2);
    }

    public void Dispose()
    {
        _inWindow?.Dispose();
        _windowIndex?.Dispose();
    }
}
