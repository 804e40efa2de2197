using AlisaCluster.Grains.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using StackExchange.Redis;

namespace AlisaCluster.Silo.Membership;

/// <summary>Keeps the Orleans membership table alive across a Redis that restarts without its data (no persistence,
/// or a failover to an empty replica). Orleans' Redis table is one hash; without it no silo can renew its liveness,
/// clients find no gateway and the cluster stays down until every silo restarts. So every silo keeps a copy of the
/// hash, taken each second, and the first silo to see the hash gone writes its copy back (only while it is still
/// gone), after which membership carries on where it was: versions, rows and probes unchanged.</summary>
public sealed class MembershipTableGuard(IOptions<ClusterSettings> cluster, IOptions<ClusterOptions> clusterOptions,
    IOptions<RedisClusteringOptions> redisOptions, ILogger<MembershipTableGuard> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private const string VersionField = "Version";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisConnection.Options(cluster.Value.Redis));
        var key = redisOptions.Value.CreateRedisKey(clusterOptions.Value);
        HashEntry[]? copy = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var db = redis.GetDatabase();
                var table = await db.HashGetAllAsync(key).WaitAsync(stoppingToken);
                if (table.Any(e => e.Name == VersionField)) copy = table;
                else if (copy is not null && await RestoreAsync(db, key, copy).WaitAsync(stoppingToken))
                    logger.LogWarning("the membership table was lost (Redis restarted without its data); restored it with {Silos} silo rows",
                        copy.Length - 1);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                logger.LogDebug("membership table check failed: {Error}", e.Message);
            }
            try { await Task.Delay(Interval, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    private static async Task<bool> RestoreAsync(IDatabase db, RedisKey key, HashEntry[] copy)
    {
        var transaction = db.CreateTransaction();
        transaction.AddCondition(Condition.KeyNotExists(key));
        _ = transaction.HashSetAsync(key, copy);
        return await transaction.ExecuteAsync();
    }
}
