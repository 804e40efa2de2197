using AlisaCluster.Gateway.Admission;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Grains.Hosting;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Extensions;

public static class StoreExtensions
{
    /// <summary>Sessions, API keys and token budgets in Redis when Cluster:Redis is set, in memory (dev mode) otherwise.</summary>
    public static IServiceCollection AddAlisaStores(this IServiceCollection services, ClusterSettings cluster)
    {
        if (cluster.UsesRedis)
        {
            services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(RedisConnection.Options(cluster.Redis)));
            services.AddSingleton<ISessionStore, RedisSessionStore>();
            services.AddSingleton<RedisApiKeyStore>();
            services.AddSingleton<IApiKeyStore, CachedApiKeyStore>();
            services.AddSingleton<ITokenBudgetStore, RedisTokenBudgetStore>();
        }
        else
        {
            services.AddSingleton<ISessionStore, InMemorySessionStore>();
            services.AddSingleton<IApiKeyStore, InMemoryApiKeyStore>();
            services.AddSingleton<ITokenBudgetStore, InMemoryTokenBudgetStore>();
        }
        services.AddSingleton<SessionWriter>();
        services.AddHostedService(s => s.GetRequiredService<SessionWriter>());
        services.AddHostedService<ApiKeySeeder>();
        return services;
    }
}
