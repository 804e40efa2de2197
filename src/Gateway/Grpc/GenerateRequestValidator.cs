using System.Globalization;
using System.Text.RegularExpressions;
using AlisaCluster.Grains;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Checks a GenerateRequest before any work is done; every failure is INVALID_ARGUMENT with a message that
/// starts with the offending field's path. The worker re-checks what only it can know (e.g. SWA's minimum sparsity).</summary>
public static partial class GenerateRequestValidator
{
    public static readonly string[] KvPolicies = ["dense", "local", "streaming", "h2o", "swa", "quest"];

    // The engine's limits (SamplingParams, KvPolicy; RequestLimitsTests keeps the copies equal); the gateway checks
    // them too so a bad value costs no session.
    public const double MinTemperature = 1e-4, MaxTemperature = 100, MaxRepetitionPenalty = 100, MaxKvSparsity = 0.99;
    public const double MaxPresencePenalty = 2, MaxFrequencyPenalty = 2, MaxLogitBias = 100;
    public const int MaxTopK = 1 << 20, MaxStopStrings = 16, MaxStopLength = 256, MaxSinks = 1 << 20, MaxLogitBiasTokens = 1024;
    public const int MaxTopLogprobs = 20;
    /// <summary>Most choices of one request (n), as OpenAI's and the HTTP API's.</summary>
    public const int MaxChoices = 16;

    /// <summary>The request's n: 1 when unset, else in [1, <see cref="MaxChoices"/>].</summary>
    public static int Choices(GenerateRequest request)
    {
        int n = request.HasN ? request.N : 1;
        return n is >= 1 and <= MaxChoices ? n : throw Invalid("n", $"must be in [1, {MaxChoices}], got {n}");
    }

