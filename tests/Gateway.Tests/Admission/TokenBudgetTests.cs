using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Gateway.Tests.Admission;

/// <summary>A key's token budget is one count in Redis for every gateway: streams through two gateways use it up
/// together, and the one past it is RESOURCE_EXHAUSTED naming the key and its budget.</summary>
public sealed class TokenBudgetTests
{
    [Fact]
    public async Task A_keys_token_budget_is_shared_by_the_gateways()
    {
        var clusterId = "budget-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await RedisServer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Cluster:Redis"] = redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
            ["Gateway:RequireApiKey"] = "true", ["Gateway:ApiKeys:0:Name"] = "bob", ["Gateway:ApiKeys:0:Key"] = "bob-key",
            ["Gateway:ApiKeys:0:TokensPerMinute"] = "150",
        };
        await using var first = await InProcessCluster.StartAsync(settings);
        await using var second = await InProcessCluster.StartAsync(settings, withSilo: false);
        // the three requests must fall into one minute
        if (DateTime.UtcNow.Second > 45) await Task.Delay(TimeSpan.FromSeconds(61 - DateTime.UtcNow.Second));

        Task<StreamRecording> Generate(InProcessCluster gateway) => StreamRecording.ReadAsync(gateway.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { 1, 450, 1002, 310, 278, 3303 } },
            SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = 60, IgnoreEos = true },
        }, InProcessCluster.WithKey("bob-key")));
        Assert.Null((await Generate(first)).Error);   // 66 tokens
        Assert.Null((await Generate(second)).Error);  // 132
        var over = await Generate(first);             // 198 > 150
        Assert.Equal(StatusCode.ResourceExhausted, over.Error?.StatusCode);
        Assert.Contains("API key 'bob' would use 198 tokens this minute, over its budget of 150", over.Error!.Status.Detail);
    }
}
