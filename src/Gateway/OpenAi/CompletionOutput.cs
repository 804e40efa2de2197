using System.Text;
using System.Text.Json.Nodes;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using Microsoft.AspNetCore.Http.Features;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>Where a completion's tokens go: a server-sent event stream, or one JSON body at the end.</summary>
public interface ICompletionOutput
{
    /// <summary>Whether anything was sent (an error can then no longer change the HTTP status).</summary>
    bool Started { get; }

    Task TokenAsync(SequenceChunk token);

    Task FinishAsync(GenerationOutcome outcome);

    /// <summary>Reports a failure after the stream started (before, the caller answers with an error status).</summary>
    Task FailAsync(OpenAiError error);

    static ICompletionOutput For(CompletionCall call, CompletionJson json, HttpResponse response) =>
        call.Stream ? new StreamedCompletion(json, response) : new CollectedCompletion(json, response);
}

/// <summary>"stream": true: one "data: {chunk}" event per token that completes text (or carries a logprob), then the
/// finish chunk, the usage chunk when asked for, and "data: [DONE]". Headers go out with the first token, so a
/// request refused before it gets a proper error status.</summary>
public sealed class StreamedCompletion(CompletionJson json, HttpResponse response) : ICompletionOutput
{
    private int _textLength;

    public bool Started { get; private set; }

    public async Task TokenAsync(SequenceChunk token)
    {
        bool first = !Started;
        if (first) Start();
        if (token.Text.Length == 0 && !first && !json.WantsLogprobs) return;
        await SendAsync(json.Chunk(json.StreamChoice(token.Text, [token], _textLength, finish: null, first)));
        _textLength += token.Text.Length;
    }

    public async Task FinishAsync(GenerationOutcome outcome)
    {
        bool first = !Started;
        if (first) Start();
        await SendAsync(json.Chunk(json.StreamChoice("", [], _textLength, CompletionJson.FinishReason(outcome.Final.Finish), first)));
        if (json.WantsUsage) await SendAsync(json.Chunk(null, outcome));
        await SendDoneAsync();
    }

    public async Task FailAsync(OpenAiError error)
    {
        await SendAsync(error.ToJson());
        await SendDoneAsync();
    }

    private void Start()
    {
        Started = true;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private async Task SendAsync(JsonNode data) => await WriteAsync($"data: {data.ToJsonString()}\n\n");

    private async Task SendDoneAsync() => await WriteAsync("data: [DONE]\n\n");

    private async Task WriteAsync(string text)
    {
        await response.WriteAsync(text, Encoding.UTF8, response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }
}

/// <summary>"stream": false: the text and tokens are gathered and sent as one completion object.</summary>
public sealed class CollectedCompletion(CompletionJson json, HttpResponse response) : ICompletionOutput
{
    private readonly StringBuilder _text = new();
    private readonly List<SequenceChunk> _tokens = [];

    public bool Started { get; private set; }

    public Task TokenAsync(SequenceChunk token)
    {
        _text.Append(token.Text);
        _tokens.Add(token);
        return Task.CompletedTask;
    }

    public async Task FinishAsync(GenerationOutcome outcome)
    {
        Started = true;
        await response.WriteAsJsonAsync(json.Complete(_text.ToString(), _tokens, outcome), response.HttpContext.RequestAborted);
    }

    public Task FailAsync(OpenAiError error) => Task.CompletedTask;
}
