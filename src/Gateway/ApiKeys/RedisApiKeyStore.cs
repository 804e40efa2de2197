using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Keys as Redis hashes "alisa:apikey:{sha256 of the key}" with fields name, max_in_flight and (optional)
/// tokens_per_minute, so an operator adds one with:
/// redis-cli HSET alisa:apikey:$(printf %s "$KEY" | sha256sum | cut -d' ' -f1) name alice max_in_flight 8 tokens_per_minute 50000</summary>
public sealed class RedisApiKeyStore(IConnectionMultiplexer redis, ILogger<RedisApiKeyStore>? logger = null) : IApiKeyStore
{
    private readonly ILogger _logger = logger ?? NullLogger<RedisApiKeyStore>.Instance;
    private readonly ConcurrentDictionary<string, bool> _badLimitLogged = new();

    private static RedisKey Key(string key) => $"alisa:apikey:{ApiKeyRecord.Hash(key)}";

    public async Task<ApiKeyRecord?> FindAsync(string key, CancellationToken cancellationToken)
    {
        var fields = await redis.GetDatabase().HashGetAsync(Key(key), ["name", "max_in_flight", "tokens_per_minute"]).WaitAsync(cancellationToken);
        if (fields[0].IsNull) return null;
        var name = fields[0].ToString();
        return new ApiKeyRecord(name, Limit(name, "max_in_flight", fields[1]), Limit(name, "tokens_per_minute", fields[2]));
    }

    /// <summary>An operator's typo must not fail every call of the key: an unreadable or negative limit is logged once
    /// and read as 0, i.e. the gateway's default for that limit.</summary>
    private int Limit(string name, string field, RedisValue value)
    {
        if (value.IsNull) return 0;
        if (int.TryParse(value.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) && limit >= 0) return limit;
        if (_badLimitLogged.TryAdd($"{name}/{field}", true))
            _logger.LogError("API key {Name}: {Field} '{Value}' is not a non-negative integer; using the gateway's default", name, field, value.ToString());
        return 0;
    }

    public Task AddAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken) =>
        redis.GetDatabase().HashSetAsync(Key(key), Fields(record)).WaitAsync(cancellationToken);

    public async Task<bool> AddIfMissingAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken)
    {
        var transaction = redis.GetDatabase().CreateTransaction();
        transaction.AddCondition(Condition.KeyNotExists(Key(key)));
        _ = transaction.HashSetAsync(Key(key), Fields(record));
        return await transaction.ExecuteAsync().WaitAsync(cancellationToken);
    }

    private static HashEntry[] Fields(ApiKeyRecord record) =>
        [new("name", record.Name), new("max_in_flight", record.MaxInFlight), new("tokens_per_minute", record.TokensPerMinute)];
}
