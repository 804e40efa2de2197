using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Picks the next token for every row of a batch: repetition penalty, presence/frequency penalties and logit
/// bias, temperature, top-k, top-p, min-p, then a draw
/// from the sequence's own seeded random source (so a seed reproduces the output whatever else is batched).
/// Everything runs on the logits' device, batched; one small tensor (token ids and logprobs, plus the top logprobs of the
/// rows that ask for them) comes back to the host.</summary>
public static class Sampler
{
    /// <param name="Top">the row's <see cref="SamplingParams.TopLogprobs"/> most likely tokens, most likely first</param>
    public readonly record struct Choice(int TokenId, float Logprob, TokenLogprob[] Top);

    /// <summary>Picks a token for every row of logits [B, vocab] (on the model's device). Each sampled row consumes
    /// exactly one <c>Random.NextDouble()</c> of its sequence (the resume logic replays one per token); greedy rows none.</summary>
    public static Choice[] SampleBatch(Tensor logits, IReadOnlyList<Sequence> sequences)
    {
        using var picked = Pick(logits, sequences);
        using var host = picked.cpu();
        return Read(host, sequences);
    }

    /// <summary>The device half of <see cref="SampleBatch"/>: issues the sampling and returns [2 + 2K, B] float64 (token ids,
    /// exact in float64, then logprobs, then K rows of top ids and K of their logprobs, K the batch's largest
    /// <see cref="SamplingParams.TopLogprobs"/>) on the device, without waiting for it.</summary>
    public static Tensor Pick(Tensor logits, IReadOnlyList<Sequence> sequences)
    {
        using var scope = NewDisposeScope();
        int rows = sequences.Count;
        var sampled = new List<int>();
        var penalised = new List<int>();
        var biased = new List<int>();
        for (int b = 0; b < rows; b++)
        {
            var sampling = sequences[b].Sampling;
            if (!sampling.IsGreedy) sampled.Add(b);
            if (sampling.RepetitionPenalty != 1.0 && sequences[b].SeenTokens.Count > 0) penalised.Add(b);
            if (sampling.LogitBias.Count > 0 || ((sampling.PresencePenalty != 0 || sampling.FrequencyPenalty != 0) && sequences[b].Generated.Count > 0))
                biased.Add(b);
        }

        // the logprob is always that of the raw logits, whatever the penalty or temperature
        var normalizer = logits.logsumexp(-1);
        var scores = penalised.Count == 0 ? logits : Penalise(logits, sequences, penalised);
        if (biased.Count > 0) scores = AddBiases(scores, sequences, biased);
        var chosen = scores.argmax(-1);
        if (sampled.Count > 0)
        {
            var sampledRows = DeviceUpload.Of(sampled.Select(b => (long)b).ToArray(), logits.device);
            chosen = chosen.index_copy(0, sampledRows, Draw(scores.index_select(0, sampledRows), sampled.Select(b => sequences[b]).ToList()));
        }
        var logprob = logits.gather(1, chosen.unsqueeze(1)).squeeze(1).sub(normalizer);
        var summary = stack([chosen.to(ScalarType.Float64), logprob.to(ScalarType.Float64)]);
        int k = sequences.Max(s => s.Sampling.TopLogprobs);
        if (k > 0) summary = cat([summary, TopLogprobs(logits, normalizer, sequences, k)]);
        return summary.MoveToOuterDisposeScope();
    }

    /// <summary>The choices in <see cref="Pick"/>'s summary, once on the host (the engine brings it there with
    /// <see cref="PickedTokens"/>, the step's only device-to-host transfer).</summary>
    public static Choice[] Read(Tensor host, IReadOnlyList<Sequence> sequences)
    {
        int rows = (int)host.shape[1], k = ((int)host.shape[0] - 2) / 2;
        var summary = host.data<double>().ToArray();
        var choices = new Choice[rows];
        for (int b = 0; b < rows; b++)
        {
            var top = new TokenLogprob[sequences[b].Sampling.TopLogprobs];
            for (int i = 0; i < top.Length; i++) top[i] = new((int)summary[(2 + i) * rows + b], (float)summary[(2 + k + i) * rows + b]);
            choices[b] = new Choice((int)summary[b], (float)summary[rows + b], top);
        }
        return choices;
    }

    /// <summary>[2K, B] float64: the K most likely ids of the raw logits' log-softmax (the chosen logprob's distribution),
    /// then their logprobs; computed for the rows that ask for them, zeros elsewhere.</summary>
    private static Tensor TopLogprobs(Tensor logits, Tensor normalizer, IReadOnlyList<Sequence> sequences, int k)
    {
        var asking = Enumerable.Range(0, sequences.Count).Where(b => sequences[b].Sampling.TopLogprobs > 0).Select(b => (long)b).ToArray();
        var rows = DeviceUpload.Of(asking, logits.device);
        var (values, ids) = logits.index_select(0, rows).topk(k, -1);
        var top = cat([ids.to(ScalarType.Float64), values.sub(normalizer.index_select(0, rows).unsqueeze(1)).to(ScalarType.Float64)], 1);
        return zeros(sequences.Count, 2 * k, ScalarType.Float64, device: logits.device).index_copy(0, rows, top).t();
    }