    /// <summary>Everything but the prompt tokens (text is tokenized after admission).</summary>
    public static SequenceRequest ValidateShape(GenerateRequest request)
    {
        var id = request.RequestId.Length == 0 ? "req-" + Guid.NewGuid().ToString("N") : request.RequestId;
        if (!RequestIdPattern().IsMatch(id)) throw Invalid("request_id", "use 1-128 letters, digits, '-', '_' or '.'");
        switch (request.InputCase)
        {
            case GenerateRequest.InputOneofCase.None: throw Invalid("text", "give the prompt as text or tokenized.ids");
            case GenerateRequest.InputOneofCase.Text when request.Text.Length == 0: throw Invalid("text", "the prompt must not be empty");
            case GenerateRequest.InputOneofCase.Tokenized when request.Tokenized.Ids.Count == 0: throw Invalid("tokenized.ids", "the prompt must not be empty");
        }
        var p = request.SamplingParams ?? new SamplingParams();
        // unset sampling fields stay null: the worker applies the model's generation_config.json defaults (else 1, 1, 0, 1)
        double? temperature = p.HasTemperature ? p.Temperature : null, topP = p.HasTopP ? p.TopP : null;
        double? penalty = p.HasRepetitionPenalty ? p.RepetitionPenalty : null;
        int? topK = p.HasTopK ? p.TopK : null;
        int maxTokens = p.HasMaxTokens ? p.MaxTokens : 64;
        double presence = p.HasPresencePenalty ? p.PresencePenalty : 0, frequency = p.HasFrequencyPenalty ? p.FrequencyPenalty : 0;
        double minP = p.HasMinP ? p.MinP : 0;
        if (temperature is double t && t != 0 && !(t >= MinTemperature && t <= MaxTemperature))
            throw Invalid("sampling_params.temperature", $"must be 0 (greedy) or in [{Format(MinTemperature)}, {Format(MaxTemperature)}], got {Format(t)}");
        if (topP is double top && (double.IsNaN(top) || top <= 0 || top > 1)) throw Invalid("sampling_params.top_p", $"must be in (0, 1], got {Format(top)}");
        if (topK is < 0 or > MaxTopK) throw Invalid("sampling_params.top_k", $"must be in [0, {MaxTopK}] (0 = off), got {topK}");
        if (maxTokens <= 0) throw Invalid("sampling_params.max_tokens", $"must be > 0, got {maxTokens}");
        if (penalty is double r && !(r > 0 && r <= MaxRepetitionPenalty))
            throw Invalid("sampling_params.repetition_penalty", $"must be in (0, {Format(MaxRepetitionPenalty)}], got {Format(r)}");
        if (p.Stop.Count > MaxStopStrings) throw Invalid("sampling_params.stop", $"at most {MaxStopStrings} stop strings, got {p.Stop.Count}");
        if (p.Stop.Any(string.IsNullOrEmpty)) throw Invalid("sampling_params.stop", "stop strings must not be empty");
        if (p.Stop.Any(s => s.Length > MaxStopLength)) throw Invalid("sampling_params.stop", $"stop strings must be at most {MaxStopLength} characters");
        if (!(Math.Abs(presence) <= MaxPresencePenalty))
            throw Invalid("sampling_params.presence_penalty", $"must be in [-{Format(MaxPresencePenalty)}, {Format(MaxPresencePenalty)}], got {Format(presence)}");
        if (!(Math.Abs(frequency) <= MaxFrequencyPenalty))
            throw Invalid("sampling_params.frequency_penalty", $"must be in [-{Format(MaxFrequencyPenalty)}, {Format(MaxFrequencyPenalty)}], got {Format(frequency)}");
        if (!(minP >= 0 && minP <= 1)) throw Invalid("sampling_params.min_p", $"must be in [0, 1], got {Format(minP)}");
        if (p.LogitBias.Count > MaxLogitBiasTokens) throw Invalid("sampling_params.logit_bias", $"at most {MaxLogitBiasTokens} tokens, got {p.LogitBias.Count}");
        foreach (var (token, bias) in p.LogitBias.Where(b => b.Key < 0 || !(Math.Abs(b.Value) <= MaxLogitBias)).Take(1))
            throw Invalid("sampling_params.logit_bias", $"token {token}: needs a token id >= 0 and a bias in [-{Format(MaxLogitBias)}, {Format(MaxLogitBias)}], got {Format(bias)}");
        if (p.StopTokenIds.Any(t => t < 0)) throw Invalid("sampling_params.stop_token_ids", "token ids must be >= 0");
        if (p.TopLogprobs is < 0 or > MaxTopLogprobs) throw Invalid("sampling_params.top_logprobs", $"must be in [0, {MaxTopLogprobs}], got {p.TopLogprobs}");
        if (p.TopLogprobs > 0 && !p.Logprobs) throw Invalid("sampling_params.top_logprobs", "needs logprobs");
        return new SequenceRequest
        {
            RequestId = id, PromptTokens = [], Temperature = temperature, TopP = topP, TopK = topK, MaxTokens = maxTokens,
            Stop = [.. p.Stop], StopTokenIds = [.. p.StopTokenIds], Seed = p.HasSeed ? p.Seed : null, RepetitionPenalty = penalty,
            IgnoreEos = p.IgnoreEos, KvPolicy = KvPolicyText(request), PresencePenalty = presence, FrequencyPenalty = frequency, MinP = minP,
            LogitBias = new Dictionary<int, float>(p.LogitBias), TopLogprobs = p.TopLogprobs,
        };
    }

    /// <summary>The prompt against the model: token ids in the vocabulary, prompt + max_tokens within the context.</summary>
    public static void ValidatePrompt(int[] prompt, SequenceRequest request, ModelDescription model, string field)
    {
        if (prompt.Length == 0) throw Invalid(field, "the prompt must not be empty");
        foreach (var token in prompt.Where(t => t < 0 || t >= model.VocabSize).Take(1))
            throw Invalid(field, $"token id {token} is outside the vocabulary [0, {model.VocabSize})");
        foreach (var token in request.LogitBias.Keys.Where(t => t >= model.VocabSize).Take(1))
            throw Invalid("sampling_params.logit_bias", $"token id {token} is outside the vocabulary [0, {model.VocabSize})");
        foreach (var token in request.StopTokenIds.Where(t => t >= model.VocabSize).Take(1))
            throw Invalid("sampling_params.stop_token_ids", $"token id {token} is outside the vocabulary [0, {model.VocabSize})");
        if ((long)prompt.Length + request.MaxTokens > model.MaxContextLength)
            throw Invalid("sampling_params.max_tokens", $"prompt ({prompt.Length} tokens) + max_tokens ({request.MaxTokens}) exceeds the model's context of {model.MaxContextLength}");
    }

