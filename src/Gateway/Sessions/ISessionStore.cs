namespace AlisaCluster.Gateway.Sessions;

/// <summary>Where session metadata lives: Redis in a cluster, memory in dev mode. Every operation is idempotent,
/// so a timed-out call may be retried.</summary>
public interface ISessionStore
{
    /// <summary>Stores a new session (with the tokens it has so far); false when another stream already holds its
    /// request id.</summary>
    Task<bool> TryCreateAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Writes the session's latest state and its tokens from index <paramref name="savedTokens"/> on (those
    /// before are stored already, so a save costs the new tokens, not the whole session) and renews its TTL.</summary>
    Task SaveAsync(SessionRecord session, int savedTokens, TimeSpan ttl, CancellationToken cancellationToken);

    Task<SessionRecord?> GetAsync(string requestId, CancellationToken cancellationToken);
}
