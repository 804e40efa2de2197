using System.Collections.Concurrent;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Dev mode: keys in this process (seeded from Gateway:ApiKeys).</summary>
public sealed class InMemoryApiKeyStore : IApiKeyStore
{
    private readonly ConcurrentDictionary<string, ApiKeyRecord> _keys = new();

    public Task<ApiKeyRecord?> FindAsync(string key, CancellationToken cancellationToken) =>
        Task.FromResult(_keys.TryGetValue(ApiKeyRecord.Hash(key), out var record) ? record : null);

    public Task AddAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken)
    {
        _keys[ApiKeyRecord.Hash(key)] = record;
        return Task.CompletedTask;
    }

    public Task<bool> AddIfMissingAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken) =>
        Task.FromResult(_keys.TryAdd(ApiKeyRecord.Hash(key), record));
}
