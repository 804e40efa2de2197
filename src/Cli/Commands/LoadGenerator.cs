using System.Collections.Concurrent;
using System.Diagnostics;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Cli.Commands;

/// <summary>What a load run asks for: Poisson arrivals at <see cref="Rate"/> per second, or a fixed number of streams
/// always in flight (<see cref="Concurrency"/>), with prompt and output lengths drawn uniformly from their ranges.</summary>
public sealed record LoadSpec(double? Rate, int? Concurrency, TimeSpan Duration, (int Min, int Max) PromptTokens, (int Min, int Max) OutputTokens,
    int VocabSize, int Seed, string? ApiKey);

/// <summary>One stream's measurements; <see cref="Status"/> is "OK" or the gRPC status code; a stream that ended
/// without its final message, or with a token count other than the one asked for, is <see cref="Corrupted"/>.</summary>
public sealed record StreamSample(string Status, bool Corrupted, int PromptTokens, int OutputTokens, double? TtftSeconds,
    IReadOnlyList<double> InterTokenSeconds, double E2eSeconds);

/// <summary>Drives gRPC load against a gateway. Every stream asks for an exact output length (EOS ignored), so a lost
/// or duplicated token is detected rather than averaged away.</summary>
public sealed class LoadGenerator(Generation.GenerationClient client, LoadSpec spec)
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
        var request = new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { prompt } },
            SamplingParams = new SamplingParams { Temperature = 0.8, TopP = 0.95, MaxTokens = outputTokens, IgnoreEos = true },
        };
        var headers = spec.ApiKey is null ? null : new Metadata { { "authorization", $"Bearer {spec.ApiKey}" } };
        var clock = Stopwatch.StartNew();
        double? ttft = null, last = null;
        var gaps = new List<double>();
        int received = 0;
        GenerateComplete? complete = null;
        try
        {
            using var call = client.Generate(request, headers, cancellationToken: cancellationToken);
            await foreach (var response in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                if (response.Chunk is not { } chunk) { complete = response.Complete; continue; }
                var now = clock.Elapsed.TotalSeconds;
                if (last is { } previous) gaps.Add(now - previous); else ttft = now;
                last = now;
                received += chunk.TokenIds.Count;
            }
            bool corrupted = complete is null || received != outputTokens || complete.Usage.CompletionTokens != received;
            _samples.Add(new StreamSample("OK", corrupted, prompt.Length, received, ttft, gaps, clock.Elapsed.TotalSeconds));
        }
        catch (RpcException e)
        {
            _samples.Add(new StreamSample(e.StatusCode.ToString(), false, prompt.Length, received, ttft, gaps, clock.Elapsed.TotalSeconds));
        }
    }
}
