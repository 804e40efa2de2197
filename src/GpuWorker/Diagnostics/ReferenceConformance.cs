using System.Text.Json;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Diagnostics;

/// <summary>Checks a loaded model against transformers' dump (reference-outputs.json of the tiny checkpoints): token
/// ids, logits, greedy tokens with a full re-run and with the KV cache, and the NLL of a 512-token window.</summary>
public static class ReferenceConformance
{
    public sealed record Report(
        string Model, string Device, bool TokenIdsMatch, double MaxLogitError, double MaxLogSumExpError,
        bool GreedyFullRerunMatch, bool GreedyCachedMatch, double NllSum, double ReferenceNllSum, int ArgmaxAgreement, int Positions)
    {
        public bool Passed => TokenIdsMatch && MaxLogitError < 2e-3 && MaxLogSumExpError < 2e-3 && GreedyFullRerunMatch
            && GreedyCachedMatch && Math.Abs(NllSum - ReferenceNllSum) < 2e-2 * Math.Max(1, ReferenceNllSum / 1000);
    }

    /// <summary>Logits for every position of <paramref name="ids"/>, computed in one forward from an empty cache.</summary>
    public static float[,] FullLogits(TransformerModel model, IReadOnlyList<int> ids)
    {
        using var _ = no_grad();
        var c = model.Config;
        using var cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, (ids.Count + 15) / 16, 16, model.DType, model.Device);
        var kv = cache.CreateSequence();
        cache.TryReserve(kv, ids.Count);
        using var logits = new ModelRunner(model, cache).Forward([kv], [ids], lastOnly: false);
        using var cpu = logits[0].cpu();
        var result = new float[ids.Count, cpu.shape[1]];
        var values = cpu.data<float>().ToArray();
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(float));
        return result;
    }

    /// <summary>Greedy continuation where every step re-runs the whole sequence without a cache.</summary>
    public static List<int> GreedyByFullRerun(TransformerModel model, IReadOnlyList<int> prompt, int count)
    {
        var ids = prompt.ToList();
        for (int step = 0; step < count; step++) ids.Add(LogitMath.ArgMax(FullLogits(model, ids), ids.Count - 1));
        return ids.Skip(prompt.Count).ToList();
    }

    public static async Task<Report> RunAsync(LoadedModel model, string referencePath)
    {
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(referencePath));
        var root = doc.RootElement;
        bool idsMatch = true, fullMatch = true, cachedMatch = true;
        double maxLogitError = 0, maxLseError = 0;
        await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096 });
        foreach (var prompt in root.GetProperty("public").EnumerateArray())
        {
            var ids = Ints(prompt.GetProperty("input_ids"));
            idsMatch &= model.Tokenizer.Encode(prompt.GetProperty("prompt").GetString()!).SequenceEqual(ids);
            var logits = FullLogits(model.Model, ids);
            int last = ids.Count - 1;
            var top = prompt.GetProperty("last_logits_top10");
            var topIds = Ints(top.GetProperty("ids"));
            var topValues = Doubles(top.GetProperty("values"));
            for (int i = 0; i < topIds.Count; i++) maxLogitError = Math.Max(maxLogitError, Math.Abs(topValues[i] - logits[last, topIds[i]]));
            var first = Doubles(prompt.GetProperty("logits_first_pos_first16"));
            for (int j = 0; j < first.Count; j++) maxLogitError = Math.Max(maxLogitError, Math.Abs(first[j] - logits[0, j]));
            maxLseError = Math.Max(maxLseError, Math.Abs(prompt.GetProperty("last_logsumexp").GetDouble() - LogitMath.LogSumExp(logits, last)));

            var expected = Ints(prompt.GetProperty("greedy_40_ids"));
            fullMatch &= GreedyByFullRerun(model.Model, ids, expected.Count).SequenceEqual(expected);
            var request = new GenerationRequest("conformance", ids, SamplingParams.Greedy(expected.Count) with { IgnoreEos = true });
            var streamed = await engine.GenerateAsync(request).Select(e => e.TokenId).ToListAsync();
            cachedMatch &= streamed.SequenceEqual(expected);
        }
        var window = root.GetProperty("window512");
        var windowIds = Ints(window.GetProperty("input_ids"));
        var windowLogits = FullLogits(model.Model, windowIds);
        var argmax = Ints(window.GetProperty("argmax"));
        int agree = Enumerable.Range(0, windowIds.Count).Count(t => LogitMath.ArgMax(windowLogits, t) == argmax[t]);
        return new Report(model.Name, model.Model.Device.ToString(), idsMatch, maxLogitError, maxLseError, fullMatch, cachedMatch,
            LogitMath.NllSum(windowLogits, windowIds), window.GetProperty("nll_sum").GetDouble(), agree, windowIds.Count);
    }

    private static List<int> Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToList();
    private static List<double> Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToList();
}
