using StackExchange.Redis;

namespace AlisaCluster.Grains.Hosting;

/// <summary>How every member connects to Redis (Cluster:Redis, a StackExchange.Redis connection string: password=...,
/// user=..., ssl=true for AUTH and TLS). Redis is treated as a dependency that may be down: the process starts without
/// it, a command while disconnected fails at once instead of queueing, and a restarted Redis is found within a second.</summary>
public static class RedisConnection
{
    public static ConfigurationOptions Options(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(500);
        return options;
    }
}
