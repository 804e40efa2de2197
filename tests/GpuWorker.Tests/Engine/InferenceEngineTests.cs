using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Tests.Engine;

[Collection(TinyModelCollection.Name)]
public sealed class InferenceEngineTests(TinyModels models)
{
    private static readonly string[] Prompts =
    [
        "In the beginning",
        "And it came to pass, when the king heard the words of the prophet, that he rent his clothes",
        "The programmer said",
        "Blessed are they that mourn: for they shall be comforted. Blessed are the meek",
    ];

    private static async Task<List<int>> Generate(InferenceEngine engine, string prompt, SamplingParams sampling)
    {
        var ids = engine.Tokenizer.Encode(prompt);
        var events = await engine.GenerateAsync(new GenerationRequest(Guid.NewGuid().ToString(), ids, sampling)).ToListAsync();
        return events.Where(e => e.TokenId >= 0).Select(e => e.TokenId).ToList();
    }

    [Theory]
    [InlineData("tiny-llama")]
    [InlineData("tiny-opt")]
    public async Task BatchedDecodingGivesEachPromptItsSoloOutput(string name)
    {
        var sampling = SamplingParams.Greedy(24) with { IgnoreEos = true };
        await using var engine = new InferenceEngine(models.Get(name), new EngineOptions { KvCapacityTokens = 4096 });
        var solo = new List<List<int>>();
        foreach (var prompt in Prompts) solo.Add(await Generate(engine, prompt, sampling));
        var together = await Task.WhenAll(Prompts.Select(p => Generate(engine, p, sampling)));
        for (int i = 0; i < Prompts.Length; i++) Assert.Equal(solo[i], together[i]);
        Assert.True(engine.Stats.Steps > 0);
        // the time split: host time handing tokens out is counted; no device time on the CPU, and the eager step has no fallbacks
        Assert.True(engine.Stats.OutputSeconds > 0);
        Assert.True(engine.Stats.DecodeHostSeconds > 0);
        Assert.Equal(0, engine.Stats.PrefillGpuSeconds + engine.Stats.TierMoveGpuSeconds + engine.Stats.DecodeGpuSeconds);
        Assert.Equal(0, engine.Stats.EagerDecodeSteps);
    }

