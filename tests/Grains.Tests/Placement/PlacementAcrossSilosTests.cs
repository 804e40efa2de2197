using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Microsoft.Extensions.DependencyInjection;

namespace AlisaCluster.Grains.Tests.Placement;

/// <summary>Two worker silo processes and a gateway (an Orleans client) clustered through a real Redis: concurrent
/// sequences are spread over both workers by the load-based placement director, and none runs anywhere else.</summary>
public sealed class PlacementAcrossSilosTests
{
    [Fact]
    public async Task Concurrent_sequences_are_placed_on_both_worker_silos_and_only_there()
    {
        await using var cluster = await SiloProcessCluster.StartAsync("placement", silos: 2);
        var gateway = cluster.Gateway;
        await cluster.WaitForWorkersAsync(2, TimeSpan.FromSeconds(30));

        var ids = Enumerable.Range(0, 6).Select(i => $"placed-{i}-{Guid.NewGuid():N}").ToList();
        var results = await Task.WhenAll(ids.Select(id => StreamResult.ReadAsync(gateway.Client().Generate(new GenerateRequest
        {
            RequestId = id, Text = "In the beginning",
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 40, IgnoreEos = true },
        }))));
        Assert.All(results, r => Assert.Equal(40, r.Complete.Usage.CompletionTokens));

        var sessions = gateway.Gateway.GetRequiredService<ISessionStore>();
        var silos = new List<string>();
        foreach (var id in ids) silos.Add((await sessions.GetAsync(id, CancellationToken.None))!.Silo);
        var ports = silos.Select(s => int.Parse(s.Split('@')[0].Split(':')[1])).ToList();
        Assert.All(ports, p => Assert.Contains(p, cluster.Silos.Select(s => s.SiloPort)));
        Assert.All(cluster.Silos, s => Assert.Contains(s.SiloPort, ports));
    }
}
