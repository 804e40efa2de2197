using System.Collections.Concurrent;
using AlisaCluster.Gateway.Extensions;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Sessions;

/// <summary>Writes the live sessions of this gateway to the store in the background, every
/// Gateway:SessionFlushInterval (at once when a stream ends): one write per changed session carrying only its new
/// tokens. A slow or unreachable store therefore never delays a token; writes that fail are retried until the store
/// is back (a session whose create was deferred is created first).</summary>
public sealed class SessionWriter(ISessionStore store, GatewayResilience resilience, IOptions<GatewayOptions> options,
    ILogger<SessionWriter> logger) : BackgroundService
{
    /// <summary>Ended sessions kept for writing while the store is unreachable; beyond it the excess is dropped.</summary>
    private const int MaxPendingEnded = 10_000;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, SessionSlot> _slots = new();
    private readonly SemaphoreSlim _wake = new(0);
    private bool _failing;

    /// <summary>Registers a live session; false when this gateway already streams that request id.</summary>
    public bool TryAdd(SessionSlot slot) => _slots.TryAdd(slot.RequestId, slot);

    /// <summary>Writes soon instead of at the next interval (a stream ended).</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            bool ok = await FlushAsync(stoppingToken);
            try { await _wake.WaitAsync(ok ? options.Value.SessionFlushInterval : RetryDelay, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    private async Task<bool> FlushAsync(CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(_slots.Values.Where(s => s.Dirty).Select(slot => WriteAsync(slot, cancellationToken)));
        bool ok = results.All(r => r);
        if (ok && _failing) logger.LogWarning("the session store is back; pending sessions written");
        _failing = !ok;
        if (!ok) DropExcessEnded();
        return ok;
    }

    private async Task<bool> WriteAsync(SessionSlot slot, CancellationToken cancellationToken)
    {
        var (session, savedTokens) = slot.TakeSnapshot();
        var ttl = options.Value.SessionTtl;
        try
        {
            if (!slot.Stored && !await resilience.RedisAsync("session store", token => store.TryCreateAsync(session, ttl, token), cancellationToken))
            {
                logger.LogWarning("session {RequestId} was created by another stream while the store was unreachable; this stream's record is dropped", session.RequestId);
                Remove(slot);
                return true;
            }
            if (slot.Stored) await resilience.RedisAsync("session store", token => store.SaveAsync(session, savedTokens, ttl, token), cancellationToken);
            if (slot.Written(session)) _slots.TryRemove(slot.RequestId, out _);
            return true;
        }
        catch (Exception e) when (e is RedisUnavailableException || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            slot.WriteFailed();
            if (!_failing) logger.LogWarning("sessions not written, retrying: {Error}", e.Message);
            return false;
        }
    }

    private void DropExcessEnded()
    {
        var ended = _slots.Values.Where(s => s.Ended).ToList();
        if (ended.Count <= MaxPendingEnded) return;
        foreach (var slot in ended.Take(ended.Count - MaxPendingEnded)) Remove(slot);
        logger.LogError("the session store is unreachable: {Count} ended sessions dropped unwritten", ended.Count - MaxPendingEnded);
    }

    private void Remove(SessionSlot slot)
    {
        _slots.TryRemove(slot.RequestId, out _);
        slot.Abandon();
    }
}
