using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>gRPC Generate's n: independent choices of one prompt in one stream, each its own sequence (seed + index),
/// every chunk and final message tagged with its choice; the same fan-out as the OpenAI endpoints.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class GenerateChoicesTests(DevClusterFixture fixture)
{
    private const string Prompt = "And it came to pass, when the king heard";

    [Fact]
    public async Task Seeded_n_3_gives_each_choice_the_stream_of_its_seed()
    {
        var requestId = "choices-" + Guid.NewGuid().ToString("N");
        var choices = await ReadChoicesAsync(new GenerateRequest
        {
            RequestId = requestId, Text = Prompt, N = 3,
            SamplingParams = new Protos.SamplingParams { Temperature = 0.9, Seed = 5, MaxTokens = 12, IgnoreEos = true, Logprobs = true },
        });
        Assert.Equal([0, 1, 2], choices.Keys.Order());
        for (int i = 0; i < 3; i++)
        {
            var single = await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
            {
                Text = Prompt, SamplingParams = new Protos.SamplingParams { Temperature = 0.9, Seed = 5 + i, MaxTokens = 12, IgnoreEos = true, Logprobs = true },
            }, WithKey(DevClusterFixture.TesterKey)));
            var choice = choices[i];
            Assert.Equal(single.Tokens, choice.Tokens);
            Assert.Equal(single.Text, choice.Text);
            // batched with its siblings rather than alone: the same values up to float rounding
            Assert.Equal(single.Logprobs.Count, choice.Logprobs.Count);
            Assert.All(single.Logprobs.Zip(choice.Logprobs), p => Assert.Equal(p.First, p.Second, 1e-4));
            Assert.Equal($"{requestId}-{i}", choice.Complete!.RequestId);
            Assert.Equal(FinishReason.Length, choice.Complete.FinishReason);
            Assert.Equal(single.Complete.Usage.PromptTokens, choice.Complete.Usage.PromptTokens);
            Assert.Equal(12, choice.Complete.Usage.CompletionTokens);
        }
        Assert.NotEqual(choices[0].Tokens, choices[1].Tokens);
    }

    [Fact]
    public async Task Greedy_n_2_gives_identical_choices()
    {
        var choices = await ReadChoicesAsync(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { 1, 450, 1002, 310, 278, 3303 } }, N = 2,
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 10, IgnoreEos = true },
        });
        Assert.Equal(2, choices.Count);
        Assert.Equal(10, choices[0].Tokens.Count);
        Assert.Equal(choices[0].Tokens, choices[1].Tokens);
        Assert.Equal(choices[0].Text, choices[1].Text);
    }

    [Fact]
    public async Task Cancelled_stream_aborts_every_choice_and_frees_their_kv()
    {
        var requestId = "choices-cancel-" + Guid.NewGuid().ToString("N");
        using var cancel = new CancellationTokenSource();
        var call = fixture.Cluster.Client().Generate(new GenerateRequest
        {
            RequestId = requestId, Text = "In the beginning", N = 2,
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 1500, IgnoreEos = true },
        }, WithKey(DevClusterFixture.TesterKey, cancel.Token));
        var seen = new HashSet<int>();
        while (seen.Count < 2 && await call.ResponseStream.MoveNext(cancel.Token)) seen.Add(call.ResponseStream.Current.Chunk.Index);
        Assert.True(fixture.Cluster.Engines.Engines.Sum(e => e.Stats.KvBlocksUsed) > 0);

        cancel.Cancel();
        call.Dispose();

        foreach (var index in new[] { 0, 1 })
            Assert.Equal(SessionStates.Aborted, (await fixture.KvReleasedAndAborted($"{requestId}-{index}"))?.State);
    }

    private sealed record Choice(List<int> Tokens, List<float> Logprobs, System.Text.StringBuilder Texts)
    {
        public GenerateComplete? Complete { get; set; }
        public string Text => Texts.ToString();
    }

    /// <summary>Reads the stream into its choices; each choice's final message comes after all its chunks.</summary>
    private async Task<Dictionary<int, Choice>> ReadChoicesAsync(GenerateRequest request)
    {
        var choices = new Dictionary<int, Choice>();
        using var call = fixture.Cluster.Client().Generate(request, WithKey(DevClusterFixture.TesterKey));
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            int index = response.Chunk?.Index ?? response.Complete.Index;
            if (!choices.TryGetValue(index, out var choice)) choices[index] = choice = new Choice([], [], new());
            Assert.Null(choice.Complete);
            if (response.Chunk is { } chunk)
            {
                choice.Tokens.AddRange(chunk.TokenIds);
                choice.Logprobs.AddRange(chunk.Logprobs);
                choice.Texts.Append(chunk.Text);
            }
            else choice.Complete = response.Complete;
        }
        Assert.All(choices.Values, c => Assert.NotNull(c.Complete));
        return choices;
    }
}
