using System.Text;
using System.Text.Json.Nodes;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using Microsoft.AspNetCore.Http.Features;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>Where a completion's tokens go: a server-sent event stream, or one JSON body at the end. The n choices of
/// a call run concurrently; each reports its tokens and finish under its index, then <see cref="EndAsync"/> closes.</summary>
public interface ICompletionOutput
{
    /// <summary>Whether anything was sent (an error can then no longer change the HTTP status).</summary>
    bool Started { get; }

    Task TokenAsync(int choice, SequenceChunk token);

    Task FinishAsync(int choice, GenerationOutcome outcome);

    /// <summary>After every choice finished: the usage (streamed when asked for) or the whole completion.</summary>
    Task EndAsync();

    /// <summary>Reports a failure after the stream started (before, the caller answers with an error status).</summary>
    Task FailAsync(OpenAiError error);

    static ICompletionOutput For(CompletionCall call, CompletionJson json, HttpResponse response) =>
        call.Stream ? new StreamedCompletion(call.N, json, response) : new CollectedCompletion(call.N, json, response);
}

/// <summary>"stream": true: one "data: {chunk}" event per token that completes text (or carries a logprob), then each
/// choice's finish chunk, the usage chunk when asked for, and "data: [DONE]". Headers go out with the first token, so a
/// request refused before it gets a proper error status. Choices write one event at a time.</summary>
public sealed class StreamedCompletion(int choices, CompletionJson json, HttpResponse response) : ICompletionOutput
{
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly int[] _textLength = new int[choices];
    private readonly bool[] _begun = new bool[choices];
    private readonly GenerationOutcome[] _outcomes = new GenerationOutcome[choices];

    public bool Started { get; private set; }

    public async Task TokenAsync(int choice, SequenceChunk token)
    {
        await WriteLockedAsync(() =>
        {
            bool first = !_begun[choice];
            if (token.Text.Length == 0 && !first && !json.WantsLogprobs) return null;
            _begun[choice] = true;
            var chunk = json.Chunk(json.StreamChoice(choice, token.Text, [token], _textLength[choice], finish: null, first));
            _textLength[choice] += token.Text.Length;
            return chunk;
        });
    }

    public async Task FinishAsync(int choice, GenerationOutcome outcome)
    {
        _outcomes[choice] = outcome;
        await WriteLockedAsync(() =>
        {
            bool first = !_begun[choice];
            _begun[choice] = true;
            return json.Chunk(json.StreamChoice(choice, "", [], _textLength[choice], CompletionJson.FinishReason(outcome.Final.Finish), first));
        });
    }

    public async Task EndAsync()
    {
        if (json.WantsUsage) await WriteLockedAsync(() => json.Chunk(null, _outcomes));
        await SendDoneAsync();
    }

    public async Task FailAsync(OpenAiError error)
    {
        await WriteLockedAsync(error.ToJson);
        await SendDoneAsync();
    }

    /// <summary>Builds (under the lock, so choices see each other's state) and sends one event; null sends nothing.</summary>
    private async Task WriteLockedAsync(Func<JsonNode?> data)
    {
        await _write.WaitAsync(response.HttpContext.RequestAborted);
        try
        {
            if (!Started) Start();
            if (data() is { } node) await WriteAsync($"data: {node.ToJsonString()}\n\n");
        }
        finally { _write.Release(); }
    }

    private void Start()
    {
        Started = true;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private async Task SendDoneAsync() => await WriteAsync("data: [DONE]\n\n");

    private async Task WriteAsync(string text)
    {
        await response.WriteAsync(text, Encoding.UTF8, response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }
}

/// <summary>"stream": false: each choice's text and tokens are gathered and sent as one completion object.</summary>
public sealed class CollectedCompletion(int choices, CompletionJson json, HttpResponse response) : ICompletionOutput
{
    private readonly StringBuilder[] _text = [.. Enumerable.Range(0, choices).Select(_ => new StringBuilder())];
    private readonly List<SequenceChunk>[] _tokens = [.. Enumerable.Range(0, choices).Select(_ => new List<SequenceChunk>())];
    private readonly GenerationOutcome[] _outcomes = new GenerationOutcome[choices];

    public bool Started { get; private set; }

    public Task TokenAsync(int choice, SequenceChunk token)
    {
        _text[choice].Append(token.Text);
        _tokens[choice].Add(token);
        return Task.CompletedTask;
    }

    public Task FinishAsync(int choice, GenerationOutcome outcome)
    {
        _outcomes[choice] = outcome;
        return Task.CompletedTask;
    }

    public async Task EndAsync()
    {
        Started = true;
        var completion = json.Complete([.. _outcomes.Select((o, i) => new CompletionChoice(_text[i].ToString(), _tokens[i], o))]);
        await response.WriteAsJsonAsync(completion, response.HttpContext.RequestAborted);
    }

    public Task FailAsync(OpenAiError error) => Task.CompletedTask;
}
