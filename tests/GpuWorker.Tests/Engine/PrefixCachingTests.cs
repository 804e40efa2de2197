using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Tests.Engine;

/// <summary>Automatic prefix caching in the engine: a prompt that starts like an earlier one takes that prefix's KV
/// from the cache (reported as cached tokens) and generates exactly what it generates without the cache.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class PrefixCachingTests(TinyModels models)
{
    private const int BlockSize = 16;
    private const string Prefix = "And it came to pass, when the king heard the words of the prophet, that he rent his clothes, "
        + "and put sackcloth upon his flesh, and fasted, and lay in sackcloth, and went softly. And the word of the Lord came "
        + "to the prophet, saying, Seest thou how the king humbleth himself before me? because he humbleth himself, I will "
        + "not bring the evil in his days.";

    private sealed record Run(List<int> Tokens, List<float> Logprobs, int CachedTokens);

    private static async Task<Run> Generate(InferenceEngine engine, IReadOnlyList<int> prompt, string? policy = null, int maxTokens = 16)
    {
        var events = await engine.GenerateAsync(new GenerationRequest(Guid.NewGuid().ToString(), prompt, SamplingParams.Greedy(maxTokens) with { IgnoreEos = true })
        {
            Policy = policy is null ? null : KvPolicy.Parse(policy),
        }).ToListAsync();
        var tokens = events.Where(e => e.TokenId >= 0).ToList();
        return new Run([.. tokens.Select(e => e.TokenId)], [.. tokens.Select(e => e.Logprob)], events[^1].CachedTokens);
    }

    /// <summary>The shared prefix's token ids, then a different ending of each prompt.</summary>
    private (int[] Shared, int[] First, int[] Second) Prompts(InferenceEngine engine)
    {
        var shared = engine.Tokenizer.Encode(Prefix).ToArray();
        return (shared, [.. shared, .. engine.Tokenizer.Encode(" Then he said", addSpecialTokens: false)],
            [.. shared, .. engine.Tokenizer.Encode(" And the word of the Lord came", addSpecialTokens: false)]);
    }

    [Theory]
    [InlineData("tiny-llama", "dense", KvStorageFormat.Native)]
    [InlineData("tiny-llama", "dense", KvStorageFormat.Int8)]
    [InlineData("tiny-llama", "quest:0.5", KvStorageFormat.Native)]
    [InlineData("tiny-llama", "local:0.5", KvStorageFormat.Int8)]
    [InlineData("tiny-qwen2", "dense", KvStorageFormat.Native)]
    public async Task Second_prompt_shares_the_prefix_blocks_and_generates_what_it_generates_without_the_cache(string model, string policy, KvStorageFormat format)
    {
        var options = new EngineOptions { KvCapacityTokens = 2048, BlockSize = BlockSize, KvFormat = format };
        await using var cached = new InferenceEngine(models.Get(model), options);
        await using var uncached = new InferenceEngine(models.Get(model), options with { EnablePrefixCaching = false });
        var (shared, first, second) = Prompts(cached);
        Assert.True(shared.Length > 3 * BlockSize, $"the prefix has {shared.Length} tokens");

        // the first request caches its prompt's blocks (as dense, the policy that publishes); the second shares them
        var firstOn = await Generate(cached, first);
        var secondOn = await Generate(cached, second, policy);
        await Generate(uncached, first);
        var secondOff = await Generate(uncached, second, policy);

        Assert.Equal(0, firstOn.CachedTokens);
        Assert.Equal(shared.Length / BlockSize * BlockSize, secondOn.CachedTokens);
        Assert.Equal(0, secondOff.CachedTokens);
        Assert.Equal(secondOff.Tokens, secondOn.Tokens);
        Assert.All(secondOff.Logprobs.Zip(secondOn.Logprobs), p => Assert.Equal(p.First, p.Second, 1e-5));
        Assert.Equal(0, cached.Stats.KvBlocksUsed);
        Assert.True(cached.Stats.KvBlocksCached > 0);
        Assert.Equal(secondOn.CachedTokens, cached.Stats.PrefixHitTokens);
    }

    [Fact]
    public async Task A_prompt_whose_every_full_block_is_cached_still_computes_its_last_token()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions { KvCapacityTokens = 2048, BlockSize = BlockSize });
        var prompt = engine.Tokenizer.Encode(Prefix).Take(4 * BlockSize + 1).ToArray();
        var first = await Generate(engine, prompt);
        var again = await Generate(engine, prompt);
        Assert.Equal(4 * BlockSize, again.CachedTokens);
        Assert.Equal(first.Tokens, again.Tokens);
        // a prompt of whole blocks shares one block less: its last block holds the token to compute
        var whole = await Generate(engine, prompt[..(4 * BlockSize)]);
        Assert.Equal(3 * BlockSize, whole.CachedTokens);
    }

    [Fact]
    public async Task Under_pool_pressure_unheld_cached_blocks_are_evicted_tail_first_and_nothing_leaks()
    {
        // 8 blocks: a prompt of 5 blocks leaves 4 cached; a longer one then needs 7, so 3 are evicted
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions { KvCapacityTokens = 8 * BlockSize, BlockSize = BlockSize });
        var (shared, first, _) = Prompts(engine);
        var firstRun = await Generate(engine, first[..(4 * BlockSize + 6)], maxTokens: 8);
        Assert.Equal(4, engine.Stats.KvBlocksCached);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);

        var other = engine.Tokenizer.Encode(string.Concat(Enumerable.Repeat("The programmer said hello to the world. ", 12))).Take(100).ToArray();
        Assert.Equal(0, (await Generate(engine, other, maxTokens: 8)).CachedTokens);
        Assert.Equal(0, engine.Stats.Preemptions);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);

        // the evicted tail is recomputed, the head still shared; the output is unchanged
        var again = await Generate(engine, first[..(4 * BlockSize + 6)], maxTokens: 8);
        Assert.Equal(BlockSize, again.CachedTokens);
        Assert.Equal(firstRun.Tokens, again.Tokens);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
        Assert.Equal(8 * BlockSize, engine.Stats.KvTokensFree);
    }

    [Fact]
    public async Task Concurrent_sharers_and_preemptions_give_their_solo_outputs_and_release_every_hold()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions { KvCapacityTokens = 12 * BlockSize, BlockSize = BlockSize });
        var (_, first, second) = Prompts(engine);
        var soloFirst = await Generate(engine, first, maxTokens: 40);
        var soloSecond = await Generate(engine, second, maxTokens: 40);
        var together = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Generate(engine, i % 2 == 0 ? first : second, maxTokens: 40)));
        for (int i = 0; i < 4; i++) Assert.Equal(i % 2 == 0 ? soloFirst.Tokens : soloSecond.Tokens, together[i].Tokens);
        Assert.True(engine.Stats.Preemptions > 0, "the pool was meant to be too small for all four");
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
        Assert.Equal(0, engine.Stats.Running);
    }

    [Theory]
    [InlineData("swa:0.5")]
    [InlineData("h2o:0.5")]
    public async Task Policies_with_per_sequence_scores_bypass_the_cache(string policy)
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions { KvCapacityTokens = 2048, BlockSize = BlockSize });
        var (_, first, _) = Prompts(engine);
        await Generate(engine, first);
        Assert.Equal(0, (await Generate(engine, first, policy)).CachedTokens);
        Assert.Equal(0, (await Generate(engine, first, policy)).CachedTokens);
        Assert.True((await Generate(engine, first)).CachedTokens > 0);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task A_tiered_pool_has_no_prefix_cache()
    {
        await using var engine = new InferenceEngine(models.Get("tiny-llama"), new EngineOptions
        {
            KvCapacityTokens = 2048, BlockSize = BlockSize, CpuKvCapacityTokens = 512, EnableScoredPolicies = false,
        });
        var (_, first, _) = Prompts(engine);
        await Generate(engine, first);
        Assert.Equal(0, (await Generate(engine, first)).CachedTokens);
    }
}
