using System.Diagnostics;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Grpc.Core;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Tests.Resilience;

/// <summary>Redis is a dependency that may go away: while it is down, known keys and running streams keep working and
/// what cannot be served is UNAVAILABLE (fast, never UNKNOWN); when it comes back empty, the configured keys, the
/// membership table and the sessions written meanwhile reappear without a human.</summary>
[Collection(TimingCollection.Name)]
public sealed class RedisRestartTests
{
    private static readonly int[] Prompt = [1, 450, 1002, 310, 278, 3303];
    private const string Key = "alice-key";

    private static GenerateRequest Greedy(int maxTokens, string requestId) => new()
    {
        RequestId = requestId, Tokenized = new TokenIds { Ids = { Prompt } },
        SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true },
    };

    [Fact]
    public async Task A_redis_outage_stalls_nothing_and_an_empty_redis_is_refilled_without_a_human()
    {
        var clusterId = "redis-restart-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:Redis"] = redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
            ["Gateway:RequireApiKey"] = "true", ["Gateway:ApiKeys:0:Name"] = "alice", ["Gateway:ApiKeys:0:Key"] = Key,
            ["Gateway:ApiKeyReseedInterval"] = "00:00:01",
        });
        var reference = await DirectEngine.GreedyAsync(Prompt, 300);
        var warm = await StreamRecording.ReadAsync(cluster.Client().Generate(Greedy(8, "warm-" + Guid.NewGuid().ToString("N")), InProcessCluster.WithKey(Key)));
        Assert.Equal(reference.Take(8), warm.Tokens);

        // a stream running through the outage
        var throughId = "through-" + Guid.NewGuid().ToString("N");
        using var through = cluster.Client().Generate(Greedy(300, throughId), InProcessCluster.WithKey(Key));
        Assert.True(await through.ResponseStream.MoveNext(CancellationToken.None));
        var running = StreamRecording.ReadAsync(through);
        redis.Kill();

        // while Redis is down: a known key is served (cached), a new stream runs, an unknown key is UNAVAILABLE at once
        var duringId = "during-" + Guid.NewGuid().ToString("N");
        var during = await StreamRecording.ReadAsync(cluster.Client().Generate(Greedy(40, duringId), InProcessCluster.WithKey(Key)));
        Assert.Null(during.Error);
        Assert.Equal(reference.Take(40), during.Tokens);
        var clock = Stopwatch.StartNew();
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await cluster.Client().GetModelInfoAsync(new GetModelInfoRequest(), InProcessCluster.WithKey("mallory-key")));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("API key store (Redis) is unavailable", refused.Status.Detail);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"refusing took {clock.Elapsed}");

        await redis.RestartAsync();
        var streamed = await running;
        Assert.Null(streamed.Error);
        Assert.Equal(reference.Skip(1), streamed.Tokens);
        Assert.True(streamed.MaxGap < TimeSpan.FromSeconds(1), $"a token gap of {streamed.MaxGap} during the outage");

        // Redis came back empty: the configured key, the membership table and both sessions are written back
        await using var check = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var db = check.GetDatabase();
        await WaitUntilAsync(() => db.KeyExistsAsync($"alisa:apikey:{ApiKeyRecord.Hash(Key)}"), "the seeded API key was not written back");
        await WaitUntilAsync(() => db.KeyExistsAsync($"{clusterId}/members/{clusterId}"), "the membership table was not restored");
        foreach (var (id, tokens) in new[] { (throughId, 300), (duringId, 40) })
        {
            var session = await SessionProbe.WaitForAsync(cluster.Gateway, id, s => s.State == SessionStates.Finished, s => s);
            Assert.Equal(reference.Take(tokens), session.GeneratedTokens);
        }
        await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(10));
        var after = await StreamRecording.ReadAsync(cluster.Client().Generate(Greedy(8, "after-" + Guid.NewGuid().ToString("N")), InProcessCluster.WithKey(Key)));
        Assert.Equal(reference.Take(8), after.Tokens);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100);
        }
    }
}
