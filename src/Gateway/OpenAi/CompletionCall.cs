using System.Text.Json;
using AlisaCluster.Protos;
using AlisaCluster.Gateway.Grpc;

namespace AlisaCluster.Gateway.OpenAi;

public enum CompletionKind { Text, Chat }

/// <summary>One chat message as the template sees it.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>An OpenAI completions or chat request, read into the gRPC API's request (so both APIs validate and sample
/// the same way) plus what only the HTTP API has. A chat call's text input is its messages rendered by the chat template
/// (<see cref="CompletionHandler"/>).</summary>
public sealed record CompletionCall(CompletionKind Kind, string Id, GenerateRequest Request, bool MaxTokensGiven)
{
    public string? Model { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    /// <summary>How many independent choices to generate (OpenAI's n), each its own sequence.</summary>
    public int N { get; init; } = 1;
    /// <summary>Return each sampled token's log-probability (and its request's top_logprobs alternatives).</summary>
    public bool Logprobs { get; init; }
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];
    public bool AddGenerationPrompt { get; init; } = true;
    /// <summary>A template given with the request (vLLM's extra field) instead of the model's.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>The request field the prompt came from, for error messages.</summary>
    public string InputField => Kind == CompletionKind.Chat ? "messages" : "prompt";

    /// <summary>Reads a request body; throws <see cref="OpenAiException"/> (400) naming the first bad field.</summary>
    public static CompletionCall Read(CompletionKind kind, JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object) throw new OpenAiException(new(400, "the request body must be a JSON object", "invalid_request_error", null, null));
        var fields = new JsonFields(body);
        Unsupported(fields, kind);
        var request = new GenerateRequest { SamplingParams = Sampling(fields, kind, out bool maxTokensGiven) };
        bool stream = fields.Bool("stream") ?? false;
        var options = fields.Object("stream_options");
        if (options is not null && !stream) throw fields.Invalid("stream_options", "is only allowed with \"stream\": true");
        if (fields.String("kv_policy") is { } policy) request.KvPolicy = policy;
        if (fields.Number("kv_sparsity") is { } sparsity) request.KvSparsity = sparsity;
        fields.String("user"); // accepted for compatibility (OpenAI's end-user id); only its type is checked
        var call = new CompletionCall(kind, (kind == CompletionKind.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N"), request, maxTokensGiven)
        {
            Model = fields.String("model"), Stream = stream, IncludeUsage = options?.Bool("include_usage") ?? false, N = fields.Integer("n") ?? 1,
        };
        if (call.N is < 1 or > GenerateRequestValidator.MaxChoices) throw fields.Invalid("n", $"must be in [1, {GenerateRequestValidator.MaxChoices}], got {call.N}");
        request.RequestId = call.Id;
        if (kind == CompletionKind.Text)
        {
            ReadPrompt(fields, request);
            // legacy form: "logprobs": N asks for the sampled tokens' logprobs and the N most likely at each step
            int? logprobs = fields.Integer("logprobs");
            if (logprobs is < 0 or > GenerateRequestValidator.MaxTopLogprobs) throw fields.Invalid("logprobs", $"must be in [0, {GenerateRequestValidator.MaxTopLogprobs}], got {logprobs}");
            request.SamplingParams.Logprobs = logprobs is not null;
            request.SamplingParams.TopLogprobs = logprobs ?? 0;
            return call with { Logprobs = logprobs is not null };
        }
        bool chatLogprobs = fields.Bool("logprobs") ?? false;
        int topLogprobs = fields.Integer("top_logprobs") ?? 0;
        if (topLogprobs is < 0 or > GenerateRequestValidator.MaxTopLogprobs) throw fields.Invalid("top_logprobs", $"must be in [0, {GenerateRequestValidator.MaxTopLogprobs}], got {topLogprobs}");
        if (fields.Has("top_logprobs") && !chatLogprobs) throw fields.Invalid("top_logprobs", "needs \"logprobs\": true");
        request.SamplingParams.Logprobs = chatLogprobs;
        request.SamplingParams.TopLogprobs = topLogprobs;
        return call with
        {
            Logprobs = chatLogprobs, Messages = ChatMessages.Read(fields), AddGenerationPrompt = fields.Bool("add_generation_prompt") ?? true,
            ChatTemplate = fields.String("chat_template"),
        };
    }

    private static SamplingParams Sampling(JsonFields fields, CompletionKind kind, out bool maxTokensGiven)
    {
        var p = new SamplingParams();
        if (fields.Number("temperature") is { } temperature) p.Temperature = temperature;
        if (fields.Number("top_p") is { } topP) p.TopP = topP;
        if (fields.Integer("top_k") is { } topK) p.TopK = topK == -1 ? 0 : topK; // vLLM's "off" is -1
        int? maxTokens = kind == CompletionKind.Chat ? fields.Integer("max_completion_tokens") ?? fields.Integer("max_tokens") : fields.Integer("max_tokens");
        maxTokensGiven = maxTokens is not null;
        // OpenAI's defaults: 16 for completions; for chat, up to the context (set once the prompt is known)
        p.MaxTokens = maxTokens ?? 16;
        p.Stop.AddRange(fields.Strings("stop"));
        p.StopTokenIds.AddRange(fields.Integers("stop_token_ids"));
        if (fields.Long("seed") is { } seed) p.Seed = seed;
        if (fields.Number("presence_penalty") is { } presence) p.PresencePenalty = presence;
        if (fields.Number("frequency_penalty") is { } frequency) p.FrequencyPenalty = frequency;
        if (fields.Number("repetition_penalty") is { } repetition) p.RepetitionPenalty = repetition;
        if (fields.Number("min_p") is { } minP) p.MinP = minP;
        p.IgnoreEos = fields.Bool("ignore_eos") ?? false;
        if (fields.Object("logit_bias") is not null)
        {
            foreach (var entry in fields.Get("logit_bias")!.Value.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, out var token)) throw fields.Invalid("logit_bias", $"key '{entry.Name}' is not a token id");
                if (entry.Value.ValueKind != JsonValueKind.Number) throw fields.Invalid("logit_bias", $"the bias of token {token} must be a number");
                p.LogitBias[token] = entry.Value.GetSingle();
            }
        }
        return p;
    }

    private static void ReadPrompt(JsonFields fields, GenerateRequest request)
    {
        var prompt = fields.Get("prompt") ?? throw fields.Invalid("prompt", "is required");
        if (prompt.ValueKind == JsonValueKind.String) { request.Text = prompt.GetString(); return; }
        if (prompt.ValueKind != JsonValueKind.Array) throw fields.Invalid("prompt", "must be a string, a list of token ids, or a list of one of those");
        var items = prompt.EnumerateArray().ToList();
        if (items.Count > 0 && items.All(i => i.ValueKind == JsonValueKind.Number))
        {
            if (items.Any(i => !i.TryGetInt32(out _))) throw fields.Invalid("prompt", "token ids must be 32-bit integers");
            request.Tokenized = new TokenIds { Ids = { items.Select(i => i.GetInt32()) } };
            return;
        }
        if (items.Count != 1) throw fields.Invalid("prompt", $"batched prompts are not supported (got a list of {items.Count}); send one prompt per request");
        var single = new JsonFields(JsonDocument.Parse($"{{\"prompt\":{items[0].GetRawText()}}}").RootElement);
        ReadPrompt(single, request);
    }

    /// <summary>Fields of the OpenAI API this server does not implement: refused by name rather than ignored.</summary>
    private static void Unsupported(JsonFields fields, CompletionKind kind)
    {
        if ((fields.Integer("best_of") ?? 1) != 1) throw fields.Invalid("best_of", "only best_of = 1 is supported");
        if (fields.Bool("echo") == true) throw fields.Invalid("echo", "echoing the prompt is not supported");
        if (!string.IsNullOrEmpty(fields.String("suffix"))) throw fields.Invalid("suffix", "insertion (suffix) is not supported");
        if (kind == CompletionKind.Text) return;
        foreach (var name in new[] { "tools", "functions", "audio" })
            if (fields.Has(name)) throw fields.Invalid(name, "is not supported by this server (no tool calling or audio)");
        if (fields.Get("tool_choice") is { } choice && !(choice.ValueKind == JsonValueKind.String && choice.GetString() == "none"))
            throw fields.Invalid("tool_choice", "is not supported (no tool calling)");
        if (fields.Object("response_format")?.String("type") is { } format && format != "text")
            throw fields.Invalid("response_format", $"type '{format}' is not supported; only 'text'");
    }
}
