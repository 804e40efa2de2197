namespace AlisaCluster.Gateway.Sessions;

/// <summary>One live session as this gateway knows it: the latest state and tokens, how much of it the store has, and
/// whether it changed since the last write. The stream updates it on the token path (no I/O); the
/// <see cref="SessionWriter"/> takes snapshots and writes them.</summary>
public sealed class SessionSlot(SessionRecord session, bool stored)
{
    private readonly object _lock = new();
    private readonly List<int> _tokens = [.. session.GeneratedTokens];
    private readonly TaskCompletionSource _endWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SessionRecord _session = session;
    private int _savedTokens = stored ? session.GeneratedTokens.Count : 0;
    private bool _dirty = !stored, _ended;

    public string RequestId { get; } = session.RequestId;
    /// <summary>False until the store has the session (its create was deferred while the store was unreachable).</summary>
    public bool Stored { get; private set; } = stored;
    public bool Dirty { get { lock (_lock) return _dirty; } }
    public bool Ended { get { lock (_lock) return _ended; } }
    /// <summary>Completes when the session's final state is in the store.</summary>
    public Task EndWritten => _endWritten.Task;

    /// <summary>Applies <paramref name="change"/> and takes the tokens of <paramref name="generated"/> not seen yet
    /// (the list only grows), so an update costs the new tokens only.</summary>
    public void Update(Func<SessionRecord, SessionRecord> change, IReadOnlyList<int> generated, bool end)
    {
        lock (_lock)
        {
            for (int i = _tokens.Count; i < generated.Count; i++) _tokens.Add(generated[i]);
            _session = change(_session);
            _dirty = true;
            _ended |= end;
        }
    }

    /// <summary>The state to write now and how many of its tokens the store already has; marks the slot clean.</summary>
    public (SessionRecord Session, int SavedTokens) TakeSnapshot()
    {
        lock (_lock)
        {
            _dirty = false;
            return (_session with { GeneratedTokens = _tokens.ToArray(), UpdatedAt = DateTimeOffset.UtcNow }, _savedTokens);
        }
    }

    /// <summary>The snapshot is in the store; true when the slot is done (ended and nothing newer to write).</summary>
    public bool Written(SessionRecord snapshot)
    {
        lock (_lock)
        {
            Stored = true;
            _savedTokens = Math.Max(_savedTokens, snapshot.GeneratedTokens.Count);
            if (!_ended || _dirty) return false;
        }
        _endWritten.TrySetResult();
        return true;
    }

    /// <summary>The write failed: the snapshot must be written again, whole (the store may have lost what it had,
    /// e.g. a Redis restarted without persistence).</summary>
    public void WriteFailed()
    {
        lock (_lock)
        {
            _dirty = true;
            _savedTokens = 0;
        }
    }

    /// <summary>The slot is given up without its final write (another stream owns the id, or too much is pending).</summary>
    public void Abandon() => _endWritten.TrySetResult();
}
