using System.Collections.Concurrent;
using AlisaCluster.Gateway.Extensions;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Puts a TTL cache and the Redis resilience pipeline in front of the Redis key store: a found key is trusted
/// for Gateway:ApiKeyCacheTtl without a Redis call, and while Redis is unreachable a key found before keeps working on
/// its last record. An unknown key during an outage is <see cref="RedisUnavailableException"/>, never "unknown".</summary>
public sealed class CachedApiKeyStore(RedisApiKeyStore store, GatewayResilience resilience, IOptions<GatewayOptions> options,
    ILogger<CachedApiKeyStore> logger) : IApiKeyStore
{
    /// <summary>After a failed lookup a stale entry is trusted this long before Redis is asked again, so an outage does
    /// not cost every call a timeout.</summary>
    private static readonly TimeSpan StaleRetry = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (ApiKeyRecord Record, DateTime FreshUntil)> _cache = new();

    public async Task<ApiKeyRecord?> FindAsync(string key, CancellationToken cancellationToken)
    {
        var hash = ApiKeyRecord.Hash(key);
        var now = DateTime.UtcNow;
        if (_cache.TryGetValue(hash, out var cached) && cached.FreshUntil > now) return cached.Record;
        try
        {
            var record = await resilience.RedisAsync("API key store", token => store.FindAsync(key, token), cancellationToken);
            if (record is null) _cache.TryRemove(hash, out _);
            else _cache[hash] = (record, now + options.Value.ApiKeyCacheTtl);
            return record;
        }
        catch (RedisUnavailableException e) when (cached.Record is not null)
        {
            logger.LogWarning("API key {Name} served from cache: {Error}", cached.Record.Name, e.Message);
            _cache[hash] = (cached.Record, now + StaleRetry);
            return cached.Record;
        }
    }

    public Task AddAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken) =>
        resilience.RedisAsync("API key store", token => store.AddAsync(key, record, token), cancellationToken);

    public Task<bool> AddIfMissingAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken) =>
        resilience.RedisAsync("API key store", token => store.AddIfMissingAsync(key, record, token), cancellationToken);
}
