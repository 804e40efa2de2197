namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Picks the next token from one row of logits: repetition penalty, temperature, top-k, top-p, then a draw
/// from the sequence's own seeded random source (so a seed reproduces the output whatever else is batched).</summary>
public static class Sampler
{
    public readonly record struct Choice(int TokenId, float Logprob);

    public static Choice Sample(ReadOnlySpan<float> logits, SamplingParams sampling, IReadOnlyCollection<int> seenTokens, Random random)
    {
        var scores = logits.ToArray();
        float logNormalizer = LogSumExp(scores);
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

    private static float LogSumExp(float[] values)
    {
        float max = values.Max();
        double sum = 0;
        foreach (var v in values) sum += Math.Exp(v - max);
        return max + (float)Math.Log(sum);
    }
}
