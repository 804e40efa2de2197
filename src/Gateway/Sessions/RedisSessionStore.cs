using System.Globalization;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Sessions;

/// <summary>Sessions as Redis hashes "alisa:session:{request id}" with a TTL; the generated tokens are one
/// comma-separated field, rewritten whole, so every write is idempotent.</summary>
public sealed class RedisSessionStore(IConnectionMultiplexer redis) : ISessionStore
{
    private static RedisKey Key(string requestId) => $"alisa:session:{requestId}";

    public async Task<bool> TryCreateAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var transaction = db.CreateTransaction();
        transaction.AddCondition(Condition.KeyNotExists(Key(session.RequestId)));
        _ = transaction.HashSetAsync(Key(session.RequestId), ToFields(session));
        _ = transaction.KeyExpireAsync(Key(session.RequestId), ttl);
        if (await transaction.ExecuteAsync().WaitAsync(cancellationToken)) return true;
        // a retried create whose first attempt did land finds its own stream id
        return await db.HashGetAsync(Key(session.RequestId), "stream_id").WaitAsync(cancellationToken) == session.StreamId;
    }

    public async Task SaveAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var set = batch.HashSetAsync(Key(session.RequestId), ToFields(session));
        var expire = batch.KeyExpireAsync(Key(session.RequestId), ttl);
        batch.Execute();
        await Task.WhenAll(set, expire).WaitAsync(cancellationToken);
    }

    public async Task<SessionRecord?> GetAsync(string requestId, CancellationToken cancellationToken)
    {
        var fields = (await redis.GetDatabase().HashGetAllAsync(Key(requestId)).WaitAsync(cancellationToken)).ToDictionary(f => f.Name.ToString(), f => f.Value.ToString());
        if (fields.Count == 0) return null;
        return new SessionRecord
        {
            RequestId = fields["request_id"], ApiKeyName = fields["api_key"], StreamId = fields["stream_id"], State = fields["state"],
            Silo = fields["silo"], PromptTokens = int.Parse(fields["prompt_tokens"], CultureInfo.InvariantCulture),
            GeneratedTokens = fields["tokens"].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToList(),
            Resumes = int.Parse(fields["resumes"], CultureInfo.InvariantCulture), FinishReason = fields["finish_reason"],
            CreatedAt = DateTimeOffset.Parse(fields["created_at"], CultureInfo.InvariantCulture),
            UpdatedAt = DateTimeOffset.Parse(fields["updated_at"], CultureInfo.InvariantCulture),
        };
    }

    private static HashEntry[] ToFields(SessionRecord s) =>
    [
        new("request_id", s.RequestId), new("api_key", s.ApiKeyName), new("stream_id", s.StreamId), new("state", s.State),
        new("silo", s.Silo), new("prompt_tokens", s.PromptTokens), new("generated_tokens", s.GeneratedTokens.Count),
        new("tokens", string.Join(',', s.GeneratedTokens)), new("resumes", s.Resumes), new("finish_reason", s.FinishReason),
        new("created_at", s.CreatedAt.ToString("O")), new("updated_at", s.UpdatedAt.ToString("O")),
    ];
}
