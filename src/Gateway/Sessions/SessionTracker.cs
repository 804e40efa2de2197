using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Sessions;

/// <summary>Writes a stream's session through the store with the Redis resilience pipeline. Creating the session must
/// succeed before any generation starts; later progress writes that fail are logged, never fatal (the tokens that
/// matter for resuming are in this process).</summary>
public sealed class SessionTracker(ISessionStore store, GatewayResilience resilience, IOptions<GatewayOptions> options, ILogger<SessionTracker> logger)
{
    public async Task<TrackedSession> StartAsync(SequenceRequest request, ApiKeyRecord key, CancellationToken cancellationToken)
    {
        var session = new SessionRecord
        {
            RequestId = request.RequestId, ApiKeyName = key.Name, StreamId = Guid.NewGuid().ToString("N"), PromptTokens = request.PromptTokens.Length,
        };
        bool created = await resilience.Redis.ExecuteAsync(async token => await store.TryCreateAsync(session, options.Value.SessionTtl, token), cancellationToken);
        if (!created) throw new RpcException(new Status(StatusCode.AlreadyExists, $"request_id: '{request.RequestId}' is already in use"));
        return new TrackedSession(this, session);
    }

    internal async Task<SessionRecord> SaveAsync(SessionRecord session)
    {
        var updated = session with { UpdatedAt = DateTimeOffset.UtcNow };
        try
        {
            await resilience.Redis.ExecuteAsync(async token => await store.SaveAsync(updated, options.Value.SessionTtl, token), CancellationToken.None);
        }
        catch (Exception e)
        {
            logger.LogWarning("session {RequestId} not saved: {Error}", session.RequestId, e.Message);
        }
        return updated;
    }
}

/// <summary>One stream's session, updated as the stream progresses.</summary>
public sealed class TrackedSession(SessionTracker tracker, SessionRecord session)
{
    private SessionRecord _session = session;

    public string RequestId => _session.RequestId;

    public async Task ProgressAsync(StreamProgress progress) =>
        _session = await tracker.SaveAsync(_session with
        {
            State = SessionStates.Running, Silo = progress.Silo, GeneratedTokens = [.. progress.Generated], Resumes = progress.Resumes,
        });

    public async Task EndAsync(string state, string finishReason, StreamProgress progress) =>
        _session = await tracker.SaveAsync(_session with
        {
            State = state, FinishReason = finishReason, Silo = progress.Silo, GeneratedTokens = [.. progress.Generated], Resumes = progress.Resumes,
        });
}
