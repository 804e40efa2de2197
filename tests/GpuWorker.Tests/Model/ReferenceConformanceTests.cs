using System.Text.Json;
using AlisaCluster.GpuWorker.Diagnostics;
using AlisaCluster.GpuWorker.Engine;

namespace AlisaCluster.GpuWorker.Tests.Model;

/// <summary>Our forward pass against transformers' dumps (models/*/reference-outputs.json).</summary>
[Collection(TinyModelCollection.Name)]
public sealed class ReferenceConformanceTests(TinyModels models)
{
    public static TheoryData<string> ModelNames => new(TinyModels.Names);

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();
    private static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    [Theory, MemberData(nameof(ModelNames))]
    public void LogitsMatchTransformers(string name)
    {
        var model = models.Get(name);
        foreach (var prompt in TinyModels.Reference(name).GetProperty("public").EnumerateArray())
        {
            var ids = Ints(prompt.GetProperty("input_ids"));
            var logits = ReferenceConformance.FullLogits(model.Model, ids);
            int last = ids.Length - 1;
            var top = prompt.GetProperty("last_logits_top10");
            var topIds = Ints(top.GetProperty("ids"));
            var topValues = Doubles(top.GetProperty("values"));
            for (int i = 0; i < topIds.Length; i++) Assert.Equal(topValues[i], logits[last, topIds[i]], 1e-3);
            Assert.Equal(topIds[0], LogitMath.ArgMax(logits, last));
            Assert.Equal(prompt.GetProperty("last_logsumexp").GetDouble(), LogitMath.LogSumExp(logits, last), 1e-3);
            var first16 = Doubles(prompt.GetProperty("logits_first_pos_first16"));
            for (int j = 0; j < first16.Length; j++) Assert.Equal(first16[j], logits[0, j], 1e-3);
        }
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void GreedyTokensMatchWithFullRerun(string name)
    {
        var prompt = TinyModels.Reference(name).GetProperty("public")[0];
        var expected = Ints(prompt.GetProperty("greedy_40_ids"));
        var generated = ReferenceConformance.GreedyByFullRerun(models.Get(name).Model, Ints(prompt.GetProperty("input_ids")), expected.Length);
        Assert.Equal(expected, generated);
    }

    [Theory, MemberData(nameof(ModelNames))]
    public async Task GreedyTokensMatchWithKvCacheThroughTheEngine(string name)
    {
        await using var engine = new InferenceEngine(models.Get(name), new EngineOptions { KvCapacityTokens = 4096 });
        foreach (var prompt in TinyModels.Reference(name).GetProperty("public").EnumerateArray())
        {
            var expected = Ints(prompt.GetProperty("greedy_40_ids"));
            var request = new GenerationRequest("r", Ints(prompt.GetProperty("input_ids")), SamplingParams.Greedy(expected.Length) with { IgnoreEos = true });
            var events = await engine.GenerateAsync(request).ToListAsync();
            Assert.Equal(expected, events.Select(e => e.TokenId));
            Assert.Equal(FinishReason.Length, events[^1].Finish);
        }
    }

    [Theory, MemberData(nameof(ModelNames))]
    public void Window512NllSumAndArgmaxMatch(string name)
    {
        var window = TinyModels.Reference(name).GetProperty("window512");
        var ids = Ints(window.GetProperty("input_ids"));
        var logits = ReferenceConformance.FullLogits(models.Get(name).Model, ids);
        Assert.Equal(window.GetProperty("nll_sum").GetDouble(), LogitMath.NllSum(logits, ids), 1e-2);
        var argmax = Ints(window.GetProperty("argmax"));
        Assert.Equal(argmax, Enumerable.Range(0, ids.Length).Select(t => LogitMath.ArgMax(logits, t)));
    }
}
