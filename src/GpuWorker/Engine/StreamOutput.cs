using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>Hands each decoded token to its sequence's stream: whether it ends the sequence (EOS, a stop token, max
/// tokens, the context, a stop string in the text), the text that became final, the event. A token that ends nothing
/// and can't (no stop string to look for; not the first of its stream, whose latency counts) is held, and published
/// once the next step has been issued (<see cref="PublishHeld"/>): detokenizing and publishing (~5 us a token) then
/// run while the device works instead of between two steps, as vLLM's async output processing does. Everything else
/// that ends a stream goes through <see cref="Finish(Sequence, Exception?)"/>, which publishes the held tokens first,
/// so a stream's order never changes.</summary>
internal sealed class StreamOutput(ModelConfig config, int maxModelLength, Action<Sequence> remove)
{
    private List<(Sequence Sequence, Sampler.Choice Choice)> _held = [], _publishing = [];
    private readonly HashSet<Sequence> _holding = [];

    /// <summary>Appends a decoded token to <paramref name="sequence"/> and publishes it now, or holds it for the next step.
    /// A held token is published while its sequence is as it left it (one the sequence still holds goes out first).</summary>
    public void Add(Sequence sequence, Sampler.Choice choice)
    {
        if (_holding.Contains(sequence)) PublishHeld(); // (the engine publishes before its next step appends)
        sequence.Append(choice.TokenId);
        var (_, stopToken, length) = EndsBy(sequence, choice.TokenId);
        bool canEnd = sequence.Sampling.Stop.Count > 0 || stopToken || length || sequence.Generated.Count <= sequence.Request.ResumeTokens.Count + 1;
        if (canEnd) Emit(sequence, choice);
        else { _held.Add((sequence, choice)); _holding.Add(sequence); }
    }

    /// <summary>Publishes the held tokens.</summary>
    public void PublishHeld()
    {
        (_held, _publishing) = (_publishing, _held);
        _holding.Clear();
        foreach (var (sequence, choice) in _publishing) Emit(sequence, choice);
        _publishing.Clear();
    }

    /// <summary>Ends a stream before its tokens do (a cancel, the engine stopping): the abort event after the held tokens.</summary>
    public void Finish(Sequence sequence, FinishReason abort)
    {
        PublishHeld();
        sequence.Publish(new GenerationEvent(-1, "", 0, abort, sequence.PromptLength, sequence.Generated.Count) { CachedTokens = sequence.CachedPromptTokens });
        Finish(sequence, error: null);
    }

    /// <summary>Removes the sequence from the engine and completes its stream (with <paramref name="error"/>, if any),
    /// after the held tokens.</summary>
    public void Finish(Sequence sequence, Exception? error)
    {
        PublishHeld();
        remove(sequence);
        if (error is null) sequence.Complete(); else sequence.Fail(error);
    }

    /// <summary>How the token just appended ends its sequence without looking at text: EOS (a stop token too), a stop
    /// token, max tokens or the context.</summary>
    private (bool Eos, bool StopToken, bool Length) EndsBy(Sequence sequence, int token)
    {
        var sampling = sequence.Sampling;
        bool eos = !sampling.IgnoreEos && config.EosTokenIds.Contains(token);
        return (eos, eos || sampling.StopTokenIds.Contains(token),
            sequence.Generated.Count >= sampling.MaxTokens || sequence.Tokens.Count >= maxModelLength);
    }

    private void Emit(Sequence sequence, Sampler.Choice choice)
    {
        var (eos, stopToken, length) = EndsBy(sequence, choice.TokenId);
        var text = sequence.Output.Advance(sequence.Generated, isLast: stopToken || length, out bool stopString);
        StopCause? cause = eos ? StopCause.Eos : stopString ? StopCause.StopString : stopToken ? StopCause.StopToken : null;
        FinishReason? finish = cause is not null ? FinishReason.Stop : length ? FinishReason.Length : null;
        sequence.Publish(new GenerationEvent(choice.TokenId, text, choice.Logprob, finish, sequence.PromptLength, sequence.Generated.Count)
        {
            Cause = cause, TopLogprobs = choice.Top, CachedTokens = sequence.CachedPromptTokens,
        });
        if (finish is not null) Finish(sequence, error: null);
    }
}
