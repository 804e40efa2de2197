using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Keys as Redis hashes "alisa:apikey:{sha256 of the key}" with fields name and max_in_flight, so an operator
/// adds one with: redis-cli HSET alisa:apikey:$(printf %s "$KEY" | sha256sum | cut -d' ' -f1) name alice max_in_flight 8</summary>
public sealed class RedisApiKeyStore(IConnectionMultiplexer redis, ILogger<RedisApiKeyStore>? logger = null) : IApiKeyStore
{
    private readonly ILogger _logger = logger ?? NullLogger<RedisApiKeyStore>.Instance;
    private readonly ConcurrentDictionary<string, bool> _badLimitLogged = new();

    private static RedisKey Key(string key) => $"alisa:apikey:{ApiKeyRecord.Hash(key)}";

    public async Task<ApiKeyRecord?> FindAsync(string key, CancellationToken cancellationToken)
    {
        var fields = await redis.GetDatabase().HashGetAsync(Key(key), ["name", "max_in_flight"]).WaitAsync(cancellationToken);
        if (fields[0].IsNull) return null;
        return new ApiKeyRecord(fields[0].ToString(), fields[1].IsNull ? 0 : MaxInFlight(fields[0].ToString(), fields[1].ToString()));
    }

    /// <summary>An operator's typo must not fail every call of the key: an unreadable or negative limit is logged once
    /// and read as 0, i.e. the gateway's MaxInFlightPerKey.</summary>
    private int MaxInFlight(string name, string value)
    {
        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) && limit >= 0) return limit;
        if (_badLimitLogged.TryAdd(name, true))
            _logger.LogError("API key {Name}: max_in_flight '{Value}' is not a non-negative integer; using the gateway's MaxInFlightPerKey", name, value);
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

    private static HashEntry[] Fields(ApiKeyRecord record) => [new("name", record.Name), new("max_in_flight", record.MaxInFlight)];
}
