using System.Net;
using AlisaCluster.Grains.Engines;
using AlisaCluster.Grains.Hosting;
using AlisaCluster.Silo.Health;
using Orleans.Configuration;
using StackExchange.Redis;

namespace AlisaCluster.Silo.Extensions;

public static class SiloHostingExtensions
{
    /// <summary>A GPU-worker silo: Redis clustering when Cluster:Redis is set, localhost clustering otherwise; the
    /// engines from the Worker section; shutdown waits for the worker to drain; probes and metrics over HTTP when
    /// Silo:HttpPort is set.</summary>
    public static IHostApplicationBuilder AddAlisaSilo(this IHostApplicationBuilder builder)
    {
        var cluster = builder.Configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        var worker = builder.Configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
        var http = builder.Configuration.GetSection(SiloHttpOptions.Section).Get<SiloHttpOptions>() ?? new SiloHttpOptions();
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
            silo.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Cluster:Membership"));
            if (cluster.UsesRedis)
            {
                silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(cluster.Redis));
                var advertised = string.IsNullOrWhiteSpace(cluster.AdvertisedIp) ? IPAddress.Loopback : IPAddress.Parse(cluster.AdvertisedIp);
                silo.ConfigureEndpoints(advertised, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
            }
            else
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort);
            }
            silo.AddAlisaWorker(builder.Configuration);
        });
        // the drain runs inside the host's stop: give it the drain timeout plus time for the handover and Orleans
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = worker.DrainTimeout + TimeSpan.FromSeconds(20));
        return builder;
    }
}
