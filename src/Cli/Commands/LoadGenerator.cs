using System.Collections.Concurrent;
using System.Diagnostics;

namespace AlisaCluster.Cli.Commands;

/// <summary>What a load run asks for: Poisson arrivals at <see cref="Rate"/> per second, or a fixed number of streams
/// always in flight (<see cref="Concurrency"/>), with prompt and output lengths drawn uniformly from their ranges.</summary>
public sealed record LoadSpec(double? Rate, int? Concurrency, TimeSpan Duration, (int Min, int Max) PromptTokens, (int Min, int Max) OutputTokens,
    int VocabSize, int Seed);

/// <summary>One stream's measurements; <see cref="Status"/> is "OK" or the gRPC status code / HTTP status; a stream that ended
/// without its final message, or with a token count other than the one asked for, is <see cref="Corrupted"/>.</summary>
public sealed record StreamSample(string Status, bool Corrupted, int PromptTokens, int OutputTokens, double? TtftSeconds,
    IReadOnlyList<double> InterTokenSeconds, double E2eSeconds);

/// <summary>Drives load against a gateway through either API (<see cref="ILoadTarget"/>). Every stream asks for an exact
/// output length (EOS ignored), so a lost or duplicated token is detected rather than averaged away.</summary>
public sealed class LoadGenerator(ILoadTarget target, LoadSpec spec)
{
    private readonly ConcurrentBag<StreamSample> _samples = [];
    private readonly Random _random = new(spec.Seed);
    private int _started;

    public int Started => Volatile.Read(ref _started);
    public int Finished => _samples.Count;

    public async Task<IReadOnlyList<StreamSample>> RunAsync(CancellationToken cancellationToken)
    {
        var running = new List<Task>();
        var clock = Stopwatch.StartNew();
        if (spec.Concurrency is { } concurrency)
        {
            for (int i = 0; i < concurrency; i++)
                running.Add(Task.Run(async () => { while (clock.Elapsed < spec.Duration) await StreamAsync(cancellationToken); }, cancellationToken));
        }
        else
        {
            var rate = spec.Rate ?? 1.0;
            while (clock.Elapsed < spec.Duration && !cancellationToken.IsCancellationRequested)
            {
                running.Add(StreamAsync(cancellationToken));
                double gap;
                lock (_random) gap = -Math.Log(1 - _random.NextDouble()) / rate; // exponential inter-arrival times
                await Task.Delay(TimeSpan.FromSeconds(gap), cancellationToken);
            }
        }
        await Task.WhenAll(running);
        return [.. _samples];
    }

    private async Task StreamAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _started);
        int[] prompt;
        int outputTokens;
        lock (_random)
        {
            prompt = Enumerable.Range(0, _random.Next(spec.PromptTokens.Min, spec.PromptTokens.Max + 1)).Select(_ => _random.Next(3, spec.VocabSize)).ToArray();
            outputTokens = _random.Next(spec.OutputTokens.Min, spec.OutputTokens.Max + 1);
        }
        _samples.Add(await target.StreamAsync(prompt, outputTokens, cancellationToken));
    }
}
