using System.Diagnostics;
using System.Text.Json;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Native;
using AlisaCluster.GpuWorker.Planning;
using Spectre.Console;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa bench: offline throughput of the engine (prompts of random tokens, fixed generation length, EOS
/// ignored) for lists of KV modes and batch sizes, under a KV policy, storage format and GPU / CPU memory budgets.
/// Prints JSON lines; --explain prints each tiered plan with its predicted step time first.</summary>
public static class BenchCommand
{
    public sealed record Result(string Model, string Device, string DType, string Mode, string Policy, bool Int8, double? GpuMemGiB, double CpuMemGiB,
        int Batch, int PromptTokens, int GeneratedTokens, string Plan, double Seconds, double GeneratedTokensPerSecond, double DecodeStepMs,
        double? PredictedStepMs, double PrefillSeconds, long KvCapacityTokens, double GpuAllocatedGiB, double KvPoolGiB, double CpuKvGiB,
        double WeightsGiB, long Preemptions, double BytesOffloadedGiB, double BytesFetchedGiB, long TokensRecomputed, double FloorStepMs, double StepVsFloor,
        string DecodeStep = "", double HostStepMs = 0, double? GpuStepMs = null, LatePrompt? Late = null, HotSetCounts? HotSet = null,
        double? HotSetHitRate = null, TimeSplit? Split = null, bool AsyncScheduling = true);

    /// <summary>Where the run's wall time went (seconds over the measured window): device time of prefill forwards, of
    /// tier moves and KV reservations before decodes, of decode forwards; host time handing tokens to their streams;
    /// decode steps the graph step left to the eager one.</summary>
    public sealed record TimeSplit(double WallSeconds, double PrefillGpuSeconds, double TierMoveGpuSeconds, double DecodeGpuSeconds,
        double OutputSeconds, long EagerDecodeSteps);

    /// <summary>A long prompt that arrived mid-decode (--late-prompt-len): stream 0's longest gap between two tokens
    /// while it was prefilled, against its median gap (the delay chunked prefill bounds).</summary>
    public sealed record LatePrompt(int PromptTokens, double SecondsToFirstToken, double MaxGapMs, double MedianGapMs)
    {
        public double DelayMs => MaxGapMs - MedianGapMs;
    }

    public static async Task<int> RunAsync(CommandLine args)
    {
        if (args.Flag("load")) return await LoadBench.RunAsync(args);
        var batches = args.Ints("batch", "1,16");
        var modes = args.Strings("kv-mode", "gpu");
        var steps = args.Strings("decode-step", "auto").Select(ParseStep).ToArray();
        if (modes.FirstOrDefault(m => !BenchSetup.Modes.Contains(m)) is { } unknown) // before the (slow) model load
            throw new ArgumentException($"--kv-mode: '{unknown}' is not one of {string.Join(", ", BenchSetup.Modes)}");
        int promptLength = args.Int("prompt-len", 128), generate = args.Int("gen-len", 128), lateLength = args.Int("late-prompt-len", 0);
        int? prefillChunk = args.String("prefill-chunk") is null ? null : args.Int("prefill-chunk", 0);
        var policy = KvPolicy.Parse(args.String("policy", "dense"));
        bool int8 = args.Flag("int8"), explain = args.Flag("explain"), asyncScheduling = !args.Flag("no-async-scheduling");
        double? budgetGiB = args.String("gpu-mem-gib") is { } g ? double.Parse(g, System.Globalization.CultureInfo.InvariantCulture) : null;
        double cpuGiB = args.Double("cpu-mem-gib", 64), utilization = args.Double("gpu-util", 0.9);
        double hbmBytesPerSecond = args.Double("hbm-gbps", 4500) * 1e9;
        var output = args.String("out");
        var profilePath = args.String("profile");
        int? kvTokens = args.String("kv-tokens") is null ? null : args.Int("kv-tokens", 0);
        bool predict = args.Flag("predict") || modes.Contains("tiered");
        double hotMissRate = args.Double("hot-miss-rate", BenchSetup.DefaultHotSetMissRate);
        if (!(hotMissRate >= 0 && hotMissRate <= 1)) throw new ArgumentException($"--hot-miss-rate: {hotMissRate} is not in [0, 1]");
        var forcedPlan = args.String("tier-plan") is { } planText ? KvTierPlan.Parse(planText) : null;
        using var model = ModelOptions.Load(args);
        args.RejectUnknown();
        var setup = new BenchSetup(model, policy, int8, budgetGiB ?? WholeCardGiB(model, utilization), cpuGiB, kvTokens,
            hotMissRate, forcedPlan);
        CostModel? cost = null;
        CostModel Cost() => cost ??= LoadOrProfile(model, policy, setup.Format, batches.Max(), promptLength + generate, profilePath);

        var results = new List<Result>();
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            foreach (var mode in modes)
                foreach (var step in steps)
                foreach (var batch in batches)
                {
                    var run = setup.For(mode, batch, promptLength, generate, predict ? Cost : null);
                    run = run with { Options = run.Options with { DecodeStep = step, AsyncScheduling = asyncScheduling } };
                    if (prefillChunk is { } chunk) run = run with { Options = run.Options with { PrefillChunkTokens = chunk } };
                    if (lateLength > 0) // room for the late prompt beside the batch
                        run = run with { Options = run.Options with { MaxModelLength = Math.Max(promptLength + generate, lateLength + 1),
                            KvCapacityTokens = run.Options.KvCapacityTokens + lateLength + 16, MaxBatchSize = batch + 1 } };
                    if (explain) Explain(mode, batch, run, cost);
                    var task = progress.AddTask($"{mode} {step} {policy}{(int8 ? "+int8" : "")} batch {batch}", maxValue: batch * generate);
                    var result = await RunOne(model, run, mode, policy, budgetGiB, cpuGiB, batch, promptLength, generate, hbmBytesPerSecond, task, lateLength);
                    results.Add(result);
                    if (output is not null) await File.AppendAllTextAsync(output, JsonSerializer.Serialize(result) + "\n");
                }
        });
        foreach (var result in results) Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>Without --gpu-mem-gib a CUDA run may use <paramref name="utilization"/> of the card (vLLM's
    /// gpu_memory_utilization): the rest is room for prefill activations. On the CPU the pool holds the whole workload.</summary>
    private static double? WholeCardGiB(LoadedModel model, double utilization)
    {
        if (model.Model.Device.type != TorchSharp.DeviceType.CUDA) return null;
        if (!(utilization > 0 && utilization <= 1)) throw new ArgumentException($"--gpu-util: {utilization} is not in (0, 1]");
        return utilization * CudaDriver.TotalMemoryBytes(Math.Max(0, model.Model.Device.index)) / (double)(1L << 30);
    }

    private static DecodeStepKind ParseStep(string name) => Enum.TryParse<DecodeStepKind>(name, ignoreCase: true, out var kind)
        ? kind : throw new ArgumentException($"--decode-step: '{name}' is not one of auto, eager, graph");

    /// <summary>The stored profile of this (model, device, dtype, format, policy) when it reaches this run's batch and length, or a
    /// fresh measurement saved for next time.</summary>
    private static CostModel LoadOrProfile(LoadedModel model, KvPolicy policy, KvStorageFormat format, int maxBatch, int maxLength, string? path)
    {
        string key = Profiler.KeyFor(model.Name, model.Model, policy, format);
        path ??= Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "alisa",
            "profile-" + string.Concat(key.Select(ch => char.IsLetterOrDigit(ch) || ch == '.' ? ch : '_')) + ".json");
        int kvTokens = Math.Min(16384, maxBatch * maxLength);
        var stored = DeviceProfile.TryLoad(path, key);
        var profile = stored is not null && stored.Covers(Profiler.DecodePoints(maxBatch, maxLength, kvTokens)) ? stored : null;
        if (profile is null)
        {
            if (stored is null) AnsiConsole.MarkupLineInterpolated($"[grey]profiling {key} (once; stored in {path})[/]");
            else AnsiConsole.MarkupLineInterpolated($"[grey]profiling {key} again: the stored profile does not reach batch {maxBatch} at length {maxLength} ({path})[/]");
            profile = Profiler.Measure(model.Name, model.Model, policy, format, maxBatch, maxLength, kvTokens,
                step => AnsiConsole.MarkupLineInterpolated($"[grey]  {step}[/]"));
            profile.Save(path);
        }
        var c = model.Config;
        // the kernel reads CPU-tier rows as stored (INT8: codes and row parameters), and blocks move down as stored
        long rowBytes = KvCache.KvBytesPerToken(c.NumLayers, c.NumKvHeads, c.HeadDim, format, model.Model.ElementSize);
        return new CostModel(profile, rowBytes, rowBytes);
    }

    private static void Explain(string mode, int batch, BenchSetup.Setup run, CostModel? cost)
    {
        var table = new Table().Title($"{mode}, batch {batch}").AddColumns("", "value");
        table.AddRow("plan", Markup.Escape(run.Plan));
        table.AddRow("GPU KV tokens", run.Options.KvCapacityTokens.ToString());
        table.AddRow("CPU KV tokens", run.Options.CpuKvCapacityTokens.ToString());
        if (run.Options.TierPlan is { IsAllGpu: false } plan) table.AddRow("Worker:KvTierPlan", plan.ToSetting());
        if (run.Choice is { } choice && cost is not null)
        {
            table.AddRow("predicted step (mean)", $"{choice.PredictedStepSeconds * 1000:0.00} ms");
            foreach (var (name, step) in new[] { ("first step", choice.FirstStep), ("last step", choice.LastStep) })
                table.AddRow(name, $"{step.Total * 1000:0.00} ms = compute {step.Compute * 1000:0.00} + fetch {step.Fetch * 1000:0.00} + recompute {step.Recompute * 1000:0.00} + offload {step.Offload * 1000:0.00}");
            table.AddRow("profile", Markup.Escape($"fetch {cost.Profile.FetchBytesPerSecond / 1e9:0.0} GB/s, offload {cost.Profile.OffloadBytesPerSecond / 1e9:0.0} GB/s"));
        }
        AnsiConsole.Write(table);
    }

    private static async Task<Result> RunOne(LoadedModel model, BenchSetup.Setup run, string mode, KvPolicy policy, double? budgetGiB, double cpuGiB,
        int batch, int promptLength, int generate, double hbmBytesPerSecond, ProgressTask task, int lateLength)
    {
        await using var engine = new InferenceEngine(model, run.Options);
        var random = new Random(0);
        var sampling = SamplingParams.Greedy(generate) with { IgnoreEos = true };
        await foreach (var _ in engine.GenerateAsync(new GenerationRequest("warmup", [1, 2, 3, 4], sampling with { MaxTokens = 4 }))) { }
        var before = engine.Stats;
        var stopwatch = Stopwatch.StartNew();
        double allStartedSeconds = 0;
        var tokenTimes = new List<double>(); // stream 0's
        Task<(double Submitted, double Answered)>? late = null;
        var streams = Enumerable.Range(0, batch).Select(async i =>
        {
            var prompt = Enumerable.Range(0, promptLength).Select(_ => random.Next(4, model.Config.VocabSize)).ToArray();
            await foreach (var item in engine.GenerateAsync(new GenerationRequest($"bench-{i}", prompt, sampling)))
            {
                if (item.GeneratedTokens == 1) allStartedSeconds = Math.Max(allStartedSeconds, stopwatch.Elapsed.TotalSeconds);
                if (i == 0) tokenTimes.Add(stopwatch.Elapsed.TotalSeconds);
                if (i == 0 && lateLength > 0 && item.GeneratedTokens == Math.Min(32, generate / 2)) late = RunLate();
                task.Increment(1);
            }
        }).ToList();
        async Task<(double, double)> RunLate()
        {
            var prompt = Enumerable.Range(0, lateLength).Select(_ => random.Next(4, model.Config.VocabSize)).ToArray();
            double submitted = stopwatch.Elapsed.TotalSeconds;
            await foreach (var _ in engine.GenerateAsync(new GenerationRequest("late", prompt, sampling with { MaxTokens = 1 }))) { }
            return (submitted, stopwatch.Elapsed.TotalSeconds);
        }
        await Task.WhenAll(streams);
        LatePrompt? latePrompt = null;
        if (late is not null)
        {
            var (submitted, answered) = await late;
            var gaps = tokenTimes.Zip(tokenTimes.Skip(1), (a, b) => (Start: a, Ms: (b - a) * 1000)).ToList();
            var during = gaps.Where(g => g.Start <= answered && g.Start + g.Ms / 1000 >= submitted).Select(g => g.Ms).DefaultIfEmpty(0).Max();
            var median = gaps.Select(g => g.Ms).Order().ElementAt(gaps.Count / 2);
            latePrompt = new LatePrompt(lateLength, answered - submitted, during, median);
        }
        double seconds = stopwatch.Elapsed.TotalSeconds;
        var stats = engine.Stats;
        var hot = engine.ReadHotSet(); // idle now: reading the device counters costs nothing
        double stepMs = (seconds - allStartedSeconds) / Math.Max(1, generate - 1) * 1000;
        // floor: one decode step reads all weights plus the KV it attends to (mean length, selected share)
        double meanLength = promptLength + generate / 2.0;
        double kvRead = batch * meanLength * (policy.IsDense ? 1 : policy.CachingRatio) * stats.BytesPerToken;
        double floorMs = (model.Model.ParameterBytes + kvRead) / hbmBytesPerSecond * 1000;
        const double GiB = 1L << 30;
        return new Result(model.Name, model.Model.Device.ToString(), model.Model.DType.ToString(), mode, policy.ToString(), run.Options.KvFormat == KvStorageFormat.Int8,
            budgetGiB, cpuGiB, batch, promptLength, generate, run.Plan, seconds, batch * generate / seconds, stepMs, run.Choice?.PredictedStepSeconds * 1000,
            allStartedSeconds, run.Options.KvCapacityTokens, (model.Model.ParameterBytes + engine.KvPoolBytes) / GiB, engine.KvPoolBytes / GiB,
            engine.CpuKvPoolBytes / GiB, model.Model.ParameterBytes / GiB, stats.Preemptions - before.Preemptions,
            (stats.BytesOffloaded - before.BytesOffloaded) / GiB, (stats.BytesFetched - before.BytesFetched + hot.BytesFromCpu) / GiB,
            stats.TokensRecomputed - before.TokensRecomputed, floorMs, stepMs / floorMs,
            stats.DecodeStep, PerStepMs(stats.DecodeHostSeconds - before.DecodeHostSeconds),
            stats.DecodeGpuSeconds > 0 ? PerStepMs(stats.DecodeGpuSeconds - before.DecodeGpuSeconds) : null, latePrompt,
            hot.Entries > 0 ? hot : null, hot.Entries > 0 ? hot.HitRate : null,
            new TimeSplit(seconds, stats.PrefillGpuSeconds - before.PrefillGpuSeconds, stats.TierMoveGpuSeconds - before.TierMoveGpuSeconds,
                stats.DecodeGpuSeconds - before.DecodeGpuSeconds, stats.OutputSeconds - before.OutputSeconds, stats.EagerDecodeSteps - before.EagerDecodeSteps),
            run.Options.AsyncScheduling);
        double PerStepMs(double seconds) => seconds / Math.Max(1, stats.DecodeSteps - before.DecodeSteps) * 1000;
    }
}
