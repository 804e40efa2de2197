using System.Collections.Concurrent;

namespace AlisaCluster.Gateway.Admission;

/// <summary>Dev mode: token counts in this process; windows older than the TTL are dropped as new ones start.</summary>
public sealed class InMemoryTokenBudgetStore : ITokenBudgetStore
{
    private readonly ConcurrentDictionary<(string Key, long Window), long> _counts = new();

    public Task<long> AddAsync(string keyName, long window, int tokens, TimeSpan ttl, CancellationToken cancellationToken)
    {
        long count = _counts.AddOrUpdate((keyName, window), tokens, (_, used) => used + tokens);
        foreach (var old in _counts.Keys.Where(k => k.Window < window - 1)) _counts.TryRemove(old, out _);
        return Task.FromResult(count);
    }
}
