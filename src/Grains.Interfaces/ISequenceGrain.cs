using Orleans.Concurrency;

namespace AlisaCluster.Grains;

/// <summary>One generation request (or one resumed attempt of it) on a GPU-worker silo. The key is
/// <see cref="SequenceKeys.ForAttempt"/>: a resumed attempt is a new grain, so it is placed afresh on a live worker.</summary>
public interface ISequenceGrain : IGrainWithStringKey
{
    /// <summary>Streams the new tokens. Cancelling <paramref name="cancellationToken"/> (or abandoning the stream) makes
    /// the engine drop the sequence and free its KV.</summary>
    IAsyncEnumerable<SequenceChunk> GenerateAsync(SequenceRequest request, CancellationToken cancellationToken = default);

    /// <summary>Aborts the sequence this grain runs: its stream ends with <see cref="SequenceFinish.Abort"/> and its KV is
    /// freed. False when no sequence runs here (it ended, or never started on this activation).</summary>
    [AlwaysInterleave]
    Task<bool> AbortAsync();
}

public static class SequenceKeys
{
    public static string ForAttempt(string requestId, int attempt) => attempt == 0 ? requestId : $"{requestId}#resume{attempt}";

    /// <summary>Request-context key under which the caller states the KV tokens the sequence may need, so the
    /// placement director can reserve them on the silo it picks.</summary>
    public const string KvTokensContextKey = "alisa.kv-tokens";
}
