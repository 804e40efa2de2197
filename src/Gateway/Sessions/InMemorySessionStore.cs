using System.Collections.Concurrent;

namespace AlisaCluster.Gateway.Sessions;

/// <summary>Dev mode: sessions in this process, expired on read.</summary>
public sealed class InMemorySessionStore : ISessionStore
{
    private readonly ConcurrentDictionary<string, (SessionRecord Session, DateTimeOffset Expires)> _sessions = new();

    public Task<bool> TryCreateAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var entry = (session, DateTimeOffset.UtcNow + ttl);
        var stored = _sessions.AddOrUpdate(session.RequestId, entry,
            (_, existing) => existing.Expires < DateTimeOffset.UtcNow ? entry : existing);
        return Task.FromResult(stored.Session.StreamId == session.StreamId);
    }

    public Task SaveAsync(SessionRecord session, int savedTokens, TimeSpan ttl, CancellationToken cancellationToken)
    {
        _sessions[session.RequestId] = (session, DateTimeOffset.UtcNow + ttl);
        return Task.CompletedTask;
    }

    public Task<SessionRecord?> GetAsync(string requestId, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue(requestId, out var entry) && entry.Expires > DateTimeOffset.UtcNow) return Task.FromResult<SessionRecord?>(entry.Session);
        _sessions.TryRemove(requestId, out _);
        return Task.FromResult<SessionRecord?>(null);
    }
}
