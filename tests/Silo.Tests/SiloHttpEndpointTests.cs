using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;
using AlisaCluster.Silo.Extensions;

namespace AlisaCluster.Silo.Tests;

/// <summary>The silo's own HTTP endpoint (Silo:HttpPort): probes that follow the engine, not just an open port, and
/// Prometheus metrics read from the engine's counters.</summary>
public sealed class SiloHttpEndpointTests
{
    private static readonly int[] Prompt = [1, 450, 1002, 310, 278, 3303];
    private static readonly HttpClient Http = new();

    private static GenerateRequest Greedy(int maxTokens) => new()
    {
        Tokenized = new TokenIds { Ids = { Prompt } },
        SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true },
    };

    private static async Task<int> CountTokensAsync(Generation.GenerationClient client, int maxTokens)
    {
        using var call = client.Generate(Greedy(maxTokens));
        int tokens = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            tokens += call.ResponseStream.Current.Chunk?.TokenIds.Count ?? 0;
        return tokens;
    }

    private static double Sample(string metrics, string name, string tier = "")
    {
        var pattern = $@"^{name}\{{engine=""0"",device=""[^""]+""{(tier == "" ? "" : $@",tier=""{tier}""")}\}} (\S+)$";
        var match = Regex.Match(metrics, pattern, RegexOptions.Multiline);
        Assert.True(match.Success, $"no {name} {tier} sample in:\n{metrics}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Probes_answer_from_the_engine_and_metrics_count_its_tokens()
    {
        int port = FreePorts.Next();
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?> { ["Silo:HttpPort"] = $"{port}" });
        var baseUrl = $"http://127.0.0.1:{port}";

        var ready = await Http.GetAsync($"{baseUrl}/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("serving: 1 engines", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync($"{baseUrl}/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Http.GetAsync($"{baseUrl}/healthz")).StatusCode);

        Assert.Equal(37, await CountTokensAsync(cluster.Client(), 37));
        var metrics = await Http.GetStringAsync($"{baseUrl}/metrics");
        Assert.Equal(37, Sample(metrics, "alisa_silo_generation_tokens_total"));
        var stats = cluster.Engines.Engines[0].Stats;
        Assert.Equal(stats.PromptTokensTotal, Sample(metrics, "alisa_silo_prompt_tokens_total"));
        Assert.Equal(stats.Steps, Sample(metrics, "alisa_silo_steps_total"));
        Assert.Equal(4096, Sample(metrics, "alisa_silo_kv_capacity_tokens", "gpu"));
        Assert.Equal(0, Sample(metrics, "alisa_silo_kv_capacity_tokens", "cpu"));
        Assert.Equal(1, Sample(metrics, "alisa_silo_engine_up"));
        Assert.True(Sample(metrics, "alisa_silo_decode_steps_total") >= 36);
        Assert.Contains("alisa_silo_draining 0", metrics);
    }

    [Fact]
    public async Task A_step_running_past_the_stall_timeout_makes_the_silo_not_live()
    {
        int port = FreePorts.Next();
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Silo:HttpPort"] = $"{port}", ["Silo:EngineStallTimeout"] = "00:00:00.0005",
        });
        using var generating = new CancellationTokenSource();
        var stream = CountTokensAsync(cluster.Client(), 400).ContinueWith(_ => generating.Cancel(), TaskScheduler.Default);
        string? stalled = null;
        while (stalled is null && !generating.IsCancellationRequested)
        {
            var live = await Http.GetAsync($"http://127.0.0.1:{port}/health/live");
            if (live.StatusCode == HttpStatusCode.ServiceUnavailable) stalled = await live.Content.ReadAsStringAsync();
        }
        await stream;
        Assert.NotNull(stalled);
        Assert.Contains("stalled: engine 0 has been in one step for", stalled);
    }

    [Fact]
    public async Task A_draining_silo_is_not_ready()
    {
        int port = FreePorts.Next();
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Silo:HttpPort"] = $"{port}", ["Worker:DrainTimeout"] = "00:00:30",
        });
        using var call = cluster.Client().Generate(Greedy(300));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var stopping = cluster.StopSiloAsync();
        string body = "";
        for (int i = 0; i < 100 && !body.StartsWith("draining", StringComparison.Ordinal); i++)
        {
            var ready = await Http.GetAsync($"http://127.0.0.1:{port}/health/ready");
            body = await ready.Content.ReadAsStringAsync();
            if (body.StartsWith("draining", StringComparison.Ordinal)) Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            else await Task.Delay(20);
        }
        Assert.StartsWith("draining", body);
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        await stopping;
    }
}
