using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Evaluation;

/// <summary>Learns SWA's local/global split per layer and KV head from text the model itself generates (so no evaluation
/// text tunes it). For every decode step of dense attention over those sequences and each candidate recent share f of
/// the budget b, it replays per-KV-head SWA's selection (the round(n r f) most recent positions, plus the top
/// b - recent older ones by the weight received in the previous k steps) and measures how far attention over the
/// selection (renormalized, as the sparse step computes it) lands from the dense output. The share with the smallest
/// error wins. Output error rather than captured attention mass: a sink token can hold much weight yet move the
/// output little, and the output is what the next layer sees.</summary>
public static class SplitCalibration
{
    /// <summary>Recent shares tried; 1 is plain local attention for that head, 0.5 the paper's split.</summary>
    public static readonly double[] Candidates = [0.5, 0.625, 0.75, 0.875, 1.0];

    /// <param name="Error">[sparsity, layer, KV head, candidate] squared output error relative to the dense output's energy</param>
    public sealed record Outcome(LearnedSplit Split, double[,,,] Error);

    /// <summary><paramref name="count"/> sequences of <paramref name="length"/> tokens sampled (temperature 1) from the
    /// model with dense attention, starting at BOS; a sampled EOS is followed by BOS, as documents are in the eval texts.</summary>
    public static int[][] Sample(TransformerModel model, int count, int length, int seed)
    {
        using var _ = no_grad();
        var random = new Random(seed);
        int bos = model.Config.BosTokenId, eos = model.Config.EosTokenId;
        var sequences = Enumerable.Range(0, count).Select(_ => new int[length]).ToArray();
        foreach (var sequence in sequences) sequence[0] = bos;
        using var decoder = new LockstepDecoder(model, count, length, KvPolicy.Dense);
        for (int t = 0; t + 1 < length; t++)
        {
            using var logProbs = decoder.Step(sequences.Select(s => s[t]).ToArray());
            using var probabilities = logProbs.exp().cpu();
            var p = probabilities.data<float>().ToArray();
            int vocab = (int)logProbs.shape[1];
            for (int b = 0; b < count; b++)
                sequences[b][t + 1] = sequences[b][t] == eos ? bos : Draw(p.AsSpan(b * vocab, vocab), random);
        }
        return sequences;
    }

    private static int Draw(ReadOnlySpan<float> p, Random random)
    {
        double u = random.NextDouble(), sum = 0;
        for (int i = 0; i < p.Length; i++)
            if ((sum += p[i]) > u) return i;
        return p.Length - 1; // rounding left the total just under u
    }

    public static Outcome Calibrate(TransformerModel model, IReadOnlyList<int[]> sequences, IReadOnlyList<double> sparsities, string source, int batch = 4)
    {
        var c = model.Config;
        var error = new double[sparsities.Count, c.NumLayers, c.NumKvHeads, Candidates.Length];
        var energy = new double[sparsities.Count, c.NumLayers, c.NumKvHeads, Candidates.Length];
        using var _ = no_grad();
        foreach (var chunk in sequences.Chunk(batch))
        {
            using var scope = NewDisposeScope();
            int length = chunk[0].Length;
            var tokens = tensor(chunk.SelectMany(s => s.Select(t => (long)t)).ToArray(), [chunk.Length, length], device: model.Device);
            var positions = Scalars.Arange(length, model.Device).view(1, length).expand(chunk.Length, length);
            var probe = new AttentionProbe((layer, weights, values) => Accumulate(layer, weights, values, sparsities, error, energy));
            model.Forward(tokens, positions, probe, lastOnly: true);
        }
        for (int s = 0; s < sparsities.Count; s++)
        for (int l = 0; l < c.NumLayers; l++)
        for (int h = 0; h < c.NumKvHeads; h++)
        for (int f = 0; f < Candidates.Length; f++)
            error[s, l, h, f] /= Math.Max(energy[s, l, h, f], 1e-30);
        var levels = sparsities.Select((sparsity, s) => new LearnedSplit.Level(sparsity,
            Enumerable.Range(0, c.NumLayers).Select(l => Enumerable.Range(0, c.NumKvHeads).Select(h => Candidates[Best(error, s, l, h)]).ToArray()).ToArray())).ToList();
        return new Outcome(new LearnedSplit(source, levels), error);
    }

