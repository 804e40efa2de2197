using System.Threading.Channels;
using AlisaCluster.GpuWorker.Kv;

namespace AlisaCluster.GpuWorker.Engine;

public enum SequenceState { Waiting, Running, Finished }

/// <summary>One request inside the engine: its tokens, KV, sampling state and the channel its consumer reads.</summary>
public sealed class Sequence
{
    private readonly List<int> _tokens;
    private readonly HashSet<int> _seen;
    private readonly Channel<GenerationEvent> _events = Channel.CreateUnbounded<GenerationEvent>(new() { SingleReader = true, SingleWriter = true });

    public Sequence(GenerationRequest request, SequenceKv kv, OutputText output, long fallbackSeed)
    {
        Request = request;
        Kv = kv;
        Output = output;
        _tokens = [.. request.PromptTokens, .. request.ResumeTokens];
        kv.Tokens = _tokens;
        _seen = [.. _tokens];
        Random = new Random(unchecked((int)(request.Sampling.Seed ?? fallbackSeed)));
        Generated = request.ResumeTokens.ToList();
        output.Advance(Generated, isLast: false, out _); // resumed tokens were streamed before: skip their text
        // the sampler draws once per sampled token: replay the draws of the resumed tokens, so a seeded request
        // continues with the same random stream it would have had on the lost worker
        if (!request.Sampling.IsGreedy) foreach (var _ in request.ResumeTokens) Random.NextDouble();
    }

    public GenerationRequest Request { get; }
    public string Id => Request.RequestId;
    public SamplingParams Sampling => Request.Sampling;
    public SequenceKv Kv { get; }
    public OutputText Output { get; }
    public Random Random { get; }
    public SequenceState State { get; set; } = SequenceState.Waiting;
    /// <summary>Prompt then generated tokens; the KV cache holds the first Kv.Length of them.</summary>
    public IReadOnlyList<int> Tokens => _tokens;
    public List<int> Generated { get; }
    public IReadOnlyCollection<int> SeenTokens => _seen;
    public int PromptLength => Request.PromptTokens.Count;
    public bool CancelRequested { get; private set; }
    public int Preemptions { get; set; }
    /// <summary>Prompt tokens whose KV came from the prefix cache at the first admission (usage's cached_tokens).</summary>
    public int CachedPromptTokens { get; set; }
    public ChannelReader<GenerationEvent> Events => _events.Reader;

    /// <summary>The last decode step picked this sequence's next token, which is still on its way to the host (async
    /// scheduling: the next step feeds it from the device). It counts as pending, not yet in <see cref="Tokens"/>.</summary>
    public bool TokenInFlight { get; set; }

    /// <summary>Tokens not yet in the KV cache (all of them after admission or preemption; one while decoding).</summary>
    public int PendingTokens => _tokens.Count + (TokenInFlight ? 1 : 0) - Kv.Length;

    /// <summary>The token in flight is this sequence's last by max_tokens: no step feeds it.</summary>
    public bool LastTokenInFlight => TokenInFlight && Generated.Count + 1 >= Sampling.MaxTokens;

    public void RequestCancel() => CancelRequested = true;

    public void Append(int token)
    {
        TokenInFlight = false;
        _tokens.Add(token);
        _seen.Add(token);
        Generated.Add(token);
    }

    public void Publish(GenerationEvent item) => _events.Writer.TryWrite(item);

    public void Fail(Exception error) => _events.Writer.TryComplete(error);

    public void Complete() => _events.Writer.TryComplete();
}
