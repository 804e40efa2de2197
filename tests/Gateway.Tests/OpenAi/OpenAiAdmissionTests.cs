using System.Net;
using System.Text.Json;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Metrics;
using AlisaCluster.Protos;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.OpenAi;

/// <summary>The OpenAI endpoints go through the same admission as gRPC Generate: a completion the workers' KV cannot
/// take and one past its key's token budget (a count shared with the key's gRPC streams) are OpenAI-style 429s with
/// the reason, a Retry-After, and a count in the failure metric.</summary>
public sealed class OpenAiAdmissionTests
{
    private static readonly int[] Prompt = [1, 450, 1002, 310, 278, 3303];

    private static string Completion(int maxTokens, bool stream = false) =>
        JsonSerializer.Serialize(new { prompt = Prompt, max_tokens = maxTokens, temperature = 0, ignore_eos = true, stream });

    private static Task<InProcessCluster> StartAsync() => InProcessCluster.StartAsync(new Dictionary<string, string?>
    {
        ["Worker:KvCapacityTokens"] = "512", ["Gateway:AdmissionWait"] = "00:00:00.300", ["Gateway:RequireApiKey"] = "true",
        ["Gateway:ApiKeys:0:Name"] = "bob", ["Gateway:ApiKeys:0:Key"] = "bob-key", ["Gateway:ApiKeys:0:TokensPerMinute"] = "150",
        ["Gateway:ApiKeys:1:Name"] = "carol", ["Gateway:ApiKeys:1:Key"] = "carol-key",
    });

    private static void AssertRateLimited(HttpStatusCode status, JsonElement body, string message)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        var error = body.GetProperty("error");
        Assert.Equal("rate_limit_error", error.GetProperty("type").GetString());
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_completion_beyond_the_workers_kv_is_429_and_a_smaller_one_runs()
    {
        await using var cluster = await StartAsync();
        using var http = new OpenAiHttp(cluster.HttpPort);
        double failedBefore = GatewayMetrics.RequestsFailed.WithLabels(nameof(StatusCode.ResourceExhausted)).Value;

        var (status, body, headers) = await http.SendAsync("/v1/completions", Completion(1500), "carol-key");
        AssertRateLimited(status, body, "the worker silos are at capacity");
        Assert.Contains("1506 needed", body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("1", headers.GetValues("Retry-After").Single());
        var (chat, chatBody, _) = await http.SendAsync("/v1/chat/completions",
            """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1500}""", "carol-key");
        AssertRateLimited(chat, chatBody, "the worker silos are at capacity");

        var (ok, completion, _) = await http.SendAsync("/v1/completions", Completion(20), "carol-key");
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal(20, completion.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.True(GatewayMetrics.RequestsFailed.WithLabels(nameof(StatusCode.ResourceExhausted)).Value >= failedBefore + 2);
    }

    [Fact]
    public async Task A_keys_token_budget_counts_both_apis_and_refuses_over_http_with_429()
    {
        await using var cluster = await StartAsync();
        using var http = new OpenAiHttp(cluster.HttpPort);
        // the three requests must fall into one minute
        if (DateTime.UtcNow.Second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - DateTime.UtcNow.Second));

        var (first, _, _) = await http.SendAsync("/v1/completions", Completion(60), "bob-key"); // 66 tokens
        Assert.Equal(HttpStatusCode.OK, first);
        var grpc = await StreamRecording.ReadAsync(cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { Prompt } },
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 60, IgnoreEos = true },
        }, WithKey("bob-key")));                                                                    // 132
        Assert.Null(grpc.Error);

        using var streamed = await http.StartAsync("/v1/completions", Completion(60, stream: true), "bob-key"); // 198 > 150
        var body = JsonDocument.Parse(await streamed.Content.ReadAsStringAsync()).RootElement;
        AssertRateLimited(streamed.StatusCode, body, "API key 'bob' would use 198 tokens this minute, over its budget of 150");
        int retryAfter = int.Parse(streamed.Headers.GetValues("Retry-After").Single());
        Assert.InRange(retryAfter, 1, 60);

        var (other, _, _) = await http.SendAsync("/v1/completions", Completion(60), "carol-key"); // another key's budget
        Assert.Equal(HttpStatusCode.OK, other);
    }
}
