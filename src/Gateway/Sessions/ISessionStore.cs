namespace AlisaCluster.Gateway.Sessions;

/// <summary>Where session metadata lives: Redis in a cluster, memory in dev mode. Every operation is idempotent,
/// so a timed-out call may be retried.</summary>
public interface ISessionStore
{
    /// <summary>Stores a new session; false when another stream already holds its request id.</summary>
    Task<bool> TryCreateAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Overwrites the session with its latest state and renews its TTL.</summary>
    Task SaveAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken);

    Task<SessionRecord?> GetAsync(string requestId, CancellationToken cancellationToken);
}
