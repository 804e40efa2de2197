using AlisaCluster.Gateway.Admission;
using AlisaCluster.Protos;
using Microsoft.Extensions.DependencyInjection;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>Back-pressure: beyond the gateway's or a key's in-flight limit a stream is RESOURCE_EXHAUSTED at once,
/// and admission reopens when streams end.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class OverloadTests(DevClusterFixture fixture)
{
    private static GenerateRequest Long() => new()
    {
        Text = "In the beginning", SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 1500, IgnoreEos = true },
    };

    [Fact]
    public async Task Second_stream_of_a_key_limited_to_one_is_resource_exhausted()
    {
        await WaitUntilIdleAsync();
        using var cancel = new CancellationTokenSource();
        using var first = await StartAsync(DevClusterFixture.SoloKey, cancel.Token);
        var error = await ReadErrorAsync(DevClusterFixture.SoloKey);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("API key 'solo'", error.Status.Detail);

        // another key is still admitted
        using var other = await StartAsync(DevClusterFixture.TesterKey, cancel.Token);
        cancel.Cancel();
    }

    [Fact]
    public async Task Stream_beyond_the_gateway_limit_is_resource_exhausted_until_one_ends()
    {
        await WaitUntilIdleAsync();
        using var cancel = new CancellationTokenSource();
        var running = new List<AsyncServerStreamingCall<GenerateResponse>>();
        for (int i = 0; i < 4; i++) running.Add(await StartAsync(DevClusterFixture.TesterKey, cancel.Token));
        var error = await ReadErrorAsync(DevClusterFixture.TesterKey);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("limit 4", error.Status.Detail);

        cancel.Cancel();
        foreach (var call in running) call.Dispose();
        await WaitUntilIdleAsync();
        using var again = fixture.Cluster.Client().Generate(new GenerateRequest { Text = "Again", SamplingParams = new Protos.SamplingParams { MaxTokens = 2 } },
            WithKey(DevClusterFixture.TesterKey));
        await foreach (var _ in again.ResponseStream.ReadAllAsync()) { }
    }

    /// <summary>Cancelled streams give their admission back once the gateway has cancelled them on the silo; their KV
    /// comes back at the engine's next step (an earlier test's long streams must not leave the silo short of room).</summary>
    private async Task WaitUntilIdleAsync()
    {
        var limiter = fixture.Cluster.Gateway.GetRequiredService<InFlightLimiter>();
        var engines = fixture.Cluster.Engines.Engines;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (limiter.InFlight > 0 || engines.Any(e => e.Stats.KvBlocksUsed > 0))
        {
            Assert.True(DateTime.UtcNow < deadline,
                $"{limiter.InFlight} streams still in flight, {engines.Sum(e => e.Stats.KvBlocksUsed)} KV blocks held");
            await Task.Delay(50);
        }
    }

    /// <summary>A long stream that has delivered its first token (so it holds its admission).</summary>
    private async Task<AsyncServerStreamingCall<GenerateResponse>> StartAsync(string key, CancellationToken cancellationToken)
    {
        var call = fixture.Cluster.Client().Generate(Long(), WithKey(key, cancellationToken));
        Assert.True(await call.ResponseStream.MoveNext(cancellationToken));
        return call;
    }

    private async Task<RpcException> ReadErrorAsync(string key) => await Assert.ThrowsAsync<RpcException>(async () =>
    {
        using var call = fixture.Cluster.Client().Generate(Long(), WithKey(key));
        await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
    });
}