    /// <summary>The candidate with the least error; on a tie the larger recent share (it needs no scores).</summary>
    private static int Best(double[,,,] error, int s, int l, int h)
    {
        int best = Candidates.Length - 1;
        for (int f = Candidates.Length - 2; f >= 0; f--)
            if (error[s, l, h, f] < error[s, l, h, best]) best = f;
        return best;
    }

    /// <summary>Adds one layer's squared output error (and the dense output's energy) per KV head for every sparsity and candidate.</summary>
    private static void Accumulate(int layer, Tensor weights, Tensor values, IReadOnlyList<double> sparsities, double[,,,] error, double[,,,] energy)
    {
        using var scope = NewDisposeScope();
        long t = weights.shape[^1];
        var device = weights.device;
        var v = values.unsqueeze(2);                                                     // [B, KvH, 1, T, D]
        var dense = weights.matmul(v);                                                   // [B, KvH, G, T, D]
        var denseEnergy = (dense * dense).sum([0, 2, 3, 4]).to(ScalarType.Float64).cpu().data<double>().ToArray();
        var grouped = weights.sum(2);                                                    // per-KV-head scores: [B, KvH, T, T]
        var before = cat([zeros_like(grouped[.., .., ..1]), grouped.cumsum(2)], 2);     // row i: weight received at steps < i
        var positions = Scalars.Arange(t, device).view(1, t);
        var steps = Scalars.Arange(t, device).view(t, 1);
        for (int s = 0; s < sparsities.Count; s++)
        {
            var k = Enumerable.Range(0, (int)t).Select(i => (long)SelectionBudget.For(Policy(sparsities[s], 1), i + 1).ScoreWindow).ToArray();
            var from = tensor(k.Select((kk, i) => Math.Max(0L, i - kk)).ToArray(), device: device);
            var scores = before.index_select(2, Scalars.Arange(t, device)).sub(before.index_select(2, from)); // steps t-k..t-1
            for (int f = 0; f < Candidates.Length; f++)
            {
                var budgets = Enumerable.Range(0, (int)t).Select(i => SelectionBudget.For(Policy(sparsities[s], Candidates[f]), i + 1)).ToArray();
                var firstRecent = tensor(budgets.Select(x => (long)(x.Length - x.Recent)).ToArray(), device: device).view(t, 1);
                var selected = ((positions >= firstRecent) & (positions <= steps)).expand_as(scores);   // [B, KvH, T, T]
                int maxGlobal = budgets.Max(x => x.Global);
                if (maxGlobal > 0)
                {
                    var ranking = scores.masked_fill((positions < firstRecent).logical_not(), Scalars.NegativeInfinity);
                    var (top, index) = ranking.topk(maxGlobal, dim: -1);
                    var globals = tensor(budgets.Select(x => (long)x.Global).ToArray(), device: device).view(t, 1);
                    var keep = (Scalars.Arange(maxGlobal, device).view(1, maxGlobal) < globals) & top.isfinite();
                    selected = selected | zeros_like(selected).scatter(-1, index, keep);
                }
                var kept = weights * selected.unsqueeze(2);
                var sparse = kept.matmul(v) / kept.sum(-1, keepdim: true).clamp_min(Scalars.Of(1e-30));
                var difference = sparse.sub(dense);
                var sums = (difference * difference).sum([0, 2, 3, 4]).to(ScalarType.Float64).cpu().data<double>().ToArray();
                for (int h = 0; h < sums.Length; h++)
                {
                    error[s, layer, h, f] += sums[h];
                    energy[s, layer, h, f] += denseEnergy[h];
                }
            }
        }
    }

    /// <summary>Per-KV-head SWA with recent share <paramref name="fraction"/> in every layer and head.</summary>
    private static KvPolicy Policy(double sparsity, double fraction) =>
        new(KvPolicyKind.Swa, sparsity) { PerKvHead = true, RecentFractions = [[fraction]] };
}
