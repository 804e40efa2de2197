using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.GpuWorker.Tests.Engine;

/// <summary>Async scheduling (a step issued before the previous step's tokens reach the host) changes when tokens are
/// handed out, never which: every stream equals the one the engine gives stepping in turn, including streams that end
/// mid-batch (a stop token, max_tokens of 1 and 3, a stop string), seeded sampling, a penalty that reads the previous
/// token, top logprobs, a pool small enough to preempt; and no KV is left behind.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class AsyncSchedulingTests(TinyModels models)
{
    [Theory]
    [InlineData("tiny-llama", 4096)]
    [InlineData("tiny-opt", 4096)]
    [InlineData("tiny-llama", 96)]
    public async Task StreamsAreTheSameWhetherStepsOverlapOrNot(string name, int kvTokens)
    {
        var model = models.Get(name);
        var prompt = model.Tokenizer.Encode("And it came to pass, when the king heard the words");
        var free = await Run(model, false, kvTokens, [(prompt, SamplingParams.Greedy(8) with { IgnoreEos = true })]);
        int stopToken = free[0][4].TokenId; // ends a greedy stream of this prompt at its fifth token (or earlier)
        var greedy = SamplingParams.Greedy(40) with { IgnoreEos = true };
        (IReadOnlyList<int>, SamplingParams)[] requests =
        [
            (prompt, greedy),
            (prompt, greedy with { StopTokenIds = [stopToken] }),
            (model.Tokenizer.Encode("In the beginning"), greedy with { MaxTokens = 3 }),
            (model.Tokenizer.Encode("The programmer said"), greedy with { MaxTokens = 1 }),
            (model.Tokenizer.Encode("Blessed are the meek"), new SamplingParams { Temperature = 0.8, TopP = 0.9, MaxTokens = 20, Seed = 7, IgnoreEos = true }),
            (model.Tokenizer.Encode("In the beginning"), greedy with { MaxTokens = 20, RepetitionPenalty = 1.3 }),
            (model.Tokenizer.Encode("The programmer said"), greedy with { MaxTokens = 12, TopLogprobs = 3 }),
            (prompt, greedy with { Stop = [model.Tokenizer.Decode([free[0][2].TokenId]).Trim()] }),
            // two more long streams: three of them outgrow the small pool together, whenever each was admitted
            (model.Tokenizer.Encode("Blessed are the meek"), greedy),
            (model.Tokenizer.Encode("The programmer said"), greedy),
        ];
        var inTurn = await Run(model, false, kvTokens, requests);
        var overlapped = await Run(model, true, kvTokens, requests);
        for (int r = 0; r < requests.Length; r++)
        {
            Assert.Equal(inTurn[r].Select(Describe), overlapped[r].Select(Describe));
            Assert.All(inTurn[r].Zip(overlapped[r]), pair => Assert.Equal(pair.First.Logprob, pair.Second.Logprob, 1e-4));
        }
        Assert.True(inTurn[1].Count < inTurn[0].Count, "the stop token ends its stream early");
        Assert.Equal(FinishReason.Length, inTurn[3][^1].Finish);
    }

    private static string Describe(GenerationEvent e) =>
        $"{e.TokenId}|{e.Text}|{e.Finish}|{e.Cause}|{e.GeneratedTokens}|{string.Join(",", e.TopLogprobs.Select(t => t.TokenId))}";

    private static async Task<List<GenerationEvent>[]> Run(LoadedModel model, bool asyncScheduling, int kvTokens,
        (IReadOnlyList<int> Prompt, SamplingParams Sampling)[] requests)
    {
        await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = kvTokens, AsyncScheduling = asyncScheduling });
        var streams = await Task.WhenAll(requests.Select((r, i) => engine.GenerateAsync(new GenerationRequest($"r{i}", r.Prompt, r.Sampling)).ToListAsync().AsTask()));
        if (kvTokens < 1024 && requests.Length > 1) Assert.True(engine.Stats.Preemptions > 0, "the small pool preempts");
        for (int i = 0; i < 100 && (engine.Stats.KvBlocksUsed > 0 || engine.Stats.Running > 0); i++) await Task.Delay(20);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
        Assert.Equal(0, engine.Stats.Running);
        return streams;
    }
}
