using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Picks the next token from one row of logits: repetition penalty, temperature, top-k, top-p, then a draw
/// from the sequence's own seeded random source (so a seed reproduces the output whatever else is batched).</summary>
public static class Sampler
{
    public readonly record struct Choice(int TokenId, float Logprob);

    /// <summary>Picks a token for every row of logits [B, vocab] (on the model's device). Greedy rows are decided on the
    /// device (argmax and log-normalizer: a few numbers cross to the host); only rows that really sample, or apply a
    /// repetition penalty, bring their whole row of logits to the host.</summary>
    public static Choice[] SampleBatch(Tensor logits, IReadOnlyList<Sequence> sequences)
    {
        using var scope = NewDisposeScope();
        var normalizer = logits.logsumexp(-1);
        var best = logits.argmax(-1);
        var bestLogProb = logits.gather(1, best.unsqueeze(1)).squeeze(1) - normalizer;
        var summary = stack([best.to(ScalarType.Float64), bestLogProb.to(ScalarType.Float64), normalizer.to(ScalarType.Float64)]).cpu().data<double>().ToArray();
        int rows = sequences.Count;
        var choices = new Choice[rows];
        var sampled = Enumerable.Range(0, rows).Where(b => !sequences[b].Sampling.IsGreedy || sequences[b].Sampling.RepetitionPenalty != 1.0).ToArray();
        for (int b = 0; b < rows; b++) choices[b] = new Choice((int)summary[b], (float)summary[rows + b]);
        if (sampled.Length == 0) return choices;
        var full = logits.index_select(0, tensor(sampled.Select(b => (long)b).ToArray(), device: logits.device)).cpu().data<float>().ToArray();
        int vocab = (int)logits.shape[1];
        for (int i = 0; i < sampled.Length; i++)
        {
            var sequence = sequences[sampled[i]];
            choices[sampled[i]] = Sample(full.AsSpan(i * vocab, vocab), sequence.Sampling, sequence.SeenTokens, sequence.Random, (float)summary[2 * rows + sampled[i]]);
        }
        return choices;
    }

    public static Choice Sample(ReadOnlySpan<float> logits, SamplingParams sampling, IReadOnlyCollection<int> seenTokens, Random random, float logNormalizer)
    {
        var scores = logits.ToArray();
        if (sampling.RepetitionPenalty != 1.0)
            foreach (var token in seenTokens)
                scores[token] = scores[token] > 0 ? scores[token] / (float)sampling.RepetitionPenalty : scores[token] * (float)sampling.RepetitionPenalty;

        int chosen = sampling.IsGreedy ? ArgMax(scores) : Draw(scores, sampling, random);
        return new Choice(chosen, logits[chosen] - logNormalizer);
    }

    private static int Draw(float[] scores, SamplingParams sampling, Random random)
    {
        // candidates sorted by score, cut by top-k, then softmax with temperature, then cut by top-p
        var order = Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ToArray();
        int keep = sampling.TopK > 0 ? Math.Min(sampling.TopK, order.Length) : order.Length;
        var probs = new double[keep];
        double max = scores[order[0]] / sampling.Temperature, total = 0;
        for (int i = 0; i < keep; i++) total += probs[i] = Math.Exp(scores[order[i]] / sampling.Temperature - max);
        double cumulative = 0;
        int nucleus = keep;
        for (int i = 0; i < keep; i++)
        {
            cumulative += probs[i] / total;
            if (cumulative >= sampling.TopP) { nucleus = i + 1; break; }
        }
        double mass = probs.Take(nucleus).Sum();
        double target = random.NextDouble() * mass;
        for (int i = 0; i < nucleus; i++)
        {
            target -= probs[i];
            if (target <= 0) return order[i];
        }
        return order[nucleus - 1];
    }

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