    /// <summary>CTRL-style penalty (as in transformers) on the seen tokens of the given rows; returns a new [B, vocab].</summary>
    private static Tensor Penalise(Tensor logits, IReadOnlyList<Sequence> sequences, List<int> rows)
    {
        // one upload of [P, 1 + maxSeen] int64: the row's index, then its seen ids padded with a repeat of its first id
        // (scattering the same penalised value twice is harmless)
        int width = rows.Max(b => sequences[b].SeenTokens.Count);
        var packed = new long[rows.Count * (1 + width)];
        var penalties = new float[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            var row = packed.AsSpan(i * (1 + width), 1 + width);
            row[0] = rows[i];
            int j = 1;
            foreach (var token in sequences[rows[i]].SeenTokens) row[j++] = token;
            row[j..].Fill(row[1]);
            penalties[i] = (float)sequences[rows[i]].Sampling.RepetitionPenalty;
        }
        var index = DeviceUpload.Of(packed, [rows.Count, 1 + width], logits.device);
        var rowIndex = index.select(1, 0);
        var seen = index.narrow(1, 1, width);
        var penalty = DeviceUpload.Of(penalties, [rows.Count, 1], logits.device);
        var subset = logits.index_select(0, rowIndex);
        var old = subset.gather(1, seen);
        subset.scatter_(1, seen, where(old.gt(Scalars.Of(0.0)), old / penalty, old * penalty));
        return logits.index_copy(0, rowIndex, subset);
    }

    /// <summary>Presence/frequency penalties (counted over the generated tokens) and logit bias of the given rows, as one
    /// sparse add of (flat index, delta) pairs uploaded together; returns a new [B, vocab].</summary>
    private static Tensor AddBiases(Tensor scores, IReadOnlyList<Sequence> sequences, List<int> rows)
    {
        long vocab = scores.shape[1];
        var index = new List<long>();
        var delta = new List<float>();
        foreach (int b in rows)
        {
            var sampling = sequences[b].Sampling;
            var deltas = new Dictionary<int, double>();
            if (sampling.PresencePenalty != 0 || sampling.FrequencyPenalty != 0)
            {
                foreach (var (token, count) in sequences[b].Generated.CountBy(t => t))
                    deltas[token] = -(sampling.PresencePenalty + sampling.FrequencyPenalty * count);
            }
            foreach (var (token, bias) in sampling.LogitBias.Where(p => p.Key < vocab))
                deltas[token] = deltas.GetValueOrDefault(token) + bias;
            foreach (var (token, value) in deltas)
            {
                index.Add(b * vocab + token);
                delta.Add((float)value);
            }
        }
        var adjusted = scores.to(ScalarType.Float32, copy: true);
        adjusted.view(-1).index_add_(0, DeviceUpload.Of(index.ToArray(), scores.device), DeviceUpload.Of(delta.ToArray(), [delta.Count], scores.device), Scalars.Of(1.0));
        return adjusted;
    }

    /// <summary>Inverse-CDF draw for scores [S, vocab], one row per sampled sequence; returns the token ids [S].</summary>
    private static Tensor Draw(Tensor scores, IReadOnlyList<Sequence> sequences)
    {
        scores = scores.to(ScalarType.Float32);
        var device = scores.device;
        long vocab = scores.shape[1];
        int rows = sequences.Count;
        // one upload of the per-row parameters: temperature, top-k (vocab when off), top-p, min-p, the row's uniform draw
        const int width = 5;
        var packed = new float[rows * width];
        for (int i = 0; i < rows; i++)
        {
            var sampling = sequences[i].Sampling;
            packed[width * i] = (float)sampling.Temperature;
            packed[width * i + 1] = sampling.TopK > 0 ? Math.Min(sampling.TopK, vocab) : vocab;
            packed[width * i + 2] = (float)sampling.TopP;
            packed[width * i + 3] = (float)sampling.MinP;
            packed[width * i + 4] = (float)sequences[i].Random.NextDouble();
        }
        var parameters = DeviceUpload.Of(packed, [rows, width], device);
        var (temperature, topK, topP) = (parameters.narrow(1, 0, 1), parameters.narrow(1, 1, 1), parameters.narrow(1, 2, 1));
        var (minP, uniform) = (parameters.narrow(1, 3, 1), parameters.narrow(1, 4, 1));

        // candidates by descending score (stable: ties keep the lower id first), cut by top-k
        var (sorted, order) = scores.sort(-1, descending: true, stable: true);
        var rank = Scalars.Arange(vocab, device).unsqueeze(0);
        var inTopK = rank.lt(topK);
        // softmax with temperature, unnormalised (the max is the first column, 1); ranks past top-k and below min-p get no mass
        var probs = (sorted.sub(sorted.narrow(1, 0, 1)) / temperature).exp();
        inTopK = inTopK.logical_and(probs.ge(minP));
        probs = probs.masked_fill(inTopK.logical_not(), Scalars.Of(0.0));
        var cumulative = probs.cumsum(1);
        var before = cat([zeros(rows, 1, device: device), cumulative.narrow(1, 0, vocab - 1)], 1);
        // top-p: keep the smallest prefix whose mass reaches TopP, i.e. a rank while the mass before it is below; always the first
        var keep = inTopK.logical_and(before.lt(topP * cumulative.narrow(1, vocab - 1, 1))).logical_or(rank.eq(Scalars.Of(0L)));
        var kept = probs.masked_fill(keep.logical_not(), Scalars.Of(0.0)).cumsum(1);
        // the first rank whose cumulative kept mass reaches u * mass (clamped to the last kept rank)
        var target = uniform * kept.narrow(1, vocab - 1, 1);
        var position = kept.lt(target).sum(1).minimum(keep.sum(1).sub(Scalars.Of(1L)));
        return order.gather(1, position.unsqueeze(1)).squeeze(1);
    }
}
