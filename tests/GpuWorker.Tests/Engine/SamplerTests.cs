using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Tokenization;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Tests.Engine;

public sealed class SamplerTests
{
    private static readonly HfTokenizer Tokenizer = HfTokenizer.Load(Path.Combine(RepoPaths.Model("tiny-llama"), "tokenizer.json"));

    private static Sequence NewSequence(SamplingParams sampling, IReadOnlyList<int>? prompt = null, long seed = 1) =>
        new(new GenerationRequest(Guid.NewGuid().ToString(), prompt ?? [0], sampling), new SequenceKv(16), new OutputText(Tokenizer, []), seed);

    private static SamplingParams Sampled(double temperature = 1.0, int topK = 0, double topP = 1.0, long? seed = null) =>
        new() { Temperature = temperature, TopK = topK, TopP = topP, Seed = seed };

    private static float[][] RandomLogits(int rows, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray()).ToArray();
    }

    private static Sampler.Choice[] Sample(float[][] logits, IReadOnlyList<Sequence> sequences)
    {
        using var rows = tensor(logits.SelectMany(r => r).ToArray(), [logits.Length, logits[0].Length]);
        return Sampler.SampleBatch(rows, sequences);
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static double LogSoftmax(float[] row, int token)
    {
        double max = row.Max();
        return row[token] - max - Math.Log(row.Sum(x => Math.Exp(x - max)));
    }

    /// <summary>The exact distribution on the host, in double: top-k, softmax with temperature, top-p, renormalised.</summary>
    private static double[] Distribution(float[] logits, SamplingParams sampling)
    {
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        int keep = sampling.TopK > 0 ? Math.Min(sampling.TopK, order.Length) : order.Length;
        var weights = order.Take(keep).Select(i => Math.Exp((logits[i] - logits[order[0]]) / sampling.Temperature)).ToArray();
        double total = weights.Sum(), cumulative = 0;
        int nucleus = keep;
        for (int i = 0; i < keep; i++)
            if ((cumulative += weights[i] / total) >= sampling.TopP) { nucleus = i + 1; break; }
        double mass = weights.Take(nucleus).Sum();
        var probs = new double[logits.Length];
        for (int i = 0; i < nucleus; i++) probs[order[i]] = weights[i] / mass;
        return probs;
    }

    /// <summary>The host inverse-CDF draw the device must reproduce, for a given uniform.</summary>
    private static int HostDraw(float[] logits, SamplingParams sampling, double uniform)
    {
        var probs = Distribution(logits, sampling);
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Where(i => probs[i] > 0).ToArray();
        double target = uniform;
        foreach (var token in order)
            if ((target -= probs[token]) <= 0) return token;
        return order[^1];
    }

    [Fact]
    public void GreedyRowsReturnTheArgMaxAndTheExactRawLogprob()
    {
        var logits = RandomLogits(5, 300, seed: 1);
        var sequences = Enumerable.Range(0, 5).Select(_ => NewSequence(SamplingParams.Greedy(8))).ToList();
        var choices = Sample(logits, sequences);
        using var logSoftmax = tensor(logits.SelectMany(r => r).ToArray(), [5, 300]).log_softmax(-1);
        for (int b = 0; b < 5; b++)
        {
            Assert.Equal(ArgMax(logits[b]), choices[b].TokenId);
            Assert.Equal(LogSoftmax(logits[b], choices[b].TokenId), choices[b].Logprob, 1e-5);
            Assert.Equal(logSoftmax[b, choices[b].TokenId].item<float>(), choices[b].Logprob, 1e-5);
        }
    }

    [Fact]
    public void TopLogprobsLeadWithTheGreedyChoiceAreSortedAndOnlyForRowsThatAsk()
    {
        var logits = RandomLogits(3, 50, seed: 5);
        var choices = Sample(logits, [
            NewSequence(new SamplingParams { Temperature = 0, TopLogprobs = 5 }), NewSequence(SamplingParams.Greedy(4)),
            NewSequence(new SamplingParams { Temperature = 0, TopLogprobs = 20 }),
        ]);
        Assert.Empty(choices[1].Top);
        foreach (var (b, k) in new[] { (0, 5), (2, 20) })
        {
            var top = choices[b].Top;
            Assert.Equal(k, top.Length);
            Assert.Equal(choices[b].TokenId, top[0].TokenId);
            Assert.Equal(choices[b].Logprob, top[0].Logprob);
            Assert.Equal(top.Select(t => t.Logprob).OrderDescending(), top.Select(t => t.Logprob));
            Assert.All(top, t => Assert.True(t.Logprob <= 0));
            Assert.All(top, t => Assert.Equal(LogSoftmax(logits[b], t.TokenId), t.Logprob, 1e-4));
        }
    }

    [Fact]
    public void TopKOneWithTemperatureOneEqualsGreedyAndDrawsOncePerRow()
    {
        var logits = RandomLogits(6, 1000, seed: 2);
        var sequences = Enumerable.Range(0, 6).Select(b => NewSequence(Sampled(topK: 1, seed: 100 + b))).ToList();
        var choices = Sample(logits, sequences);
        for (int b = 0; b < 6; b++)
        {
            Assert.Equal(ArgMax(logits[b]), choices[b].TokenId);
            Assert.Equal(LogSoftmax(logits[b], choices[b].TokenId), choices[b].Logprob, 1e-5);
            var replay = new Random(100 + b);
            replay.NextDouble();
            Assert.Equal(replay.NextDouble(), sequences[b].Random.NextDouble()); // exactly one draw was consumed
        }
    }

    [Fact]
    public void EmpiricalFrequenciesMatchTheExactDistribution()
    {
        float[] row = [0.5f, 2.0f, -1.0f, 1.2f, 1.5f, 0.3f, 1.0f, -2.0f];
        var sampling = Sampled(temperature: 0.7, topK: 5, topP: 0.9);
        var expected = Distribution(row, sampling);
        Assert.Equal(4, expected.Count(p => p > 0)); // top-k cuts three tokens and top-p one more: both cuts are exercised
        // 100 sequences with their own seeds, 40 calls each: 4000 draws through the batched path
        var sequences = Enumerable.Range(0, 100).Select(b => NewSequence(sampling with { Seed = 1000 + b })).ToList();
        var logits = Enumerable.Repeat(row, sequences.Count).ToArray();
        var counts = new int[row.Length];
        for (int call = 0; call < 40; call++)
            foreach (var choice in Sample(logits, sequences)) counts[choice.TokenId]++;
        for (int token = 0; token < row.Length; token++)
        {
            if (expected[token] == 0) Assert.Equal(0, counts[token]);
            else Assert.True(Math.Abs(counts[token] / 4000.0 - expected[token]) < 0.03, $"token {token}: {counts[token] / 4000.0:F3} vs {expected[token]:F3}");
        }
    }

    [Fact]
    public void EachDrawMatchesTheHostInverseCdfForTheSequencesOwnUniform()
    {
        SamplingParams[] settings = [Sampled(0.8, topK: 40, topP: 0.95), Sampled(1.3), Sampled(0.5, topP: 0.7), Sampled(1.0, topK: 3)];
        var sequences = settings.Select((s, b) => NewSequence(s with { Seed = 7 + b })).ToList();
        var replays = settings.Select((_, b) => new Random(7 + b)).ToList();
        for (int call = 0; call < 25; call++)
        {
            var logits = RandomLogits(settings.Length, 500, seed: 50 + call);
            var choices = Sample(logits, sequences);
            for (int b = 0; b < settings.Length; b++)
                Assert.Equal(HostDraw(logits[b], settings[b], replays[b].NextDouble()), choices[b].TokenId);
        }
    }

    [Fact]
    public void SameSeedSameTokensWhateverElseIsInTheBatch()
    {
        var sampling = Sampled(0.9, topK: 20, topP: 0.9, seed: 42);
        var steps = Enumerable.Range(0, 30).Select(s => RandomLogits(1, 200, seed: 300 + s)[0]).ToList();
        var alone = NewSequence(sampling);
        var aloneTokens = steps.Select(row => Sample([row], [alone])[0].TokenId).ToList();

        var crowd = new List<Sequence>
        {
            NewSequence(SamplingParams.Greedy(8)),
            NewSequence(Sampled(1.5, seed: 5)),
            NewSequence(sampling),
            NewSequence(SamplingParams.Greedy(8) with { RepetitionPenalty = 1.3 }, prompt: [1, 2, 3]),
            NewSequence(Sampled(0.6, topK: 2, seed: 6) with { RepetitionPenalty = 1.2 }, prompt: [4]),
        };
        var crowdTokens = new List<int>();
        for (int s = 0; s < steps.Count; s++)
        {
            var others = RandomLogits(crowd.Count, 200, seed: 900 + s);
            others[2] = steps[s];
            crowdTokens.Add(Sample(others, crowd)[2].TokenId);
        }
        Assert.Equal(aloneTokens, crowdTokens);
        Assert.True(aloneTokens.Distinct().Count() > 1); // really sampled, not a constant
    }

    [Fact]
    public void RepetitionPenaltyChangesTheGreedyChoice()
    {
        float[] positive = [3.0f, 2.5f, 1.0f, -1.0f]; // 3.0 / 2 = 1.5 < 2.5
        float[] negative = [-1.0f, -1.5f, -3.0f, -4.0f]; // -1.0 * 2 = -2.0 < -1.5
        var penalty = SamplingParams.Greedy(8) with { RepetitionPenalty = 2.0 };
        var sequences = new List<Sequence>
        {
            NewSequence(penalty, prompt: [0, 3]),
            NewSequence(penalty, prompt: [0, 0, 3, 3, 3]), // longer seen list: padding repeats a real id
            NewSequence(SamplingParams.Greedy(8), prompt: [0]),
            NewSequence(Sampled(1.0, topK: 1, seed: 3) with { RepetitionPenalty = 2.0 }, prompt: [0]),
        };
        var choices = Sample([positive, negative, positive, negative], sequences);
        Assert.Equal([1, 1, 0, 1], choices.Select(c => c.TokenId));
        // the logprob stays that of the raw logits
        Assert.Equal(LogSoftmax(positive, 1), choices[0].Logprob, 1e-5);
        Assert.Equal(LogSoftmax(negative, 1), choices[1].Logprob, 1e-5);
    }

    [Fact]
    public void MixedBatchOfGreedyAndSampledRows()
    {
        var logits = RandomLogits(6, 400, seed: 4);
        SamplingParams[] settings = [SamplingParams.Greedy(8), Sampled(1.0, topK: 5), SamplingParams.Greedy(8), Sampled(0.7, topP: 0.5),
            Sampled(2.0, topK: 10, topP: 0.8), SamplingParams.Greedy(8)];
        var sequences = settings.Select((s, b) => NewSequence(s, seed: 11 + b)).ToList();
        var choices = Sample(logits, sequences);
        for (int b = 0; b < sequences.Count; b++)
        {
            var sampling = sequences[b].Sampling;
            if (sampling.IsGreedy)
            {
                Assert.Equal(ArgMax(logits[b]), choices[b].TokenId);
                Assert.Equal(new Random(11 + b).NextDouble(), sequences[b].Random.NextDouble()); // no draw consumed
            }
            else Assert.True(Distribution(logits[b], sampling)[choices[b].TokenId] > 0, $"row {b} picked a token outside its top-k/top-p");
            Assert.Equal(LogSoftmax(logits[b], choices[b].TokenId), choices[b].Logprob, 1e-5);
        }
    }

    [Fact]
    public void PresenceAndFrequencyPenaltiesAndLogitBiasShiftTheScoresAsOpenAiDefinesThem()
    {
        var logits = RandomLogits(3, 200, seed: 5);
        int top = ArgMax(logits[0]);
        // row 0: the top token generated twice loses 2 * frequency + presence; row 1: the top token banned by logit bias;
        // row 2: no adjustment (unaffected by its neighbours)
        var penalised = NewSequence(SamplingParams.Greedy(8) with { PresencePenalty = 0.5, FrequencyPenalty = 1.5 });
        penalised.Append(top);
        penalised.Append(top);
        var banned = NewSequence(SamplingParams.Greedy(8) with { LogitBias = new Dictionary<int, float> { [ArgMax(logits[1])] = -100 } });
        var plain = NewSequence(SamplingParams.Greedy(8));
        var choices = Sample(logits, [penalised, banned, plain]);

        var expected0 = logits[0].ToArray();
        expected0[top] -= 2 * 1.5f + 0.5f;
        var expected1 = logits[1].ToArray();
        expected1[ArgMax(logits[1])] -= 100;
        Assert.Equal(ArgMax(expected0), choices[0].TokenId);
        Assert.Equal(ArgMax(expected1), choices[1].TokenId);
        Assert.Equal(ArgMax(logits[2]), choices[2].TokenId);
        Assert.NotEqual(top, choices[0].TokenId);
        // the logprob stays that of the raw logits
        Assert.Equal(LogSoftmax(logits[0], choices[0].TokenId), choices[0].Logprob, 1e-5);
    }

    [Fact]
    public void MinPKeepsOnlyTokensWithinItsShareOfTheTopProbability()
    {
        var logits = RandomLogits(1, 100, seed: 6);
        const double minP = 0.3, temperature = 0.9;
        double max = logits[0].Max();
        var allowed = Enumerable.Range(0, 100).Where(i => Math.Exp((logits[0][i] - max) / temperature) >= minP).ToHashSet();
        var seen = new HashSet<int>();
        for (int seed = 0; seed < 200; seed++)
        {
            var choice = Sample(logits, [NewSequence(Sampled(temperature, seed: seed) with { MinP = minP }, seed: seed)])[0];
            Assert.Contains(choice.TokenId, allowed);
            seen.Add(choice.TokenId);
        }
        Assert.True(seen.Count > 1 || allowed.Count == 1, "min-p should leave the draw more than one token here");
    }

    [Fact]
    public void OpenAiSamplingFieldsOutOfRangeAreRejectedByName()
    {
        Assert.Equal("presence_penalty", Assert.Throws<ArgumentException>(() => (SamplingParams.Greedy(1) with { PresencePenalty = 2.5 }).Validate()).ParamName);
        Assert.Equal("frequency_penalty", Assert.Throws<ArgumentException>(() => (SamplingParams.Greedy(1) with { FrequencyPenalty = -3 }).Validate()).ParamName);
        Assert.Equal("min_p", Assert.Throws<ArgumentException>(() => (SamplingParams.Greedy(1) with { MinP = 1.5 }).Validate()).ParamName);
        Assert.Equal("logit_bias", Assert.Throws<ArgumentException>(() =>
            (SamplingParams.Greedy(1) with { LogitBias = new Dictionary<int, float> { [3] = 101 } }).Validate()).ParamName);
    }
}
