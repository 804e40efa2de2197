namespace AlisaCluster.Grains;

public enum SequenceFinish { Stop, Length, Abort }

/// <summary>What ended a <see cref="SequenceFinish.Stop"/>.</summary>
public enum SequenceStop { Eos, StopToken, StopString }

/// <summary>A token and its log-probability.</summary>
[GenerateSerializer, Immutable]
public readonly record struct TopToken([property: Id(0)] int TokenId, [property: Id(1)] float Logprob);

/// <summary>One engine step's output for a sequence: a new token with the text it completes, and on the last chunk the
/// finish reason (an abort carries no token: <see cref="TokenId"/> is -1), or a keep-alive.</summary>
[GenerateSerializer, Immutable]
public sealed record SequenceChunk(
    [property: Id(0)] int TokenId,
    [property: Id(1)] string Text,
    [property: Id(2)] float Logprob,
    [property: Id(3)] SequenceFinish? Finish,
    [property: Id(4)] int PromptTokens,
    [property: Id(5)] int GeneratedTokens,
    [property: Id(6)] string Silo,
    [property: Id(7)] SequenceStop? Stop = null)
{
    /// <summary>The most likely tokens at this step, most likely first (empty unless the request asked for top_logprobs).</summary>
    [Id(8)] public TopToken[] TopLogprobs { get; init; } = [];

    /// <summary>Prompt tokens whose KV the worker took from its prefix cache instead of a prefill.</summary>
    [Id(9)] public int CachedTokens { get; init; }

    public bool HasToken => TokenId >= 0;

    /// <summary>A chunk without a token or a finish: the worker is alive and the sequence still waits for a step.</summary>
    public bool IsKeepAlive => !HasToken && Finish is null;

    public static SequenceChunk KeepAlive(int promptTokens, int generatedTokens, string silo) => new(-1, "", 0, null, promptTokens, generatedTokens, silo);
}
