using System.Net;
using System.Text.Json;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.OpenAi;

/// <summary>OpenAI's n: independent choices of one prompt, each its own sequence (seed + index), indexed in the answer.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class OpenAiChoicesTests(DevClusterFixture fixture) : IDisposable
{
    private const string Prompt = "And it came to pass, when the king heard";
    private readonly OpenAiHttp _http = new(fixture.Cluster.HttpPort);

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Seeded_completion_with_n_3_returns_the_grpc_stream_of_each_seed_and_counts_the_prompt_once()
    {
        var (status, body, _) = await _http.SendAsync("/v1/completions", JsonSerializer.Serialize(new
        {
            prompt = Prompt, max_tokens = 12, temperature = 0.9, seed = 5, ignore_eos = true, n = 3,
        }), DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.OK, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        for (int i = 0; i < 3; i++)
        {
            var grpc = await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(new GenerateRequest
            {
                Text = Prompt, SamplingParams = new Protos.SamplingParams { Temperature = 0.9, Seed = 5 + i, MaxTokens = 12, IgnoreEos = true },
            }, WithKey(DevClusterFixture.TesterKey)));
            Assert.Equal(grpc.Text, choices[i].GetProperty("text").GetString());
            if (i == 0) Assert.Equal(grpc.Complete.Usage.PromptTokens, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        }
        Assert.Equal(36, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Streamed_chat_with_n_3_indexes_every_chunk_and_finishes_each_choice()
    {
        using var response = await _http.StartAsync("/v1/chat/completions", JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 10, temperature = 0, ignore_eos = true, n = 3, stream = true,
            stream_options = new { include_usage = true },
        }), DevClusterFixture.TesterKey);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var texts = new string[3];
        var finishes = new List<int>();
        JsonElement? usage = null;
        await foreach (var chunk in OpenAiHttp.EventsAsync(response))
        {
            if (chunk.GetProperty("usage") is { ValueKind: JsonValueKind.Object } u) usage = u;
            foreach (var choice in chunk.GetProperty("choices").EnumerateArray())
            {
                int index = choice.GetProperty("index").GetInt32();
                if (choice.GetProperty("delta").TryGetProperty("content", out var content)) texts[index] += content.GetString();
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finishes.Add(index);
            }
        }
        Assert.Equal([0, 1, 2], finishes.Order());
        Assert.All(texts, t => Assert.Equal(texts[0], t)); // greedy: the same text thrice
        Assert.Equal(30, usage?.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Client_that_disconnects_aborts_every_choice()
    {
        var body = JsonSerializer.Serialize(new { prompt = "In the beginning", max_tokens = 1500, temperature = 0, ignore_eos = true, stream = true, n = 2 });
        using var cancel = new CancellationTokenSource();
        var response = await _http.StartAsync("/v1/completions", body, DevClusterFixture.TesterKey, cancel.Token);
        string? id = null;
        await foreach (var chunk in OpenAiHttp.EventsAsync(response))
        {
            id = chunk.GetProperty("id").GetString();
            if (fixture.Cluster.Engines.ActiveSequences == 2) break;
        }
        cancel.Cancel();
        response.Dispose();

        foreach (var choice in new[] { "-0", "-1" })
            Assert.Equal(SessionStates.Aborted, (await fixture.KvReleasedAndAborted(id + choice))?.State);
    }
}
