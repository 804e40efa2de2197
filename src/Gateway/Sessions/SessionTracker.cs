using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Sessions;

/// <summary>Creates a stream's session before generation starts (claiming its request id) and hands its progress to
/// the <see cref="SessionWriter"/>. When the store is unreachable the stream is still served: the request id is
/// checked against this gateway's live streams only, and the session is created once the store is back.</summary>
public sealed class SessionTracker(ISessionStore store, SessionWriter writer, GatewayResilience resilience, IOptions<GatewayOptions> options,
    ILogger<SessionTracker> logger)
{
    public async Task<TrackedSession> StartAsync(SequenceRequest request, ApiKeyRecord key, CancellationToken cancellationToken)
    {
        var session = new SessionRecord
        {
            RequestId = request.RequestId, ApiKeyName = key.Name, StreamId = Guid.NewGuid().ToString("N"), PromptTokens = request.PromptTokens.Length,
        };
        bool stored;
        try
        {
            stored = await resilience.RedisAsync("session store", token => store.TryCreateAsync(session, options.Value.SessionTtl, token), cancellationToken);
            if (!stored) throw InUse(request.RequestId);
        }
        catch (RedisUnavailableException e)
        {
            logger.LogWarning("session {RequestId} is created later: {Error}", request.RequestId, e.Message);
            stored = false;
        }
        var slot = new SessionSlot(session, stored);
        if (!writer.TryAdd(slot)) throw InUse(request.RequestId);
        return new TrackedSession(slot, writer);
    }

    private static RpcException InUse(string requestId) => new(new Status(StatusCode.AlreadyExists, $"request_id: '{requestId}' is already in use"));
}

/// <summary>One stream's session, updated as the stream progresses.</summary>
public sealed class TrackedSession(SessionSlot slot, SessionWriter writer)
{
    /// <summary>How long the end of a stream waits for its final state to be stored (the client already has it all).</summary>
    private static readonly TimeSpan EndWriteWait = TimeSpan.FromSeconds(1);

    public string RequestId => slot.RequestId;

    /// <summary>Records the stream's progress in memory and returns at once; the writer stores it in the background.</summary>
    public Task ProgressAsync(StreamProgress progress)
    {
        slot.Update(s => s with { State = SessionStates.Running, Silo = progress.Silo, Resumes = progress.Resumes }, progress.Generated, end: false);
        return Task.CompletedTask;
    }

    /// <summary>Records the final state and waits briefly (never failing) for it to be stored.</summary>
    public async Task EndAsync(string state, string finishReason, StreamProgress progress)
    {
        slot.Update(s => s with { State = state, FinishReason = finishReason, Silo = progress.Silo, Resumes = progress.Resumes }, progress.Generated, end: true);
        writer.Wake();
        try { await slot.EndWritten.WaitAsync(EndWriteWait); }
        catch (TimeoutException) { }
    }
}
