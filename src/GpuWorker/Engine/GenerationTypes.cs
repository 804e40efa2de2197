namespace AlisaCluster.GpuWorker.Engine;

public enum FinishReason { Stop, Length, Abort }

/// <summary>What ended a <see cref="FinishReason.Stop"/>: the model's EOS, a requested stop token, or a stop string.</summary>
public enum StopCause { Eos, StopToken, StopString }

/// <summary>A request to the engine: tokenized prompt plus sampling parameters.</summary>
public sealed record GenerationRequest(string RequestId, IReadOnlyList<int> PromptTokens, SamplingParams Sampling)
{
    /// <summary>KV policy for this request; null = the engine's default.</summary>
    public Attention.KvPolicy? Policy { get; init; }

    /// <summary>Tokens already generated for this request elsewhere (resume after a lost worker): they are prefilled
    /// with the prompt, count toward max_tokens, and are not streamed again.</summary>
    public IReadOnlyList<int> ResumeTokens { get; init; } = [];
}

/// <summary>One streamed item: a new token with the text it completes (possibly empty while a multi-byte character
/// or a possible stop string is held back), and on the last item the finish reason and usage.</summary>
public sealed record GenerationEvent(int TokenId, string Text, float Logprob, FinishReason? Finish, int PromptTokens, int GeneratedTokens)
{
    /// <summary>Set on the final event of a stopped sequence.</summary>
    public StopCause? Cause { get; init; }

    /// <summary>The request's top_logprobs most likely tokens at this step, most likely first (empty when not asked).</summary>
    public IReadOnlyList<TokenLogprob> TopLogprobs { get; init; } = [];

    /// <summary>Prompt tokens whose KV came from the prefix cache instead of a prefill (OpenAI's cached_tokens).</summary>
    public int CachedTokens { get; init; }

    public bool IsFinal => Finish is not null;
}

/// <summary>A token and its log-probability.</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);

/// <summary>Thrown into a request's stream when the engine cannot serve it (e.g. the prompt alone exceeds the KV pool).</summary>
public sealed class GenerationRejectedException(string message) : Exception(message);
