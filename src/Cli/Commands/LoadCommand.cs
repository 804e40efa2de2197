using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AlisaCluster.Protos;
using Grpc.Core;
using Grpc.Net.Client;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa load: load against a gateway through its gRPC or OpenAI API (--api; --target, or --dev for an
/// in-process dev cluster), with Poisson
/// arrivals (--rate N per second) or a fixed --concurrency, for --duration seconds; prompt and output lengths as
/// "min:max" token ranges. Prints a table and the JSON report (also to --out).</summary>
public static class LoadCommand
{
    public static async Task<int> RunAsync(CommandLine args)
    {
        bool dev = args.Flag("dev");
        var api = args.String("api", "grpc");
        if (api is not ("grpc" or "openai")) throw new ArgumentException($"--api: '{api}' is not grpc or openai");
        var target = args.String("target", api == "grpc" ? "http://127.0.0.1:50051" : "http://127.0.0.1:8080");
        double? rate = args.String("rate") is not null ? args.Double("rate", 1) : null;
        int? concurrency = args.String("concurrency") is not null ? args.Int("concurrency", 1) : null;
        if (rate is null && concurrency is null) rate = 2;
        if (rate is not null && concurrency is not null) throw new ArgumentException("give --rate or --concurrency, not both");
        var duration = TimeSpan.FromSeconds(args.Double("duration", 30));
        var promptLengths = Range(args.String("prompt-len", "16:64"), "prompt-len");
        var outputLengths = Range(args.String("output-len", "16:64"), "output-len");
        int seed = args.Int("seed", 1);
        var apiKey = args.String("api-key");
        var output = args.String("out");
        args.RejectUnknown();

        await using var cluster = dev ? await DevCluster.StartAsync(false, new Dictionary<string, string?>()) : null;
        if (cluster is not null) target = api == "grpc" ? cluster.GrpcAddress : $"http://127.0.0.1:{cluster.HttpPort}";
        using var channel = api == "grpc" ? GrpcChannel.ForAddress(target) : null;
        using var http = api == "openai" ? new HttpClient { BaseAddress = new Uri(target.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan } : null;
        var (loadTarget, vocabSize) = channel is not null ? await GrpcTargetAsync(channel, apiKey) : await OpenAiTargetAsync(http!, apiKey);
        var spec = new LoadSpec(rate, concurrency, duration, promptLengths, outputLengths, vocabSize, seed);
        var mode = rate is { } r ? $"poisson {r.ToString(CultureInfo.InvariantCulture)}/s" : $"concurrency {concurrency}";

        var generator = new LoadGenerator(loadTarget, spec);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<StreamSample> samples = [];
        await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new ElapsedTimeColumn()).StartAsync(async progress =>
        {
            var bar = progress.AddTask($"{mode} against {target} ({api})", maxValue: duration.TotalSeconds);
            var run = generator.RunAsync(CancellationToken.None);
            while (!run.IsCompleted)
            {
                bar.Value = Math.Min(duration.TotalSeconds, clock.Elapsed.TotalSeconds);
                bar.Description = $"{mode}: {generator.Finished}/{generator.Started} streams done";
                await Task.WhenAny(run, Task.Delay(250));
            }
            samples = await run;
            bar.Value = duration.TotalSeconds;
        });
        var report = LoadReport.From($"{target} ({api})", mode, clock.Elapsed, samples);
        Print(report);
        var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (output is not null) await File.WriteAllTextAsync(output, json);
        return report.Corrupted == 0 && report.ErrorsByStatus.Count == 0 ? 0 : 3;
    }

    private static async Task<(ILoadTarget, int VocabSize)> GrpcTargetAsync(GrpcChannel channel, string? apiKey)
    {
        var client = new Generation.GenerationClient(channel);
        var headers = apiKey is null ? null : new Metadata { { "authorization", $"Bearer {apiKey}" } };
        var model = await client.GetModelInfoAsync(new GetModelInfoRequest(), headers);
        return (new GrpcLoadTarget(client, apiKey), model.VocabSize);
    }

    /// <summary>The served model from GET /v1/models (its vocab_size extension sizes the random prompts).</summary>
    private static async Task<(ILoadTarget, int VocabSize)> OpenAiTargetAsync(HttpClient http, string? apiKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        if (apiKey is not null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"GET {http.BaseAddress}v1/models: HTTP {(int)response.StatusCode} {body}");
        var model = JsonDocument.Parse(body).RootElement.GetProperty("data")[0];
        return (new OpenAiLoadTarget(http, model.GetProperty("id").GetString()!, apiKey), model.GetProperty("vocab_size").GetInt32());
    }

    private static void Print(LoadReport report)
    {
        var table = new Table().AddColumns("metric", "p50", "p90", "p99", "mean");
        foreach (var (name, p) in new[] { ("TTFT ms", report.TtftMs), ("inter-token ms", report.InterTokenMs), ("end-to-end ms", report.E2eMs) })
            table.AddRow(name, $"{p.P50:F1}", $"{p.P90:F1}", $"{p.P99:F1}", $"{p.Mean:F1}");
        AnsiConsole.Write(table);
        var errors = report.ErrorsByStatus.Count == 0 ? "none" : string.Join(", ", report.ErrorsByStatus.Select(e => $"{e.Key}: {e.Value}"));
        AnsiConsole.MarkupLineInterpolated($"{report.Requests} requests in {report.DurationSeconds:F1} s: {report.Completed} complete, {report.Corrupted} corrupted, errors {errors}");
        AnsiConsole.MarkupLineInterpolated($"{report.RequestsPerSecond:F2} req/s, {report.OutputTokensPerSecond:F1} output tok/s");
    }

    private static (int Min, int Max) Range(string text, string name)
    {
        var parts = text.Split(':');
        if (parts.Length is < 1 or > 2 || !parts.All(p => int.TryParse(p, CultureInfo.InvariantCulture, out var v) && v > 0))
            throw new ArgumentException($"--{name}: '{text}' is not N or MIN:MAX (positive token counts)");
        int min = int.Parse(parts[0], CultureInfo.InvariantCulture), max = int.Parse(parts[^1], CultureInfo.InvariantCulture);
        return min <= max ? (min, max) : throw new ArgumentException($"--{name}: min {min} > max {max}");
    }
}
