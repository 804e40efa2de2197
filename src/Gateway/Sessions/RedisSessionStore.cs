using System.Buffers.Binary;
using System.Globalization;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Sessions;

/// <summary>Sessions in Redis with a TTL: the metadata as the hash "alisa:session:{request id}", the generated tokens
/// as the string "alisa:session:{request id}:tokens" of 4-byte little-endian ids. A save writes only the new tokens,
/// at their fixed offset (SETRANGE), so it is cheap and a repeated save is harmless.</summary>
public sealed class RedisSessionStore(IConnectionMultiplexer redis) : ISessionStore
{
    private static RedisKey Key(string requestId) => $"alisa:session:{requestId}";
    private static RedisKey TokensKey(string requestId) => $"alisa:session:{requestId}:tokens";

    public async Task<bool> TryCreateAsync(SessionRecord session, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var transaction = db.CreateTransaction();
        transaction.AddCondition(Condition.KeyNotExists(Key(session.RequestId)));
        _ = transaction.HashSetAsync(Key(session.RequestId), ToFields(session));
        _ = transaction.StringSetAsync(TokensKey(session.RequestId), Encode(session.GeneratedTokens, 0), ttl);
        _ = transaction.KeyExpireAsync(Key(session.RequestId), ttl);
        if (await transaction.ExecuteAsync().WaitAsync(cancellationToken)) return true;
        // a retried create whose first attempt did land finds its own stream id
        return await db.HashGetAsync(Key(session.RequestId), "stream_id").WaitAsync(cancellationToken) == session.StreamId;
    }

    public async Task SaveAsync(SessionRecord session, int savedTokens, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new List<Task>
        {
            batch.HashSetAsync(Key(session.RequestId), ToFields(session)), batch.KeyExpireAsync(Key(session.RequestId), ttl),
        };
        if (session.GeneratedTokens.Count > savedTokens)
            writes.Add(batch.StringSetRangeAsync(TokensKey(session.RequestId), savedTokens * sizeof(int), Encode(session.GeneratedTokens, savedTokens)));
        writes.Add(batch.KeyExpireAsync(TokensKey(session.RequestId), ttl));
        batch.Execute();
        await Task.WhenAll(writes).WaitAsync(cancellationToken);
    }

    public async Task<SessionRecord?> GetAsync(string requestId, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var fieldsTask = db.HashGetAllAsync(Key(requestId));
        var tokensTask = db.StringGetAsync(TokensKey(requestId));
        var fields = (await fieldsTask.WaitAsync(cancellationToken)).ToDictionary(f => f.Name.ToString(), f => f.Value.ToString());
        if (fields.Count == 0) return null;
        byte[] tokens = (byte[]?)await tokensTask.WaitAsync(cancellationToken) ?? [];
        int count = Math.Min(int.Parse(fields["generated_tokens"], CultureInfo.InvariantCulture), tokens.Length / sizeof(int));
        return new SessionRecord
        {
            RequestId = fields["request_id"], ApiKeyName = fields["api_key"], StreamId = fields["stream_id"], State = fields["state"],
            Silo = fields["silo"], PromptTokens = int.Parse(fields["prompt_tokens"], CultureInfo.InvariantCulture),
            GeneratedTokens = Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadInt32LittleEndian(tokens.AsSpan(i * sizeof(int)))).ToList(),
            Resumes = int.Parse(fields["resumes"], CultureInfo.InvariantCulture), FinishReason = fields["finish_reason"],
            CreatedAt = DateTimeOffset.Parse(fields["created_at"], CultureInfo.InvariantCulture),
            UpdatedAt = DateTimeOffset.Parse(fields["updated_at"], CultureInfo.InvariantCulture),
        };
    }

    private static byte[] Encode(IReadOnlyList<int> tokens, int from)
    {
        var bytes = new byte[(tokens.Count - from) * sizeof(int)];
        for (int i = from; i < tokens.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan((i - from) * sizeof(int)), tokens[i]);
        return bytes;
    }

    private static HashEntry[] ToFields(SessionRecord s) =>
    [
        new("request_id", s.RequestId), new("api_key", s.ApiKeyName), new("stream_id", s.StreamId), new("state", s.State),
        new("silo", s.Silo), new("prompt_tokens", s.PromptTokens), new("generated_tokens", s.GeneratedTokens.Count),
        new("resumes", s.Resumes), new("finish_reason", s.FinishReason),
        new("created_at", s.CreatedAt.ToString("O")), new("updated_at", s.UpdatedAt.ToString("O")),
    ];
}
