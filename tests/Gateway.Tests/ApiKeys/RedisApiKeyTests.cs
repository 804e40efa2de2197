using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Protos;
using Grpc.Core;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Tests.ApiKeys;

/// <summary>With Redis configured, the gateway authenticates against keys an operator stored in Redis (hashed), and
/// a key's own quota applies.</summary>
public sealed class RedisApiKeyTests
{
    [Fact]
    public async Task Key_added_to_redis_by_an_operator_is_accepted_and_others_are_not()
    {
        await using var redis = await RedisServer.StartAsync();
        await using (var operatorConnection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            // what docs/cluster.md tells an operator to run (redis-cli HSET alisa:apikey:<sha256> name ... max_in_flight ...)
            await operatorConnection.GetDatabase().HashSetAsync($"alisa:apikey:{ApiKeyRecord.Hash("s3cret")}",
                [new HashEntry("name", "alice"), new HashEntry("max_in_flight", 2)]);
        }
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var store = new RedisApiKeyStore(connection);

        Assert.Equal(new ApiKeyRecord("alice", 2), await store.FindAsync("s3cret", CancellationToken.None));
        Assert.Null(await store.FindAsync("S3cret", CancellationToken.None));
        var stored = connection.GetServer(connection.GetEndPoints()[0]).Keys(pattern: "*").Select(k => k.ToString()).ToList();
        Assert.Equal([$"alisa:apikey:{ApiKeyRecord.Hash("s3cret")}"], stored);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("99999999999")]
    [InlineData("-3")]
    [InlineData("")]
    public async Task Unreadable_max_in_flight_falls_back_to_the_gateway_default(string stored)
    {
        await using var redis = await RedisServer.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        await connection.GetDatabase().HashSetAsync($"alisa:apikey:{ApiKeyRecord.Hash("typo")}",
            [new HashEntry("name", "carol"), new HashEntry("max_in_flight", stored)]);
        var store = new RedisApiKeyStore(connection);
        // 0 = the gateway's MaxInFlightPerKey (InFlightLimiter), instead of an exception failing every call UNKNOWN
        Assert.Equal(new ApiKeyRecord("carol", 0), await store.FindAsync("typo", CancellationToken.None));
        Assert.Equal(new ApiKeyRecord("carol", 0), await store.FindAsync("typo", CancellationToken.None));
    }

    [Fact]
    public async Task Gateway_with_redis_keys_rejects_an_unknown_key_and_serves_a_stored_one()
    {
        var clusterId = "auth-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:Redis"] = redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
            ["Gateway:RequireApiKey"] = "true", ["Gateway:ApiKeys:0:Name"] = "bob", ["Gateway:ApiKeys:0:Key"] = "bob-key",
        });
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await cluster.Client().GetModelInfoAsync(new GetModelInfoRequest(), InProcessCluster.WithKey("eve-key")));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);

        var result = await StreamResult.ReadAsync(cluster.Client().Generate(
            new GenerateRequest { Text = "In the beginning", SamplingParams = new Protos.SamplingParams { MaxTokens = 4 } },
            InProcessCluster.WithKey("bob-key")));
        Assert.Equal(4, result.Complete.Usage.CompletionTokens);
    }
}
