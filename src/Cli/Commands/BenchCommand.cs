using System.Diagnostics;
using System.Text.Json;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa bench: offline throughput of the engine for a list of batch sizes (prompts of random tokens,
/// fixed generation length, EOS ignored), printed as JSON lines.</summary>
public static class BenchCommand
{
    public sealed record Result(string Model, string Device, string DType, int Batch, int PromptTokens, int GeneratedTokens,
        double Seconds, double GeneratedTokensPerSecond, double DecodeStepMs, double PrefillSeconds, long KvCapacityTokens, long Preemptions);

    public static async Task<int> RunAsync(CommandLine args)
    {
        var batches = args.Ints("batch", "1,16");
        int promptLength = args.Int("prompt-len", 128), generate = args.Int("gen-len", 128);
        int kvTokens = args.Int("kv-tokens", 0);
        var output = args.String("out");
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        var results = new List<Result>();
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            foreach (var batch in batches)
            {
                var task = progress.AddTask($"batch {batch}", maxValue: batch * generate);
                results.Add(await RunOne(model, batch, promptLength, generate, kvTokens, task));
            }
        });
        foreach (var result in results) Console.WriteLine(JsonSerializer.Serialize(result));
        if (output is not null) await File.WriteAllLinesAsync(output, results.Select(r => JsonSerializer.Serialize(r)));
        return 0;
    }

    private static async Task<Result> RunOne(LoadedModel model, int batch, int promptLength, int generate, int kvTokens, ProgressTask task)
    {
        int capacity = kvTokens > 0 ? kvTokens : batch * (promptLength + generate + 16);
        await using var engine = new InferenceEngine(model, new EngineOptions { KvCapacityTokens = capacity, MaxBatchSize = batch });
        var random = new Random(0);
        var sampling = SamplingParams.Greedy(generate) with { IgnoreEos = true };
        await Warmup(engine, sampling);
        var stopwatch = Stopwatch.StartNew();
        double firstTokenSeconds = 0;
        var streams = Enumerable.Range(0, batch).Select(async i =>
        {
            var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(4, model.Config.VocabSize)).ToArray();
            await foreach (var item in engine.GenerateAsync(new GenerationRequest($"bench-{i}", prompt, sampling)))
            {
                if (item.GeneratedTokens == 1) firstTokenSeconds = Math.Max(firstTokenSeconds, stopwatch.Elapsed.TotalSeconds);
                task.Increment(1);
            }
        }).ToList();
        await Task.WhenAll(streams);
        double seconds = stopwatch.Elapsed.TotalSeconds;
        int generated = batch * generate;
        var stats = engine.Stats;
        return new Result(model.Name, model.Model.Device.ToString(), model.Model.DType.ToString(), batch, promptLength, generate,
            seconds, generated / seconds, (seconds - firstTokenSeconds) / Math.Max(1, generate - 1) * 1000, firstTokenSeconds, capacity, stats.Preemptions);
    }

    private static async Task Warmup(InferenceEngine engine, SamplingParams sampling)
    {
        await foreach (var _ in engine.GenerateAsync(new GenerationRequest("warmup", [1, 2, 3, 4], sampling with { MaxTokens = 4 }))) { }
    }
}
