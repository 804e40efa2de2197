using System.Diagnostics;
using System.Text.Json;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa bench: offline throughput of the engine (prompts of random tokens, fixed generation length, EOS
/// ignored) for a list of batch sizes, under a KV policy, storage format and device memory budget. Prints JSON lines.</summary>
public static class BenchCommand
{
    public sealed record Result(string Model, string Device, string DType, string Policy, bool Int8, double? GpuMemGiB, int Batch,
        int PromptTokens, int GeneratedTokens, double Seconds, double GeneratedTokensPerSecond, double DecodeStepMs, double PrefillSeconds,
        long KvCapacityTokens, double KvPoolGiB, double WeightsGiB, long Preemptions, double FloorStepMs, double StepVsFloor);

    public static async Task<int> RunAsync(CommandLine args)
    {
        var batches = args.Ints("batch", "1,16");
        int promptLength = args.Int("prompt-len", 128), generate = args.Int("gen-len", 128);
        var policy = KvPolicy.Parse(args.String("policy", "dense"));
        bool int8 = args.Flag("int8");
        double? budgetGiB = args.String("gpu-mem-gib") is { } g ? double.Parse(g, System.Globalization.CultureInfo.InvariantCulture) : null;
        double hbmBytesPerSecond = args.Double("hbm-gbps", 4500) * 1e9;
        var output = args.String("out");
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        var results = new List<Result>();
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            foreach (var batch in batches)
            {
                var task = progress.AddTask($"{policy}{(int8 ? "+int8" : "")} batch {batch}", maxValue: batch * generate);
                var options = Options(model, policy, int8, budgetGiB, batch, promptLength + generate);
                var result = await RunOne(model, options, policy, budgetGiB, batch, promptLength, generate, hbmBytesPerSecond, task);
                results.Add(result);
                if (output is not null) await File.AppendAllTextAsync(output, JsonSerializer.Serialize(result) + "\n");
            }
        });
        foreach (var result in results) Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>Engine sized like a serving deployment: the KV pool gets what the budget leaves (or exactly what the
    /// batch needs without a budget), scores only for the policy benchmarked.</summary>
    private static EngineOptions Options(LoadedModel model, KvPolicy policy, bool int8, double? budgetGiB, int batch, int maxLength)
    {
        var format = int8 ? KvStorageFormat.Int8 : KvStorageFormat.Native;
        int ring = policy.NeedsWindowScores ? KvBudget.ScoreRing(policy.Sparsity, maxLength) : 0;
        var perToken = KvBudget.BytesPerToken(model.Config, format, model.Model.ElementSize, 16, ring, policy.NeedsCumulativeScores);
        int capacity = budgetGiB is { } gib
            ? KvBudget.TokensFor((long)(gib * (1L << 30)), model.Model.ParameterBytes, perToken)
            : batch * (maxLength + 16);
        return new EngineOptions
        {
            KvCapacityTokens = capacity, MaxBatchSize = batch, MaxModelLength = maxLength, DefaultPolicy = policy, KvFormat = format,
            EnableScoredPolicies = policy.NeedsWindowScores, EnableH2O = policy.NeedsCumulativeScores,
            MinScoredSparsity = policy.NeedsWindowScores ? policy.Sparsity : 0.5,
        };
    }

    private static async Task<Result> RunOne(LoadedModel model, EngineOptions options, KvPolicy policy, double? budgetGiB, int batch,
        int promptLength, int generate, double hbmBytesPerSecond, ProgressTask task)
    {
        await using var engine = new InferenceEngine(model, options);
        var random = new Random(0);
        var sampling = SamplingParams.Greedy(generate) with { IgnoreEos = true };
        await foreach (var _ in engine.GenerateAsync(new GenerationRequest("warmup", [1, 2, 3, 4], sampling with { MaxTokens = 4 }))) { }
        var stopwatch = Stopwatch.StartNew();
        double allStartedSeconds = 0;
        var streams = Enumerable.Range(0, batch).Select(async i =>
        {
            var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(4, model.Config.VocabSize)).ToArray();
            await foreach (var item in engine.GenerateAsync(new GenerationRequest($"bench-{i}", prompt, sampling)))
            {
                if (item.GeneratedTokens == 1) allStartedSeconds = Math.Max(allStartedSeconds, stopwatch.Elapsed.TotalSeconds);
                task.Increment(1);
            }
        }).ToList();
        await Task.WhenAll(streams);
        double seconds = stopwatch.Elapsed.TotalSeconds;
        var stats = engine.Stats;
        double stepMs = (seconds - allStartedSeconds) / Math.Max(1, generate - 1) * 1000;
        // floor: one decode step reads all weights plus the KV it attends to (mean length, selected share)
        double meanLength = promptLength + generate / 2.0;
        double kvRead = batch * meanLength * (policy.IsDense ? 1 : policy.CachingRatio) * stats.BytesPerToken;
        double floorMs = (model.Model.ParameterBytes + kvRead) / hbmBytesPerSecond * 1000;
        return new Result(model.Name, model.Model.Device.ToString(), model.Model.DType.ToString(), policy.ToString(), options.KvFormat == KvStorageFormat.Int8,
            budgetGiB, batch, promptLength, generate, seconds, batch * generate / seconds, stepMs, allStartedSeconds, options.KvCapacityTokens,
            engine.KvPoolBytes / (double)(1L << 30), model.Model.ParameterBytes / (double)(1L << 30), stats.Preemptions, floorMs, stepMs / floorMs);
    }
}
