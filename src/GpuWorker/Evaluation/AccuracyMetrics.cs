using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Evaluation;

/// <summary>Accuracy of a KV policy through the real decode path: teacher-forced perplexity (DESIGN.md section 3)
/// and agreement of greedy tokens with dense decoding.</summary>
public static class AccuracyMetrics
{
    /// <summary>exp(total NLL / (windows x (W - 1))); every window starts from an empty cache; windows run
    /// <paramref name="batchSize"/> at a time in lockstep. <paramref name="onTokens"/> reports scored tokens.</summary>
    public sealed record PerplexityResult(double Ppl, long KvPoolBytes);

    public static PerplexityResult Perplexity(TransformerModel model, IReadOnlyList<int[]> windows, KvPolicy policy, KvStorageFormat format,
        int batchSize, Action<int>? onTokens = null)
    {
        long poolBytes = 0;
        using var _ = no_grad();
        int length = windows[0].Length;
        double nll = 0;
        foreach (var chunk in windows.Chunk(batchSize))
        {
            using var decoder = new LockstepDecoder(model, chunk.Length, length, policy, format);
            poolBytes = Math.Max(poolBytes, decoder.KvBytes);
            for (int t = 0; t + 1 < length; t++)
            {
                using var scope = NewDisposeScope();
                var logProbs = decoder.Step(chunk.Select(w => w[t]).ToArray());
                var targets = tensor(chunk.Select(w => (long)w[t + 1]).ToArray(), device: model.Device).view(-1, 1);
                nll -= logProbs.gather(1, targets).sum().to(ScalarType.Float64).item<double>();
                onTokens?.Invoke(chunk.Length);
            }
        }
        return new PerplexityResult(Math.Exp(nll / (windows.Count * (double)(length - 1))), poolBytes);
    }

    /// <summary>Dense greedy continuations of <paramref name="prompts"/> (all of one length).</summary>
    public static int[][] GreedyContinuations(TransformerModel model, IReadOnlyList<int[]> prompts, int count)
    {
        var outputs = prompts.Select(_ => new int[count]).ToArray();
        ContinuationSteps(model, prompts, count, KvPolicy.Dense, KvStorageFormat.Native, outputs,
            (b, i, predicted) => outputs[b][i] = predicted);
        return outputs;
    }

    /// <summary>Share of continuation steps where the policy's greedy token equals dense's, teacher-forced on the
    /// dense continuation (so one early difference does not count against every later token).</summary>
    public static double GreedyAgreement(TransformerModel model, IReadOnlyList<int[]> prompts, int[][] denseContinuations,
        KvPolicy policy, KvStorageFormat format)
    {
        int agree = 0, total = 0;
        ContinuationSteps(model, prompts, denseContinuations[0].Length, policy, format, denseContinuations, (b, i, predicted) =>
        {
            total++;
            if (predicted == denseContinuations[b][i]) agree++;
        });
        return (double)agree / total;
    }

    /// <summary>Feeds each prompt, then <paramref name="continuations"/> (as they are filled), token by token in lockstep;
    /// reports the greedy prediction for continuation token i of sequence b.</summary>
    private static void ContinuationSteps(TransformerModel model, IReadOnlyList<int[]> prompts, int count, KvPolicy policy,
        KvStorageFormat format, int[][] continuations, Action<int, int, int> onPrediction)
    {
        using var _ = no_grad();
        int promptLength = prompts[0].Length;
        using var decoder = new LockstepDecoder(model, prompts.Count, promptLength + count, policy, format);
        for (int t = 0; t < promptLength + count - 1; t++)
        {
            var fed = prompts.Select((p, b) => t < promptLength ? p[t] : continuations[b][t - promptLength]).ToArray();
            using var logProbs = decoder.Step(fed);
            if (t < promptLength - 1) continue;
            using var best = logProbs.argmax(-1).cpu();
            var ids = best.data<long>().ToArray();
            for (int b = 0; b < prompts.Count; b++) onPrediction(b, t - promptLength + 1, (int)ids[b]);
        }
    }
}
