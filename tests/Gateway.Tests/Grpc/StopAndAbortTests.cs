using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.ChatTemplates;
using AlisaCluster.Protos;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>The final message says what stopped a stream (EOS, a stop token, a stop string), and Abort ends another
/// call's stream by request id (only the caller's own).</summary>
[Collection(DevClusterCollection.Name)]
public sealed class StopAndAbortTests(DevClusterFixture fixture)
{
    private static readonly int[] Prompt = [1, 450, 1002, 310, 278, 3303];

    private async Task<StreamResult> GenerateAsync(Protos.SamplingParams sampling, int[]? prompt = null) =>
        await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt ?? Prompt } }, SamplingParams = sampling,
        }, WithKey(DevClusterFixture.TesterKey)));

    [Fact]
    public async Task Stop_reason_tells_a_stop_token_from_a_stop_string_and_from_length()
    {
        var greedy = await GenerateAsync(new Protos.SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true });
        Assert.Equal((FinishReason.Length, StopReason.Unspecified), (greedy.Complete.FinishReason, greedy.Complete.StopReason));

        var byToken = await GenerateAsync(new Protos.SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true, StopTokenIds = { greedy.Tokens[5] } });
        Assert.Equal((FinishReason.Stop, StopReason.StopToken), (byToken.Complete.FinishReason, byToken.Complete.StopReason));
        Assert.Equal(greedy.Tokens[5], byToken.Tokens[^1]);

        var stop = greedy.Text.Trim()[^6..][..3];
        var byString = await GenerateAsync(new Protos.SamplingParams { Temperature = 0, MaxTokens = 30, IgnoreEos = true, Stop = { stop } });
        Assert.Equal((FinishReason.Stop, StopReason.StopString), (byString.Complete.FinishReason, byString.Complete.StopReason));
    }

    [Fact]
    public async Task Stop_reason_is_eos_when_the_model_ends_the_text()
    {
        // the chat prompt the gateway renders for one user message: the model answers and ends with EOS (greedy)
        var text = ChatTemplate.Parse(ChatPrompts.Fallback).Render([("user", "Tell me about the king.")], true, "<s>", "</s>");
        var client = fixture.Cluster.Client();
        var prompt = await client.TokenizeAsync(new TokenizeRequest { Text = text }, WithKey(DevClusterFixture.TesterKey));
        var eos = (await client.GetModelInfoAsync(new GetModelInfoRequest(), WithKey(DevClusterFixture.TesterKey))).EosTokenId;
        var result = await GenerateAsync(new Protos.SamplingParams { Temperature = 0, MaxTokens = 200 }, [.. prompt.TokenIds]);
        Assert.Equal((FinishReason.Stop, StopReason.Eos), (result.Complete.FinishReason, result.Complete.StopReason));
        Assert.Equal(eos, result.Tokens[^1]);
    }

    [Fact]
    public async Task Abort_by_request_id_ends_the_stream_with_abort_and_frees_its_kv()
    {
        var requestId = "abort-" + Guid.NewGuid().ToString("N");
        var client = fixture.Cluster.Client();
        using var call = client.Generate(new GenerateRequest
        {
            RequestId = requestId, Tokenized = new TokenIds { Ids = { Prompt } },
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 1500, IgnoreEos = true },
        }, WithKey(DevClusterFixture.TesterKey));
        for (int i = 0; i < 5; i++) Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        // another key cannot see it; its own key aborts it
        var foreign = await Assert.ThrowsAsync<RpcException>(async () => await client.AbortAsync(new AbortRequest { RequestId = requestId }, WithKey(DevClusterFixture.SoloKey)));
        Assert.Equal(StatusCode.NotFound, foreign.StatusCode);
        var aborted = await client.AbortAsync(new AbortRequest { RequestId = requestId }, WithKey(DevClusterFixture.TesterKey));
        Assert.True(aborted.Aborted);

        GenerateComplete? complete = null;
        int tokens = 5;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.Complete is { } done) complete = done;
            else tokens++;
        }
        Assert.Equal(FinishReason.Abort, complete?.FinishReason);
        Assert.True(tokens < 1500);
        Assert.Equal(tokens, complete!.Usage.CompletionTokens);
        var engines = fixture.Cluster.Engines;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (engines.ActiveSequences > 0 || engines.Engines.Any(e => e.Stats.KvBlocksUsed > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "KV still held after the abort");
            await Task.Delay(50);
        }
        var again = await client.AbortAsync(new AbortRequest { RequestId = requestId }, WithKey(DevClusterFixture.TesterKey));
        Assert.False(again.Aborted);
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await client.AbortAsync(new AbortRequest { RequestId = "no-such-stream" }, WithKey(DevClusterFixture.TesterKey)));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }
}
