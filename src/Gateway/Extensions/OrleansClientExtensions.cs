using AlisaCluster.Grains.Hosting;
using Orleans.Configuration;

namespace AlisaCluster.Gateway.Extensions;

public static class OrleansClientExtensions
{
    /// <summary>The gateway is an Orleans client (it never hosts grains): Redis clustering when Cluster:Redis is set,
    /// else the localhost dev cluster; mutual TLS with the silos when Cluster:Tls:Enabled. It keeps retrying the
    /// connection while the silos come up.</summary>
    public static WebApplicationBuilder AddAlisaOrleansClient(this WebApplicationBuilder builder, ClusterSettings cluster)
    {
        // loaded here, so a missing file or wrong password stops the gateway at start, naming the setting
        var tls = cluster.Tls.Enabled ? cluster.Tls.Load() : null;
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => { o.ClusterId = cluster.ClusterId; o.ServiceId = cluster.ServiceId; });
            // learn of joined and dead silos in seconds (default 30 s); a dead gateway's connection fails at once anyway
            client.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            if (cluster.UsesRedis) client.UseRedisClustering(o => o.ConfigurationOptions = RedisConnection.Options(cluster.Redis));
            else client.UseLocalhostClustering(cluster.GatewayPort, cluster.ServiceId, cluster.ClusterId);
            if (tls is not null) client.UseTls(tls.Configure);
            client.UseConnectionRetryFilter(async (_, cancellationToken) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                return true;
            });
        });
        return builder;
    }
}
