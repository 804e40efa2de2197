using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Tokenization;

namespace AlisaCluster.GpuWorker.Tests.Engine;

public sealed class StreamOutputTests
{
    private static readonly string Folder = RepoPaths.Model("tiny-llama");
    private static readonly HfTokenizer Tokenizer = HfTokenizer.Load(Path.Combine(Folder, "tokenizer.json"));
    private static readonly ModelConfig Config = ModelConfig.Load(Path.Combine(Folder, "config.json"));

    private static Sequence NewSequence(SamplingParams sampling) =>
        new(new GenerationRequest(Guid.NewGuid().ToString(), [1, 5, 9], sampling), new SequenceKv(16), new OutputText(Tokenizer, sampling.Stop), 1);

    private static List<GenerationEvent> Drain(Sequence sequence)
    {
        var events = new List<GenerationEvent>();
        while (sequence.Events.TryRead(out var item)) events.Add(item);
        return events;
    }

    private static void Decode(StreamOutput output, Sequence sequence, int token) => output.Add(sequence, new Sampler.Choice(token, -0.5f, []));

    [Fact]
    public void MiddleTokensWaitForTheNextStepAndKeepTheirOrder()
    {
        var removed = new List<Sequence>();
        var output = new StreamOutput(Config, 2048, removed.Add);
        var sequence = NewSequence(SamplingParams.Greedy(4) with { IgnoreEos = true });

        Decode(output, sequence, 100);
        Assert.Single(Drain(sequence));                          // a stream's first token goes out at once (its latency counts)
        Decode(output, sequence, 101);
        Assert.Empty(Drain(sequence));                           // a middle token is held ...
        output.PublishHeld();
        Assert.Equal([101], Drain(sequence).Select(e => e.TokenId)); // ... until the next step has been issued
        Decode(output, sequence, 102);
        Decode(output, sequence, 103);                            // the next token without a step between: the held one first;
        var events = Drain(sequence);                             // max tokens: it ends the stream
        Assert.Equal([102, 103], events.Select(e => e.TokenId));
        Assert.Equal([null, FinishReason.Length], events.Select(e => e.Finish));
        Assert.Equal(4, sequence.Generated.Count);
        Assert.Equal([sequence], removed);
        Assert.True(sequence.Events.Completion.IsCompleted);
    }

    [Fact]
    public void AnAbortComesAfterTheHeldTokens()
    {
        var output = new StreamOutput(Config, 2048, _ => { });
        var sequence = NewSequence(SamplingParams.Greedy(16) with { IgnoreEos = true });
        Decode(output, sequence, 100);
        Decode(output, sequence, 101);
        output.Finish(sequence, FinishReason.Abort);
        var events = Drain(sequence);
        Assert.Equal([100, 101, -1], events.Select(e => e.TokenId));
        Assert.Equal(FinishReason.Abort, events[^1].Finish);
    }

    [Fact]
    public void StreamsWithStopStringsAreNeverHeld()
    {
        var output = new StreamOutput(Config, 2048, _ => { });
        var sequence = NewSequence(SamplingParams.Greedy(16) with { IgnoreEos = true, Stop = ["never in this text"] });
        Decode(output, sequence, 100);
        Decode(output, sequence, 101);
        Assert.Equal([100, 101], Drain(sequence).Select(e => e.TokenId));
    }
}
