using System.Text.Json.Nodes;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>The JSON of OpenAI's completion objects: "text_completion", "chat.completion" and "chat.completion.chunk".
/// A token in logprobs is written "token_id:N" (vLLM's return_tokens_as_token_ids form): the gateway has no vocabulary.</summary>
public sealed class CompletionJson(CompletionCall call, string model)
{
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private bool IsChat => call.Kind == CompletionKind.Chat;
    public bool WantsLogprobs => call.Logprobs;
    public bool WantsUsage => call.IncludeUsage;

    /// <summary>One streamed chunk with a single choice (or none: the usage chunk).</summary>
    public JsonObject Chunk(JsonObject? choice, GenerationOutcome? usage = null)
    {
        var chunk = Envelope(IsChat ? "chat.completion.chunk" : "text_completion", choice);
        if (call.IncludeUsage) chunk["usage"] = usage is null ? null : Usage(usage);
        return chunk;
    }

    /// <summary>A streamed choice: new text (a chat delta) with the tokens' logprobs, or the finish reason.</summary>
    public JsonObject StreamChoice(string text, IReadOnlyList<SequenceChunk> tokens, int textOffset, string? finish, bool first = false)
    {
        var choice = new JsonObject { ["index"] = 0 };
        if (IsChat)
        {
            var delta = new JsonObject();
            if (first) delta["role"] = "assistant";
            if (finish is null) delta["content"] = text;
            choice["delta"] = delta;
        }
        else choice["text"] = text;
        choice["logprobs"] = call.Logprobs && finish is null ? Logprobs(tokens, textOffset) : null;
        choice["finish_reason"] = finish;
        return choice;
    }

    /// <summary>The whole (non-streamed) completion.</summary>
    public JsonObject Complete(string text, IReadOnlyList<SequenceChunk> tokens, GenerationOutcome outcome)
    {
        var choice = new JsonObject { ["index"] = 0 };
        if (IsChat) choice["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text };
        else choice["text"] = text;
        choice["logprobs"] = call.Logprobs ? Logprobs(tokens, 0) : null;
        choice["finish_reason"] = FinishReason(outcome.Final.Finish);
        var completion = Envelope(IsChat ? "chat.completion" : "text_completion", choice);
        completion["usage"] = Usage(outcome);
        return completion;
    }

    public static string FinishReason(SequenceFinish? finish) => finish switch
    {
        SequenceFinish.Stop => "stop",
        SequenceFinish.Length => "length",
        _ => "abort",
    };

    private JsonObject Envelope(string objectType, JsonObject? choice) => new()
    {
        ["id"] = call.Id, ["object"] = objectType, ["created"] = _created, ["model"] = model,
        ["choices"] = choice is null ? new JsonArray() : new JsonArray(choice),
    };

    private static JsonObject Usage(GenerationOutcome outcome) => new()
    {
        ["prompt_tokens"] = outcome.PromptTokens, ["completion_tokens"] = outcome.CompletionTokens,
        ["total_tokens"] = outcome.PromptTokens + outcome.CompletionTokens,
    };

    private JsonObject Logprobs(IReadOnlyList<SequenceChunk> tokens, int textOffset)
    {
        if (IsChat)
        {
            return new JsonObject
            {
                ["content"] = new JsonArray(tokens.Select(t => (JsonNode)new JsonObject
                {
                    ["token"] = TokenName(t.TokenId), ["logprob"] = t.Logprob, ["bytes"] = null,
                    ["top_logprobs"] = new JsonArray(t.TopLogprobs.Select(top => (JsonNode)new JsonObject
                    {
                        ["token"] = TokenName(top.TokenId), ["logprob"] = top.Logprob, ["bytes"] = null,
                    }).ToArray()),
                }).ToArray()),
            };
        }
        var offsets = new JsonArray();
        foreach (var token in tokens)
        {
            offsets.Add(textOffset);
            textOffset += token.Text.Length;
        }
        return new JsonObject
        {
            ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)TokenName(t.TokenId)).ToArray()),
            ["token_logprobs"] = new JsonArray(tokens.Select(t => (JsonNode)t.Logprob).ToArray()),
            // one {token: logprob} object per token (null without top alternatives, as OpenAI's "logprobs": 0)
            ["top_logprobs"] = call.Request.SamplingParams.TopLogprobs == 0 ? null
                : new JsonArray(tokens.Select(t => (JsonNode)new JsonObject(t.TopLogprobs.Select(top =>
                    KeyValuePair.Create(TokenName(top.TokenId), (JsonNode?)top.Logprob)))).ToArray()),
            ["text_offset"] = offsets,
        };
    }

    private static string TokenName(int tokenId) => $"token_id:{tokenId}";
}
