using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;

namespace AlisaCluster.Silo.Tests;

/// <summary>A silo started by mistake on a running silo's ports refuses to start, naming the port, and the running
/// silo is not harmed: its stream finishes where it runs.</summary>
public sealed class PortsInUseTests
{
    [Fact]
    public async Task A_silo_on_ports_in_use_refuses_to_start_and_the_running_silo_keeps_serving()
    {
        var clusterId = "ports-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await RedisServer.StartAsync();
        await using var running = await SiloProcess.StartAsync(redis.ConnectionString, clusterId);
        await using var gateway = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:Redis"] = redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
        }, withSilo: false);
        using var call = gateway.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { 1, 450, 1002, 310, 278, 3303 } },
            SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = 300, IgnoreEos = true },
        });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => SiloProcess.StartAsync(redis.ConnectionString, clusterId,
            new Dictionary<string, string> { ["Cluster:SiloPort"] = $"{running.SiloPort}", ["Cluster:GatewayPort"] = $"{running.GatewayPort}" }));
        Assert.Contains($"Cluster:SiloPort {running.SiloPort} is already in use", refused.Message);

        var rest = await StreamResult.ReadAsync(call);
        Assert.Equal(300, rest.Complete.Usage.CompletionTokens);
        Assert.Equal(0, rest.Complete.Usage.Resumes);
        Assert.False(running.HasExited);
    }
}
