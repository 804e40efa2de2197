using System.Text.Json.Nodes;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>One finished choice of a non-streamed completion.</summary>
public sealed record CompletionChoice(string Text, IReadOnlyList<SequenceChunk> Tokens, GenerationOutcome Outcome);

/// <summary>The JSON of OpenAI's completion objects: "text_completion", "chat.completion" and "chat.completion.chunk".
/// A token in logprobs is written "token_id:N" (vLLM's return_tokens_as_token_ids form): the gateway has no vocabulary.</summary>
public sealed class CompletionJson(CompletionCall call, string model)
{
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private bool IsChat => call.Kind == CompletionKind.Chat;
    public bool WantsLogprobs => call.Logprobs;
    public bool WantsUsage => call.IncludeUsage;

    /// <summary>One streamed chunk with a single choice (or none: the usage chunk, over all choices).</summary>
    public JsonObject Chunk(JsonObject? choice, IReadOnlyList<GenerationOutcome>? usage = null)
    {
        var chunk = Envelope(IsChat ? "chat.completion.chunk" : "text_completion", choice is null ? [] : [choice]);
        if (call.IncludeUsage) chunk["usage"] = usage is null ? null : Usage(usage);
        return chunk;
    }

    /// <summary>A streamed choice: new text (a chat delta) with the tokens' logprobs, or the finish reason.</summary>
    public JsonObject StreamChoice(int index, string text, IReadOnlyList<SequenceChunk> tokens, int textOffset, string? finish, bool first = false)
    {
        var choice = new JsonObject { ["index"] = index };
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
    public JsonObject Complete(IReadOnlyList<CompletionChoice> choices)
    {
        var completion = Envelope(IsChat ? "chat.completion" : "text_completion", [.. choices.Select((c, index) =>
        {
            var choice = new JsonObject { ["index"] = index };
            if (IsChat) choice["message"] = new JsonObject { ["role"] = "assistant", ["content"] = c.Text };
            else choice["text"] = c.Text;
            choice["logprobs"] = call.Logprobs ? Logprobs(c.Tokens, 0) : null;
            choice["finish_reason"] = FinishReason(c.Outcome.Final.Finish);
            return choice;
        })]);
        completion["usage"] = Usage([.. choices.Select(c => c.Outcome)]);
        return completion;
    }

    public static string FinishReason(SequenceFinish? finish) => finish switch
    {
        SequenceFinish.Stop => "stop",
        SequenceFinish.Length => "length",
        _ => "abort",
    };

    private JsonObject Envelope(string objectType, JsonObject[] choices) => new()
    {
        ["id"] = call.Id, ["object"] = objectType, ["created"] = _created, ["model"] = model,
        ["choices"] = new JsonArray(choices),
    };

    /// <summary>The prompt counted once (its cached tokens: the first choice's); the completion tokens of every choice.</summary>
    private static JsonObject Usage(IReadOnlyList<GenerationOutcome> outcomes)
    {
        int prompt = outcomes[0].PromptTokens, completion = outcomes.Sum(o => o.CompletionTokens);
        return new JsonObject
        {
            ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = outcomes[0].CachedTokens },
        };
    }

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
