using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Grains.Hosting;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Extensions;

public static class StoreExtensions
{
    /// <summary>Sessions and API keys in Redis when Cluster:Redis is set, in memory (dev mode) otherwise.</summary>
    public static IServiceCollection AddAlisaStores(this IServiceCollection services, ClusterSettings cluster)
    {
        if (cluster.UsesRedis)
        {
            services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(RedisConnection.Options(cluster.Redis)));
            services.AddSingleton<ISessionStore, RedisSessionStore>();
            services.AddSingleton<RedisApiKeyStore>();
            services.AddSingleton<IApiKeyStore, CachedApiKeyStore>();
        }
        else
        {
            services.AddSingleton<ISessionStore, InMemorySessionStore>();
            services.AddSingleton<IApiKeyStore, InMemoryApiKeyStore>();
        }
        services.AddSingleton<SessionWriter>();
        services.AddHostedService(s => s.GetRequiredService<SessionWriter>());
        services.AddHostedService<ApiKeySeeder>();
        return services;
    }
}
