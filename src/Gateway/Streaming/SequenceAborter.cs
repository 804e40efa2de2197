using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Grains;

namespace AlisaCluster.Gateway.Streaming;

/// <summary>Aborts a stream by request id, from any gateway: the session (in the shared store) says whose it is and
/// which attempt runs it; that attempt's sequence grain ends the sequence, so the stream that serves it finishes with
/// an abort wherever it is.</summary>
public sealed class SequenceAborter(ISessionStore sessions, IClusterClient cluster, GatewayResilience resilience)
{
    /// <summary>True when the stream was running and is now aborted; false when it had ended. Throws
    /// <see cref="KeyNotFoundException"/> when the caller has no stream with that id.</summary>
    public async Task<bool> AbortAsync(string requestId, ApiKeyRecord caller, CancellationToken cancellationToken)
    {
        var session = await resilience.RedisAsync("session store", token => sessions.GetAsync(requestId, token), cancellationToken);
        // another key's stream is reported as missing, so request ids cannot be probed
        if (session is null || session.ApiKeyName != caller.Name) throw new KeyNotFoundException($"request_id: no stream '{requestId}' of this API key");
        if (session.State is not (SessionStates.Queued or SessionStates.Running)) return false;
        var grain = cluster.GetGrain<ISequenceGrain>(SequenceKeys.ForAttempt(requestId, session.Resumes));
        return await resilience.GrainReads.ExecuteAsync(async token => await grain.AbortAsync().WaitAsync(token), cancellationToken);
    }
}