    /// <summary>kv_policy plus kv_sparsity in the engine's text form ("swa:0.8:sinks=4"); null = the worker's default.</summary>
    private static string? KvPolicyText(GenerateRequest request)
    {
        if (request.KvPolicy.Length == 0)
            return request.HasKvSparsity ? throw Invalid("kv_policy", "kv_sparsity needs a sparse kv_policy (local, streaming, h2o, swa, quest)") : null;
        // error messages quote the policy, so bound it (a huge status detail would break the trailers)
        if (request.KvPolicy.Length > 256) throw Invalid("kv_policy", $"at most 256 characters, got {request.KvPolicy.Length}");
        var parts = request.KvPolicy.Trim().ToLowerInvariant().Split(':').ToList();
        if (!KvPolicies.Contains(parts[0])) throw Invalid("kv_policy", $"unknown KV policy '{parts[0]}' ({string.Join(", ", KvPolicies)})");
        double inline = 0;
        bool hasInlineSparsity = parts.Count > 1 && double.TryParse(parts[1], CultureInfo.InvariantCulture, out inline);
        if (hasInlineSparsity) CheckSparsity("kv_policy", inline);
        CheckOptions(request.KvPolicy, parts[0], parts.Skip(hasInlineSparsity ? 2 : 1));
        if (request.HasKvSparsity)
        {
            var sparsity = request.KvSparsity;
            CheckSparsity("kv_sparsity", sparsity);
            if (parts[0] == "dense" && sparsity > 0) throw Invalid("kv_sparsity", "the dense policy keeps every token; choose a sparse kv_policy");
            if (hasInlineSparsity) throw Invalid("kv_sparsity", $"kv_policy '{request.KvPolicy}' already gives a sparsity");
            if (parts[0] != "dense") parts.Insert(1, Format(sparsity));
        }
        else if (parts[0] != "dense" && !hasInlineSparsity) throw Invalid("kv_sparsity", $"the {parts[0]} policy needs a KV sparsity in [0, {Format(MaxKvSparsity)}]");
        return string.Join(':', parts);
    }

    private static void CheckSparsity(string field, double sparsity)
    {
        if (!(sparsity >= 0 && sparsity <= MaxKvSparsity)) throw Invalid(field, $"KV sparsity must be in [0, {Format(MaxKvSparsity)}], got {Format(sparsity)}");
    }

    /// <summary>Numeric SWA options; unknown options are left to the worker, which knows the full set.</summary>
    private static void CheckOptions(string text, string policy, IEnumerable<string> options)
    {
        foreach (var option in options)
        {
            if (option.StartsWith("sinks=", StringComparison.Ordinal)
                && !(int.TryParse(option[6..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var sinks) && sinks >= 0 && sinks <= MaxSinks))
                throw Invalid("kv_policy", $"'{text}': sinks must be an integer in [0, {MaxSinks}]");
            if (option.StartsWith("local=", StringComparison.Ordinal)
                && !(double.TryParse(option[6..], NumberStyles.Float, CultureInfo.InvariantCulture, out var local) && (local > 0 || (local == 0 && policy == "quest")) && local <= 1))
                throw Invalid("kv_policy", $"'{text}': local must be a number in {(policy == "quest" ? "[0" : "(0")}, 1]");
        }
    }

    public static RpcException Invalid(string field, string message) => new(new Status(StatusCode.InvalidArgument, $"{field}: {message}"));

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex RequestIdPattern();
}
