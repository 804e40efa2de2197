using System.Net;
using System.Net.Sockets;
using AlisaCluster.Grains.Engines;
using AlisaCluster.Grains.Hosting;
using AlisaCluster.Silo.Health;
using AlisaCluster.Silo.Membership;
using Orleans.Configuration;

namespace AlisaCluster.Silo.Extensions;

public static class SiloHostingExtensions
{
    /// <summary>What --help prints: the silo's settings with their defaults.</summary>
    public static string Help => SettingsHelp.Describe(
        "A GPU-worker silo: an Orleans silo whose sequence grains run on the engines of this machine's devices.",
        new SettingsSection(ClusterSettings.Section, new ClusterSettings()), new SettingsSection(WorkerOptions.Section, new WorkerOptions()),
        new SettingsSection(SiloHttpOptions.Section, new SiloHttpOptions())) +
        "\n  --Cluster:Membership:KEY  Orleans' ClusterMembershipOptions, e.g. ProbeTimeout (00:00:02 here)";

    /// <summary>A GPU-worker silo: Redis clustering when Cluster:Redis is set, localhost clustering otherwise; mutual TLS
    /// on its Orleans ports when Cluster:Tls:Enabled; the engines from the Worker section; shutdown waits for the worker
    /// to drain; probes and metrics over HTTP when Silo:HttpPort is set.</summary>
    public static IHostApplicationBuilder AddAlisaSilo(this IHostApplicationBuilder builder)
    {
        var cluster = builder.Configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        var worker = builder.Configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
        var http = builder.Configuration.GetSection(SiloHttpOptions.Section).Get<SiloHttpOptions>() ?? new SiloHttpOptions();
        EnsurePortsFree(cluster, http);
        // loaded here, so a missing file or wrong password stops the silo before it joins, naming the setting
        var tls = cluster.Tls.Enabled ? cluster.Tls.Load() : null;
        if (http.HttpPort > 0)
        {
            // registered before Orleans, so the endpoint answers (not ready) while the model loads
            builder.Services.Configure<SiloHttpOptions>(builder.Configuration.GetSection(SiloHttpOptions.Section));
            builder.Services.AddSingleton<EngineHealth>();
            builder.Services.AddSingleton<SiloMetrics>();
            builder.Services.AddHostedService<SiloHttpServer>();
        }
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => { o.ClusterId = cluster.ClusterId; o.ServiceId = cluster.ServiceId; });
            // a dead silo is declared after 3 missed 2 s probes (~6 s; Orleans' default is 3 x 5 s), so a replacement
            // can join and placement stops considering it soon; Cluster:Membership:* overrides
            silo.Configure<ClusterMembershipOptions>(o => o.ProbeTimeout = TimeSpan.FromSeconds(2));
            silo.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Cluster:Membership"));
            if (cluster.UsesRedis)
            {
                silo.UseRedisClustering(o => o.ConfigurationOptions = RedisConnection.Options(cluster.Redis));
                var advertised = string.IsNullOrWhiteSpace(cluster.AdvertisedIp) ? IPAddress.Loopback : IPAddress.Parse(cluster.AdvertisedIp);
                silo.ConfigureEndpoints(advertised, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
            }
            else
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort);
            }
            if (tls is not null) silo.UseTls(tls.Configure);
            silo.AddAlisaWorker(builder.Configuration);
        });
        if (cluster.UsesRedis)
        {
            builder.Services.Configure<ClusterSettings>(builder.Configuration.GetSection(ClusterSettings.Section));
            builder.Services.AddHostedService<MembershipTableGuard>();
        }
        // the drain runs inside the host's stop: give it the drain timeout plus time for the handover and Orleans
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = worker.DrainTimeout + TimeSpan.FromSeconds(20));
        return builder;
    }

    /// <summary>Refuses to start on ports another process listens on, before joining the cluster: a second silo on the
    /// running one's address would register as a newer generation of it, and Orleans would declare the running silo
    /// dead.</summary>
    private static void EnsurePortsFree(ClusterSettings cluster, SiloHttpOptions http)
    {
        foreach (var (setting, port) in new[] { ("Cluster:SiloPort", cluster.SiloPort), ("Cluster:GatewayPort", cluster.GatewayPort), ("Silo:HttpPort", http.HttpPort) })
        {
            if (port == 0) continue;
            var probe = new TcpListener(IPAddress.Any, port);
            try { probe.Start(); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new InvalidOperationException($"{setting} {port} is already in use (another silo on this machine?); give this silo free ports");
            }
            finally { probe.Stop(); }
        }
    }
}
