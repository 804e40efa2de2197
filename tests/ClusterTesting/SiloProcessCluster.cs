using System.Diagnostics;
using AlisaCluster.Gateway.Health;
using Microsoft.Extensions.DependencyInjection;

namespace AlisaCluster.ClusterTesting;

/// <summary>The cluster as deployed, on one machine: a real Redis, worker silos as their own processes (the real
/// program, killable like a crashed machine) and a gateway in this process, clustered through that Redis under a
/// fresh cluster id.</summary>
public sealed class SiloProcessCluster : IAsyncDisposable
{
    private readonly List<SiloProcess> _silos = [];
    private readonly IReadOnlyDictionary<string, string>? _siloSettings;

    private SiloProcessCluster(string clusterId, RedisServer redis, IReadOnlyDictionary<string, string>? siloSettings)
    {
        ClusterId = clusterId;
        Redis = redis;
        _siloSettings = siloSettings;
    }

    public string ClusterId { get; }
    public RedisServer Redis { get; }
    public InProcessCluster Gateway { get; private set; } = null!;
    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <param name="name">the cluster id's prefix (each run gets its own id)</param>
    /// <param name="silos">worker silo processes started before the gateway</param>
    /// <param name="siloSettings">settings for every silo, e.g. Worker:DrainTimeout</param>
    /// <param name="gatewaySettings">settings for the gateway beside its clustering</param>
    public static async Task<SiloProcessCluster> StartAsync(string name, int silos,
        IReadOnlyDictionary<string, string>? siloSettings = null, IReadOnlyDictionary<string, string?>? gatewaySettings = null)
    {
        var clusterId = $"{name}-{Guid.NewGuid().ToString("N")[..8]}";
        var cluster = new SiloProcessCluster(clusterId, await RedisServer.StartAsync(), siloSettings);
        try
        {
            for (int i = 0; i < silos; i++) await cluster.AddSiloAsync();
            var settings = new Dictionary<string, string?>(gatewaySettings ?? new Dictionary<string, string?>())
            {
                ["Cluster:Redis"] = cluster.Redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
            };
            cluster.Gateway = await InProcessCluster.StartAsync(settings, withSilo: false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more worker silo in the cluster (a replacement, say).</summary>
    public async Task<SiloProcess> AddSiloAsync()
    {
        var silo = await SiloProcess.StartAsync(Redis.ConnectionString, ClusterId, _siloSettings);
        _silos.Add(silo);
        return silo;
    }

    /// <summary>The silo process that runs the request, once its session has recorded one.</summary>
    public async Task<SiloProcess> SiloOfAsync(string requestId)
    {
        var address = await SessionProbe.SiloOfAsync(Gateway.Gateway, requestId);
        return _silos.SingleOrDefault(s => address.Contains($":{s.SiloPort}@"))
            ?? throw new InvalidOperationException($"request {requestId} runs on an unknown silo '{address}'");
    }

    /// <summary>Waits until the gateway counts <paramref name="count"/> worker silos that are not draining and is
    /// ready; returns how long that took.</summary>
    public async Task<TimeSpan> WaitForWorkersAsync(int count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var monitor = Gateway.Gateway.GetRequiredService<ClusterLoadMonitor>();
        while (monitor.Workers.Count(w => !w.Draining) < count)
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"the gateway saw {monitor.Workers.Count} workers, not {count}");
            await Task.Delay(100);
        }
        await Gateway.WaitUntilReadyAsync(timeout);
        return clock.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null) await Gateway.DisposeAsync();
        foreach (var silo in Enumerable.Reverse(_silos)) await silo.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
