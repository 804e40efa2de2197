using StackExchange.Redis;

namespace AlisaCluster.Gateway.Admission;

/// <summary>Token counts as Redis integers "alisa:budget:{key name}:{minute}" (INCRBY, then a TTL), one per key and
/// minute, shared by every gateway.</summary>
public sealed class RedisTokenBudgetStore(IConnectionMultiplexer redis) : ITokenBudgetStore
{
    public async Task<long> AddAsync(string keyName, long window, int tokens, TimeSpan ttl, CancellationToken cancellationToken)
    {
        RedisKey key = $"alisa:budget:{keyName}:{window}";
        var batch = redis.GetDatabase().CreateBatch();
        var count = batch.StringIncrementAsync(key, tokens);
        var expire = batch.KeyExpireAsync(key, ttl);
        batch.Execute();
        await Task.WhenAll(count, expire).WaitAsync(cancellationToken);
        return await count;
    }
}
