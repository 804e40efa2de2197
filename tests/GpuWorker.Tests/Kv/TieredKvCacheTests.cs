using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Planning;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Kv;

/// <summary>ALISA's three phases on the tiny models: KV moves to the CPU and is deleted exactly where the plan says,
/// and reading it back from the CPU or recomputing it gives the logits of an all-GPU cache.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class TieredKvCacheTests(TinyModels models)
{
    private const int BlockSize = 16;
    private static readonly KvTierPlan Plan = new(P1: 40, P2: 72, Alpha: 1.0, Beta: 0.5, RecentTokens: 16);

    [Theory]
    [InlineData("tiny-llama", "dense", KvStorageFormat.Native)]
    [InlineData("tiny-opt", "dense", KvStorageFormat.Native)]
    [InlineData("tiny-llama", "swa:0.5", KvStorageFormat.Native)]
    [InlineData("tiny-llama", "swa:0.5:per-head", KvStorageFormat.Native)]
    [InlineData("tiny-llama", "dense", KvStorageFormat.Int8)]
    public void LogitsMatchAnAllGpuCacheThroughEveryPhase(string name, string policyText, KvStorageFormat format)
    {
        using var noGrad = no_grad();
        var model = models.Get(name);
        var policy = KvPolicy.Parse(policyText);
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "data", "heldout-kjv.txt"));
        var tokens = model.Tokenizer.Encode(text).Take(120).ToList();
        int prompt = 64; // recomputed prefixes stay within the densely prefilled prompt, so they are exact under SWA too

        using var reference = Run(model, policy, format, tiers: null, tokens, prompt, out var referenceLogits, out _);
        using var tiered = Run(model, policy, format, new KvTiers(CpuBlocks: 8, DroppedBlocks: 8), tokens, prompt, out var tieredLogits, out var phases);

        // INT8: recomputed K/V are quantized like stored ones, but fp noise can flip a code at a rounding boundary
        float tolerance = format == KvStorageFormat.Int8 ? 1e-2f : 1e-4f;
        for (int i = 0; i < referenceLogits.Count; i++)
        {
            float error = (referenceLogits[i] - tieredLogits[i]).abs().max().item<float>();
            Assert.True(error < tolerance, $"step {i} (length {prompt + i}, phase {phases[i]}): max logit error {error}");
        }
        for (int i = 0; i < phases.Count; i++)
        {
            int length = prompt + i; // written positions before the step
            int expected = length <= Plan.P1 ? 1 : length <= Plan.P2 ? 2 : 3;
            Assert.Equal(expected, phases[i]);
        }
        Assert.True(tiered.BytesFetched > 0 && tiered.BytesOffloaded > 0 && tiered.TokensRecomputed > 0);
        foreach (var t in referenceLogits.Concat(tieredLogits)) t.Dispose();
    }

    /// <summary>Prefills the prompt, then feeds the rest one token per step; applies the plan before each step when tiered.</summary>
    private static KvCache Run(LoadedModel model, KvPolicy policy, KvStorageFormat format, KvTiers? tiers, List<int> tokens, int prompt,
        out List<Tensor> logits, out List<int> phases)
    {
        var c = model.Config;
        var cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, blockCount: 16, BlockSize, model.Model.DType, model.Model.Device, format, tiers);
        using var scores = new TokenScores(c.NumLayers, cache.SlotCount, c.NumKvHeads, KvBudget.ScoreRing(0.5, 256), policy.PerKvHead, false, CPU);
        var runner = new ModelRunner(model.Model, cache, scores);
        var kv = cache.CreateSequence();
        kv.Tokens = tokens;
        kv.Policy = policy;
        Assert.True(cache.TryReserve(kv, prompt));
        logits = [];
        phases = [];
        runner.Forward([kv], [tokens.Take(prompt).ToList()], lastOnly: true).Dispose();
        for (int position = prompt; position < tokens.Count; position++)
        {
            if (tiers is not null)
            {
                var (offloaded, dropped) = Plan.BlocksAt(kv.Length, BlockSize);
                cache.MoveDown([(kv, offloaded, dropped)]);
            }
            phases.Add(kv.Phase);
            Assert.True(cache.TryReserve(kv, position + 1));
            logits.Add(runner.Forward([kv], [[tokens[position]]], lastOnly: true));
        }
        return cache;
    }

    [Fact]
    public async Task EngineGivesTheSameTokensAndFreesEveryTierWhenSequencesFinishOrAreCancelled()
    {
        var model = models.Get("tiny-llama");
        var sampling = SamplingParams.Greedy(72) with { IgnoreEos = true };
        string[] prompts = ["In the beginning God created", "And it came to pass", "Blessed are the meek", "The programmer said"];
        await using var roomy = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = 4096 });
        var expected = await Task.WhenAll(prompts.Select(p => Generate(roomy, p, sampling)));

        // 4 x ~80 tokens do not fit 192 GPU slots: the plan moves old tokens to the CPU past 32 and deletes some past 56
        var options = new EngineOptions
        {
            KvCapacityTokens = 192, CpuKvCapacityTokens = 512, RecomputeCapacityTokens = 512,
            TierPlan = new KvTierPlan(P1: 32, P2: 56, Alpha: 1.0, Beta: 0.5, RecentTokens: 16),
        };
        await using var tiered = new InferenceEngine(model, options);
        var actual = await Task.WhenAll(prompts.Select(p => Generate(tiered, p, sampling)));
        Assert.Equal(expected, actual);
        var stats = tiered.Stats;
        Assert.Equal(0, stats.Preemptions);
        Assert.True(stats.BytesFetched > 0 && stats.TokensRecomputed > 0, $"fetched {stats.BytesFetched}, recomputed {stats.TokensRecomputed}");
        Assert.Equal((0, 0), (stats.KvBlocksUsed, stats.CpuKvBlocksUsed));

        // cancelled mid-way in phase III: every tier is freed at once
        using var cancel = new CancellationTokenSource();
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in tiered.GenerateAsync(new GenerationRequest("cancelled", tiered.Tokenizer.Encode(prompts[0]), sampling), cancel.Token))
                if (++received == 60) cancel.Cancel();
        });
        await WaitUntil(() => tiered.Stats is { Running: 0, KvBlocksUsed: 0, CpuKvBlocksUsed: 0 });
    }

    /// <summary>On a GPU the copies to the CPU tier run on a side stream, committed by the next MoveDown; here the same
    /// bookkeeping with copies that complete at once.</summary>
    [Fact]
    public void BlocksInFlightAreReadFromTheGpuUntilCommittedAndNoTierLeaks()
    {
        using var cache = new KvCache(1, 1, 4, blockCount: 4, blockSize: 4, ScalarType.Float32, CPU, tiers: new KvTiers(CpuBlocks: 4, DroppedBlocks: 0))
        {
            DefersMoves = true,
        };
        var sequence = cache.CreateSequence();
        Assert.True(cache.TryReserve(sequence, 12));
        using var rows = Scalars.Arange(9 * 4).to(ScalarType.Float32).view(9, 1, 4);
        using (var plan = cache.PlanWrite([.. Enumerable.Range(0, 9).Select(p => sequence.SlotOf(p))])) cache.Write(0, plan, rows, -rows);
        sequence.Length = 9;
        long? gpuBlock = cache.KernelBlockOf(sequence.Blocks[0]);

        cache.MoveDown([(sequence, 1, 0)]);
        Assert.Equal(gpuBlock, cache.KernelBlockOf(sequence.Blocks[0])); // in flight: still read where it was
        Assert.Equal((0, 1, 1), (sequence.OffloadedBlocks, cache.FreeBlocks, cache.CpuUsedBlocks));

        cache.MoveDown([(sequence, 1, 0)]); // commits
        Assert.True(cache.KernelBlockOf(sequence.Blocks[0]) >= cache.GpuPoolBlocks);
        Assert.Equal((1, 2, 1), (sequence.OffloadedBlocks, cache.FreeBlocks, cache.CpuUsedBlocks));
        using var slots = tensor(Enumerable.Range(0, 9).Select(p => sequence.SlotOf(p)).ToArray());
        var (keys, values) = cache.Gather(0, slots);
        using (keys) using (values) Assert.True(keys.equal(rows).all().item<bool>() && values.equal(-rows).all().item<bool>());

        // the pool is short while a block is in flight: reserving commits it and takes its GPU block
        sequence.Length = 12;
        cache.MoveDown([(sequence, 2, 0)]);
        var other = cache.CreateSequence();
        Assert.True(cache.TryReserve(other, 12));
        Assert.Equal((2, 0), (sequence.OffloadedBlocks, cache.FreeBlocks));

        cache.Release(other);
        cache.MoveDown([(sequence, 3, 0)]);
        cache.Release(sequence); // with a block in flight
        Assert.Equal((0, 0, 4), (cache.UsedBlocks, cache.CpuUsedBlocks, cache.FreeBlocks));
    }

    [Fact]
    public void A_tier_plan_without_a_tier_to_move_to_is_refused()
    {
        var options = new EngineOptions { TierPlan = new KvTierPlan(P1: 32, P2: 56, Alpha: 1.0, Beta: 0.5, RecentTokens: 16) };
        var error = Assert.Throws<ArgumentException>(() => new InferenceEngine(models.Get("tiny-llama"), options));
        Assert.Contains("CpuKvCapacityTokens", error.Message);
    }

    private static async Task<List<int>> Generate(InferenceEngine engine, string prompt, SamplingParams sampling) =>
        (await engine.GenerateAsync(new GenerationRequest(Guid.NewGuid().ToString(), engine.Tokenizer.Encode(prompt), sampling)).ToListAsync())
        .Where(e => e.TokenId >= 0).Select(e => e.TokenId).ToList();

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 200 && !condition(); i++) await Task.Delay(25);
        Assert.True(condition());
    }
}
