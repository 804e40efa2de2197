using StackExchange.Redis;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Keys as Redis hashes "alisa:apikey:{sha256 of the key}" with fields name and max_in_flight, so an operator
/// adds one with: redis-cli HSET alisa:apikey:$(printf %s "$KEY" | sha256sum | cut -d' ' -f1) name alice max_in_flight 8</summary>
public sealed class RedisApiKeyStore(IConnectionMultiplexer redis) : IApiKeyStore
{
    private static RedisKey Key(string key) => $"alisa:apikey:{ApiKeyRecord.Hash(key)}";

    public async Task<ApiKeyRecord?> FindAsync(string key, CancellationToken cancellationToken)
    {
        var fields = await redis.GetDatabase().HashGetAsync(Key(key), ["name", "max_in_flight"]).WaitAsync(cancellationToken);
        if (fields[0].IsNull) return null;
        return new ApiKeyRecord(fields[0].ToString(), fields[1].IsNull ? 0 : (int)fields[1]);
    }

    public Task AddAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken) =>
        redis.GetDatabase().HashSetAsync(Key(key), [new("name", record.Name), new("max_in_flight", record.MaxInFlight)]).WaitAsync(cancellationToken);
}