    [Theory]
    [InlineData(KvStorageFormat.Native)]
    [InlineData(KvStorageFormat.Int8)]
    public async Task RequestsWithDifferentKvPoliciesShareABatchWithoutAffectingEachOther(KvStorageFormat format)
    {
        string[] policies = ["dense", "swa:0.5", "h2o:0.7", "local:0.8", "streaming:0.5", "swa:0.6:per-head", "quest:0.7:local=0.25:sinks=4", "quest:0.8:ada", "quest:0.8:local=0.5:tokens",
            "swa:0.6:per-head:summaries", "local:0.8:summaries", "swa:0.6:per-head:pyramid", "h2o:0.7:pyramid=0.3"];
        var sampling = SamplingParams.Greedy(24) with { IgnoreEos = true };
        var options = new EngineOptions { KvCapacityTokens = 4096, PerHeadScores = true, KvFormat = format, EnablePageSummaries = true };
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), options);
        async Task<List<int>> Run(int i) => (await engine.GenerateAsync(new GenerationRequest($"p{i}", engine.Tokenizer.Encode(Prompts[i % Prompts.Length]),
            sampling) { Policy = KvPolicy.Parse(policies[i]) }).ToListAsync()).Select(e => e.TokenId).ToList();
        var alone = new List<List<int>>();
        for (int i = 0; i < policies.Length; i++) alone.Add(await Run(i));
        var together = await Task.WhenAll(Enumerable.Range(0, policies.Length).Select(Run));
        for (int i = 0; i < policies.Length; i++) Assert.True(alone[i].SequenceEqual(together[i]), $"{policies[i]}: {string.Join(",", alone[i])} alone vs {string.Join(",", together[i])} batched");
        Assert.NotEqual(alone[0], alone[3]); // the policies really differ (local:0.8 drifts from dense)
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task PreemptionUnderATinyKvPoolStillGivesTheSameTokens()
    {
        var sampling = SamplingParams.Greedy(40) with { IgnoreEos = true };
        var model = models.Get("tiny-llama");
        await using var roomy = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096 });
        var expected = await Task.WhenAll(Prompts.Select(p => Generate(roomy, p, sampling)));
        // 160 slots cannot hold four sequences of ~60 tokens: the engine must preempt and recompute
        await using var cramped = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 160 });
        var actual = await Task.WhenAll(Prompts.Select(p => Generate(cramped, p, sampling)));
        Assert.Equal(expected, actual);
        Assert.True(cramped.Stats.Preemptions > 0);
        Assert.Equal(0, cramped.Stats.KvBlocksUsed);
    }

    [Theory]
    [InlineData("tiny-llama")]
    [InlineData("tiny-opt")]
    public async Task ChunkedPrefillGivesTheSameTokensAsWholePrompts(string name)
    {
        var sampling = SamplingParams.Greedy(16) with { IgnoreEos = true };
        var model = models.Get(name);
        await using var whole = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096 });
        var expected = await Task.WhenAll(Prompts.Select(p => Generate(whole, p, sampling)));
        // 7 prompt tokens a step: every prompt is spread over several steps, interleaved with the others' decodes
        await using var chunked = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096, PrefillChunkTokens = 7, PrefillTokensWhenIdle = 7 });
        var actual = await Task.WhenAll(Prompts.Select(p => Generate(chunked, p, sampling)));
        Assert.Equal(expected, actual);
        Assert.True(chunked.Stats.Steps > whole.Stats.Steps);
        Assert.Equal(0, chunked.Stats.KvBlocksUsed);
    }

    [Fact]
    public void PrefillPlanKeepsTheBudgetAndBatchesEqualChunks()
    {
        var tokenizer = models.Get("tiny-llama").Tokenizer;
        Sequence Make(int promptLength, string policy) => new(new GenerationRequest(Guid.NewGuid().ToString(), Enumerable.Range(5, promptLength).ToArray(),
            SamplingParams.Greedy(4)), new SequenceKv(16) { Policy = KvPolicy.Parse(policy) }, new OutputText(tokenizer, []), 1);
        var plan = PrefillPlan.For([Make(11, "dense"), Make(11, "local:0.5"), Make(40, "dense"), Make(30, "swa:0.5")], tokenBudget: 32);
        // 10 + 10 (one batched group), then 12 of the 39 pending; SWA waits for a step of its own
        Assert.Equal([[10, 10], [12]], plan.Select(g => g.Select(c => c.Tokens).ToArray()).ToArray());
        var alone = PrefillPlan.For([Make(30, "swa:0.5"), Make(11, "dense")], tokenBudget: 8);
        Assert.Equal([[29]], alone.Select(g => g.Select(c => c.Tokens).ToArray()).ToArray());
        // whole scored prompts batch by length and policy
        var scored = PrefillPlan.For([Make(9, "swa:0.5"), Make(9, "h2o:0.5"), Make(9, "swa:0.5"), Make(7, "swa:0.5")], tokenBudget: 64);
        Assert.Equal([[8, 8], [8], [6]], scored.Select(g => g.Select(c => c.Tokens).ToArray()).ToArray());
    }

    [Theory]
    [InlineData("swa:0.5", KvStorageFormat.Native)]
    [InlineData("swa:0.5", KvStorageFormat.Int8)]
    [InlineData("swa:0.6:per-head", KvStorageFormat.Native)]
    [InlineData("h2o:0.5", KvStorageFormat.Int8)]
    public async Task ScoredPromptsPrefilledAsOneBatchGiveTheirSoloOutputs(string policy, KvStorageFormat format)
    {
        var sampling = SamplingParams.Greedy(20) with { IgnoreEos = true };
        var options = new EngineOptions { KvCapacityTokens = 4096, PerHeadScores = true, KvFormat = format };
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), options);
        // prompts of one length: admitted together, their prefill (and score seeding) is one forward
        var prompts = Prompts.Select(p => engine.Tokenizer.Encode(p).Take(6).ToArray()).ToArray();
        async Task<List<int>> Run(int i) => (await engine.GenerateAsync(new GenerationRequest($"p{i}", prompts[i], sampling)
            { Policy = KvPolicy.Parse(policy) }).ToListAsync()).Select(e => e.TokenId).ToList();
        var alone = new List<List<int>>();
        for (int i = 0; i < prompts.Length; i++) alone.Add(await Run(i));
        var together = await Task.WhenAll(Enumerable.Range(0, prompts.Length).Select(Run));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(alone[i], together[i]);
    }

    [Fact]
    public async Task SameSeedSameOutputAndDifferentSeedsDiffer()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions());
        var sampling = new SamplingParams { Temperature = 1.0, TopP = 0.95, TopK = 50, MaxTokens = 32, Seed = 7, IgnoreEos = true };
        var first = await Generate(engine, "In the beginning", sampling);
        var again = await Generate(engine, "In the beginning", sampling);
        var other = await Generate(engine, "In the beginning", sampling with { Seed = 8 });
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task StopStringEndsTheStreamAndIsNotReturned()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions());
        var ids = engine.Tokenizer.Encode("And it came to pass, when the king heard");
        var unbounded = await engine.GenerateAsync(new GenerationRequest("a", ids, SamplingParams.Greedy(40))).ToListAsync();
        var fullText = string.Concat(unbounded.Select(e => e.Text));
        Assert.Contains("king", fullText);
        var stopped = await engine.GenerateAsync(new GenerationRequest("b", ids, SamplingParams.Greedy(40) with { Stop = ["king"] })).ToListAsync();
        var text = string.Concat(stopped.Select(e => e.Text));
        Assert.Equal(fullText[..fullText.IndexOf("king", StringComparison.Ordinal)], text);
        Assert.Equal(FinishReason.Stop, stopped[^1].Finish);
    }

    [Fact]
    public async Task StreamedTextEqualsTheDecodedTokens()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-opt"), new EngineOptions());
        var ids = engine.Tokenizer.Encode("The programmer said to the computer");
        var events = await engine.GenerateAsync(new GenerationRequest("t", ids, SamplingParams.Greedy(30) with { IgnoreEos = true })).ToListAsync();
        var decoded = engine.Tokenizer.Decode(events.Select(e => e.TokenId));
        Assert.Equal(decoded, string.Concat(events.Select(e => e.Text)));
        Assert.Equal(30, events[^1].GeneratedTokens);
        Assert.Equal(ids.Count, events[^1].PromptTokens);
        Assert.All(events, e => Assert.True(e.Logprob <= 0));
    }

    [Fact]
    public async Task CancellingAStreamAbortsItAndFreesItsKv()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions());
        using var cts = new CancellationTokenSource();
        int received = 0;
        var ids = engine.Tokenizer.Encode("In the beginning");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in engine.GenerateAsync(new GenerationRequest("c", ids, SamplingParams.Greedy(1000) with { IgnoreEos = true }), cts.Token))
                if (++received == 5) cts.Cancel();
        });
        for (int i = 0; i < 100 && (engine.Stats.KvBlocksUsed > 0 || engine.Stats.Running > 0); i++) await Task.Delay(20);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
        Assert.Equal(0, engine.Stats.Running);
    }

    [Theory]
    [InlineData(-0.5, 1.0, 16, "temperature")]
    [InlineData(1.0, 0.0, 16, "top_p")]
    [InlineData(1.0, 1.5, 16, "top_p")]
    [InlineData(1.0, 1.0, 0, "max_tokens")]
    [InlineData(1.0, 1.0, 5000, "max_tokens")]
    [InlineData(1.0, 1.0, int.MaxValue, "max_tokens")] // prompt + max_tokens must not wrap past the context check
    public async Task BadRequestsAreRejectedNamingTheField(double temperature, double topP, int maxTokens, string field)
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions());
        var sampling = new SamplingParams { Temperature = temperature, TopP = topP, MaxTokens = maxTokens };
        var error = Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest("x", [1, 2, 3], sampling)));
        Assert.Equal(field, error.ParamName);
        Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest("y", [], SamplingParams.Greedy(4))));
        Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest("z", [1, 99999], SamplingParams.Greedy(4))));
    }

    [Fact]
    public async Task SummariesAreRefusedByNameWhereTheEngineKeepsNone()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions()); // summaries are off by default
        var error = Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest("x", [1, 2, 3], SamplingParams.Greedy(4))
            { Policy = KvPolicy.Parse("local:0.8:summaries") }));
        Assert.Equal("kv_policy", error.ParamName);
        Assert.Contains("needs page summaries", error.Message);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
    }
}
