using AlisaCluster.ClusterTesting;
using AlisaCluster.Cli.Commands;

namespace AlisaCluster.Cli.Tests.Commands;

public sealed class LoadGeneratorTests
{
    /// <summary>30 s of Poisson load through a real gateway and silo: every stream arrives whole (its exact token
    /// count and a final message), none fails.</summary>
    [Fact]
    public async Task Thirty_seconds_of_poisson_load_loses_and_corrupts_no_stream()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>());
        var spec = new LoadSpec(Rate: 3, Concurrency: null, Duration: TimeSpan.FromSeconds(30), PromptTokens: (8, 48), OutputTokens: (8, 48),
            VocabSize: 4096, Seed: 7);
        var generator = new LoadGenerator(new GrpcLoadTarget(cluster.Client(), apiKey: null), spec);
        var started = DateTime.UtcNow;
        var samples = await generator.RunAsync(CancellationToken.None);
        var report = LoadReport.From("in-process", "poisson 3/s", DateTime.UtcNow - started, samples);

        Assert.InRange(report.Requests, 45, 135); // 90 expected
        Assert.Equal(report.Requests, report.Completed);
        Assert.Equal(0, report.Corrupted);
        Assert.Empty(report.ErrorsByStatus);
        Assert.True(report.TtftMs.P50 > 0 && report.TtftMs.P50 <= report.TtftMs.P99);
        Assert.True(report.OutputTokensPerSecond > 0);
    }

    [Fact]
    public async Task Fixed_concurrency_keeps_that_many_streams_going_over_grpc_and_the_openai_api()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>());
        var spec = new LoadSpec(Rate: null, Concurrency: 3, Duration: TimeSpan.FromSeconds(5), PromptTokens: (8, 8), OutputTokens: (16, 16),
            VocabSize: 4096, Seed: 3);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{cluster.HttpPort}/") };
        foreach (ILoadTarget target in new ILoadTarget[] { new GrpcLoadTarget(cluster.Client(), apiKey: null), new OpenAiLoadTarget(http, "tiny-llama", apiKey: null) })
        {
            var samples = await new LoadGenerator(target, spec).RunAsync(CancellationToken.None);
            Assert.True(samples.Count >= 3, $"{target.Name}: {samples.Count} streams");
            Assert.All(samples, s => Assert.Equal(("OK", false, 16), (s.Status, s.Corrupted, s.OutputTokens)));
            Assert.All(samples, s => Assert.Equal(15, s.InterTokenSeconds.Count));
        }
    }

    [Fact]
    public void Percentiles_are_nearest_rank()
    {
        var p = Percentiles.Of(Enumerable.Range(1, 100).Select(i => (double)i).ToList());
        Assert.Equal((50, 90, 99, 50.5), (p.P50, p.P90, p.P99, p.Mean));
    }
}
