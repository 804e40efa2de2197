namespace AlisaCluster.GpuWorker.Engine;

/// <summary>How to pick tokens and when to stop, per request (the vLLM / TGI parameter set).</summary>
public sealed record SamplingParams
{
    /// <summary>0 = greedy.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Nucleus sampling mass, in (0, 1].</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>0 = no top-k cut.</summary>
    public int TopK { get; init; }
    /// <summary>1 = none; above 1 discourages tokens already in the prompt or output (CTRL-style, as in transformers).</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>OpenAI's: subtracted once from the logit of every token already generated (not the prompt's).</summary>
    public double PresencePenalty { get; init; }
    /// <summary>OpenAI's: subtracted from a token's logit once per time it was generated.</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>0 = off; drops tokens whose probability (after temperature) is below MinP times the top token's.</summary>
    public double MinP { get; init; }
    /// <summary>Token id to a bias added to its logit (OpenAI's logit_bias; -100 bans a token in practice).</summary>
    public IReadOnlyDictionary<int, float> LogitBias { get; init; } = new Dictionary<int, float>();
    public int MaxTokens { get; init; } = 64;
    /// <summary>Same seed, same prompt, same parameters: same output. Null = from the engine's random source.</summary>
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Keep generating past EOS (benchmarks).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>How many of the most likely tokens (with logprobs) to return per step, 0 to <see cref="MaxTopLogprobs"/>.</summary>
    public int TopLogprobs { get; init; }

    public bool IsGreedy => Temperature == 0;

    /// <summary>Whether picking a token reads the tokens before it (repetition, presence or frequency penalty): such a
    /// row's previous token must be on the host before its next pick.</summary>
    public bool ReadsHistory => RepetitionPenalty != 1.0 || PresencePenalty != 0 || FrequencyPenalty != 0;

    public static SamplingParams Greedy(int maxTokens) => new() { Temperature = 0, MaxTokens = maxTokens };

    // Limits shared with the gateway's GenerateRequestValidator: beyond them a value is a mistake or an attack
    // (overflowing sorts, megabyte stop scans), never a useful setting.
    public const double MinTemperature = 1e-4, MaxTemperature = 100, MaxRepetitionPenalty = 100;
    public const double MaxPresencePenalty = 2, MaxFrequencyPenalty = 2, MaxLogitBias = 100;
    public const int MaxTopK = 1 << 20, MaxStopStrings = 16, MaxStopLength = 256, MaxLogitBiasTokens = 1024, MaxTopLogprobs = 20;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        if (Temperature != 0 && !(Temperature >= MinTemperature && Temperature <= MaxTemperature))
            throw new ArgumentException($"temperature must be 0 (greedy) or in [{MinTemperature}, {MaxTemperature}], got {Temperature}", "temperature");
        if (double.IsNaN(TopP) || TopP <= 0 || TopP > 1) throw new ArgumentException($"top_p must be in (0, 1], got {TopP}", "top_p");
        if (TopK < 0 || TopK > MaxTopK) throw new ArgumentException($"top_k must be in [0, {MaxTopK}] (0 = off), got {TopK}", "top_k");
        if (!(RepetitionPenalty > 0 && RepetitionPenalty <= MaxRepetitionPenalty))
            throw new ArgumentException($"repetition_penalty must be in (0, {MaxRepetitionPenalty}], got {RepetitionPenalty}", "repetition_penalty");
        if (!(Math.Abs(PresencePenalty) <= MaxPresencePenalty))
            throw new ArgumentException($"presence_penalty must be in [-{MaxPresencePenalty}, {MaxPresencePenalty}], got {PresencePenalty}", "presence_penalty");
        if (!(Math.Abs(FrequencyPenalty) <= MaxFrequencyPenalty))
            throw new ArgumentException($"frequency_penalty must be in [-{MaxFrequencyPenalty}, {MaxFrequencyPenalty}], got {FrequencyPenalty}", "frequency_penalty");
        if (!(MinP >= 0 && MinP <= 1)) throw new ArgumentException($"min_p must be in [0, 1], got {MinP}", "min_p");
        if (LogitBias.Count > MaxLogitBiasTokens) throw new ArgumentException($"logit_bias takes at most {MaxLogitBiasTokens} tokens, got {LogitBias.Count}", "logit_bias");
        if (LogitBias.Any(b => b.Key < 0 || !(Math.Abs(b.Value) <= MaxLogitBias)))
            throw new ArgumentException($"logit_bias needs token ids >= 0 and biases in [-{MaxLogitBias}, {MaxLogitBias}]", "logit_bias");
        if (TopLogprobs is < 0 or > MaxTopLogprobs) throw new ArgumentException($"top_logprobs must be in [0, {MaxTopLogprobs}], got {TopLogprobs}", "top_logprobs");
        if (MaxTokens <= 0) throw new ArgumentException($"max_tokens must be > 0, got {MaxTokens}", "max_tokens");
        if (Stop.Count > MaxStopStrings) throw new ArgumentException($"stop takes at most {MaxStopStrings} strings, got {Stop.Count}", "stop");
        if (Stop.Any(string.IsNullOrEmpty)) throw new ArgumentException("stop strings must not be empty", "stop");
        if (Stop.Any(s => s.Length > MaxStopLength)) throw new ArgumentException($"stop strings must be at most {MaxStopLength} characters", "stop");
    }
}
