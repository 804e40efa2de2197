using System.Collections.Concurrent;
using System.Diagnostics;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Admission;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Health;
using AlisaCluster.Protos;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace AlisaCluster.Gateway.Tests.Resilience;

/// <summary>The chaos run (docs/cluster.md, "Faults"): 2 worker silo processes + gateway + Redis under steady greedy
/// load; kill -9 a silo (a replacement starts), kill -9 Redis and start it empty, SIGTERM a silo, in sequence. Every
/// stream must end complete and equal to the engine's own output, or with a clear status after a correct prefix; no
/// token gap reaches 5 s; keys, membership and readiness come back by themselves; nothing is left running.</summary>
[Collection(TimingCollection.Name)]
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const string Key = "chaos-key";
    private const int Streams = 4, MaxTokens = 160;
    private static readonly int[][] Prompts = [[1, 450, 1002, 310, 278, 3303], [1, 512, 263, 931, 2989, 727], [1, 1724, 338, 278, 659, 310]];
    private static readonly StatusCode[] ClearStatuses = [StatusCode.Unavailable, StatusCode.ResourceExhausted];

    private sealed record Outcome(int Prompt, int MaxTokens, StreamRecording Stream);

    [Fact]
    public async Task Streams_survive_a_silo_crash_a_redis_restart_and_a_silo_shutdown()
    {
        await using var cluster = await SiloProcessCluster.StartAsync("chaos", silos: 2,
            new Dictionary<string, string> { ["Worker:DrainTimeout"] = "00:00:02" },
            new Dictionary<string, string?>
            {
                ["Gateway:RequireApiKey"] = "true", ["Gateway:ApiKeys:0:Name"] = "chaos", ["Gateway:ApiKeys:0:Key"] = Key,
                ["Gateway:ApiKeyReseedInterval"] = "00:00:01",
            });
        var (redis, gateway, siloA, siloB) = (cluster.Redis, cluster.Gateway, cluster.Silos[0], cluster.Silos[1]);
        var references = new List<List<int>>();
        foreach (var prompt in Prompts) references.Add(await DirectEngine.GreedyAsync(prompt, MaxTokens));
        await cluster.WaitForWorkersAsync(2, TimeSpan.FromSeconds(60));

        var outcomes = new ConcurrentBag<Outcome>();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, Streams).Select(i => RunLoadAsync(gateway, i, outcomes, stop.Token)).ToList();
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(5));

        siloA.Kill();
        var killedAt = clock.Elapsed;
        await cluster.AddSiloAsync();
        var replaced = await cluster.WaitForWorkersAsync(2, TimeSpan.FromSeconds(60));
        output.WriteLine($"kill -9 silo A at {killedAt.TotalSeconds:F1} s; replacement silo serving after {replaced.TotalSeconds:F1} s more");
        await Task.Delay(TimeSpan.FromSeconds(3));

        redis.Kill();
        await Task.Delay(TimeSpan.FromSeconds(2));
        await redis.RestartAsync();
        var restartedAt = Stopwatch.StartNew();
        await using (var check = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            var db = check.GetDatabase();
            var keyBack = await WaitUntilAsync(() => db.KeyExistsAsync($"alisa:apikey:{ApiKeyRecord.Hash(Key)}"), "the API key was not written back");
            var tableBack = await WaitUntilAsync(() => db.KeyExistsAsync($"{cluster.ClusterId}/members/{cluster.ClusterId}"), "the membership table was not restored");
            var ready = await cluster.WaitForWorkersAsync(2, TimeSpan.FromSeconds(30));
            output.WriteLine($"redis down 2 s, restarted empty: key back after {keyBack.TotalSeconds:F1} s, membership table after " +
                $"{tableBack.TotalSeconds:F1} s, 2 workers ready after {ready.TotalSeconds:F1} s");
        }
        await Task.Delay(TimeSpan.FromSeconds(3));

        siloB.Terminate();
        var terminated = Stopwatch.StartNew();
        await siloB.WaitForExitAsync(TimeSpan.FromSeconds(40));
        output.WriteLine($"SIGTERM silo B: exited after {terminated.Elapsed.TotalSeconds:F1} s");
        await Task.Delay(TimeSpan.FromSeconds(4));
        await stop.CancelAsync();
        await Task.WhenAll(load);

        var all = outcomes.ToList();
        var completed = all.Where(o => o.Stream.Error is null).ToList();
        var failed = all.Where(o => o.Stream.Error is not null).ToList();
        var maxGap = all.Max(o => o.Stream.MaxGap);
        int wrong = all.Count(o => !references[o.Prompt].Take(o.MaxTokens).Take(o.Stream.Tokens.Count).SequenceEqual(o.Stream.Tokens));
        output.WriteLine($"{all.Count} streams: {completed.Count} complete, {failed.Count} ended with a status " +
            $"({string.Join(", ", failed.GroupBy(o => o.Stream.Error!.StatusCode).Select(g => $"{g.Key} {g.Count()}"))}); " +
            $"{wrong} with lost, duplicated or wrong tokens; {all.Sum(o => o.Stream.Tokens.Count)} tokens; " +
            $"{all.Sum(o => o.Stream.Complete?.Usage.Resumes ?? 0)} resumes; longest token gap {maxGap.TotalSeconds:F2} s; " +
            $"longest time to first token {all.Max(o => o.Stream.FirstToken).TotalSeconds:F2} s");
        foreach (var f in failed) output.WriteLine($"  {f.Stream.Error!.StatusCode}: {f.Stream.Error.Status.Detail}");

        Assert.Equal(0, wrong);
        Assert.All(completed, o => Assert.Equal(o.MaxTokens, o.Stream.Tokens.Count));
        Assert.All(failed, o => Assert.True(ClearStatuses.Contains(o.Stream.Error!.StatusCode) && o.Stream.Error.Status.Detail.Length > 0,
            $"{o.Stream.Error!.StatusCode}: {o.Stream.Error.Status.Detail}"));
        Assert.True(maxGap < TimeSpan.FromSeconds(5), $"longest token gap {maxGap}");
        Assert.True(completed.Count >= all.Count * 9 / 10, $"only {completed.Count} of {all.Count} streams completed");

        // nothing leaks: no stream in flight at the gateway, nothing running or holding KV on the workers
        var monitor = gateway.Gateway.GetRequiredService<ClusterLoadMonitor>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (monitor.Workers.Any(w => w.Running + w.Waiting > 0 || w.KvUsage > 0) && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.All(monitor.Workers, w => Assert.True(w.Running + w.Waiting == 0 && w.KvUsage == 0, $"{w.Silo}: {w}"));
        Assert.Equal(0, gateway.Gateway.GetRequiredService<InFlightLimiter>().InFlight);
    }

    private static async Task RunLoadAsync(InProcessCluster gateway, int worker, ConcurrentBag<Outcome> outcomes, CancellationToken stop)
    {
        var random = new Random(worker);
        while (!stop.IsCancellationRequested)
        {
            int prompt = random.Next(Prompts.Length), maxTokens = random.Next(40, MaxTokens + 1);
            using var call = gateway.Client().Generate(new GenerateRequest
            {
                RequestId = $"chaos-{worker}-{Guid.NewGuid():N}", Tokenized = new TokenIds { Ids = { Prompts[prompt] } },
                SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true },
            }, InProcessCluster.WithKey(Key));
            outcomes.Add(new Outcome(prompt, maxTokens, await StreamRecording.ReadAsync(call)));
        }
    }

    private static async Task<TimeSpan> WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), failure);
            await Task.Delay(100);
        }
        return clock.Elapsed;
    }
}
