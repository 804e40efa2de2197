namespace AlisaCluster.Grains;

/// <summary>A tokenized, gateway-validated request as it crosses to a worker silo.</summary>
[GenerateSerializer, Immutable]
public sealed record SequenceRequest
{
    [Id(0)] public required string RequestId { get; init; }
    [Id(1)] public required int[] PromptTokens { get; init; }
    /// <summary>Tokens already streamed to the client by an earlier attempt: prefilled, not streamed again.</summary>
    [Id(2)] public int[] ResumeTokens { get; init; } = [];
    // sampling fields the request left unset are null: the worker fills in the model's generation_config.json defaults
    [Id(3)] public double? Temperature { get; init; }
    [Id(4)] public double? TopP { get; init; }
    [Id(5)] public int? TopK { get; init; }
    [Id(6)] public int MaxTokens { get; init; } = 64;
    [Id(7)] public string[] Stop { get; init; } = [];
    [Id(8)] public int[] StopTokenIds { get; init; } = [];
    [Id(9)] public long? Seed { get; init; }
    [Id(10)] public double? RepetitionPenalty { get; init; }
    [Id(11)] public bool IgnoreEos { get; init; }
    /// <summary>The engine's policy text form ("swa:0.8", ...); null = the worker's default.</summary>
    [Id(12)] public string? KvPolicy { get; init; }
    [Id(13)] public double PresencePenalty { get; init; }
    [Id(14)] public double FrequencyPenalty { get; init; }
    [Id(15)] public double MinP { get; init; }
    [Id(16)] public Dictionary<int, float> LogitBias { get; init; } = [];
    [Id(17)] public int TopLogprobs { get; init; }

    /// <summary>KV slots the sequence may need at most: the placement director reserves them on the chosen silo.</summary>
    public int KvTokensNeeded => (int)Math.Min(int.MaxValue, (long)PromptTokens.Length + MaxTokens); // no wrap before validation
}
