using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Grains.Engines;

/// <summary>The inference engines of this silo (one per device) and its drain state. Sequences go to the engine with
/// the most free KV; on shutdown the host stops taking sequences and, after the drain timeout, hands the rest over.</summary>
public sealed class EngineHost : IAsyncDisposable
{
    private readonly List<(LoadedModel Model, InferenceEngine Engine)> _engines = [];
    private readonly CancellationTokenSource _handover = new();
    private int _active;

    public EngineHost(IOptions<WorkerOptions> options, ILogger<EngineHost> logger)
    {
        var worker = options.Value;
        if (worker.Threads > 0) TorchSharp.torch.set_num_threads(worker.Threads);
        var folder = ModelFolder.Resolve(worker.Model);
        DefaultPolicy = KvPolicy.Parse(worker.DefaultKvPolicy, LearnedSplit.FromModelFolder(folder));
        foreach (var device in worker.DeviceList())
        {
            var choice = DeviceChoice.Parse(device == "auto" ? null : device, string.IsNullOrEmpty(worker.DType) ? null : worker.DType);
            var model = LoadedModel.FromCheckpoint(folder, choice);
            var engineOptions = SizeKv(model, worker, new EngineOptions
            {
                MaxBatchSize = worker.MaxBatchSize,
                MaxWaiting = worker.MaxWaiting, DefaultPolicy = DefaultPolicy, PerHeadScores = worker.PerHeadScores,
                EnablePrefixCaching = worker.EnablePrefixCaching, HotSet = worker.KvHotSet, EnablePageSummaries = worker.EnablePageSummaries,
                RecomputeCapacityTokens = worker.RecomputeCapacityTokens,
                TierPlan = worker.TierPlan(), DecodeStep = worker.DecodeStepKind(), PrefillChunkTokens = worker.PrefillChunkTokens,
                AsyncScheduling = worker.AsyncScheduling,
            }, out var sizing);
            var engine = new InferenceEngine(model, engineOptions);
            _engines.Add((model, engine));
            logger.LogInformation("engine {Index}: {Model} on {Device} ({DType}), KV pool {Kv} tokens ({Sizing}), CPU tier {CpuKv} tokens, {Step} decode step ({Native})",
                _engines.Count - 1, model.Name, model.Model.Device, model.Model.DType, engineOptions.KvCapacityTokens, sizing,
                engineOptions.CpuKvCapacityTokens, engine.Stats.DecodeStep, GpuWorker.Native.AlisaNative.Detail);
        }
    }

    /// <summary>The KV pools of one engine: the CPU tier from GiB or tokens, the GPU pool from tokens or, by default,
    /// from the share of the GPU's memory the engine may use.</summary>
    public static EngineOptions SizeKv(LoadedModel model, WorkerOptions worker, EngineOptions options, out string sizing)
    {
        var config = model.Config;
        options = options with
        {
            CpuKvCapacityTokens = worker.CpuKvMemoryGiB > 0
                ? KvBudget.TokensInHostMemory(config, model.Model.ElementSize, options.KvFormat, worker.CpuKvMemoryGiB)
                : worker.CpuKvCapacityTokens,
        };
        if (worker.KvCapacityTokens > 0)
        {
            sizing = "Worker:KvCapacityTokens";
            return options with { KvCapacityTokens = worker.KvCapacityTokens };
        }
        if (model.Model.Device.type != TorchSharp.DeviceType.CUDA)
        {
            sizing = "CPU device default";
            return options with { KvCapacityTokens = WorkerOptions.CpuDeviceKvTokens };
        }
        sizing = $"{worker.GpuMemoryUtilization:0.###} of the GPU's memory";
        return options with { KvCapacityTokens = KvBudget.TokensForDevice(model, options, worker.GpuMemoryUtilization) };
    }

    public KvPolicy DefaultPolicy { get; }
    public LoadedModel Model => _engines[0].Model;
    public IReadOnlyList<InferenceEngine> Engines => _engines.Select(e => e.Engine).ToList();
    public bool Draining { get; private set; }
    /// <summary>Fires when the drain timeout has passed: running sequences end with a handover.</summary>
    public CancellationToken Handover => _handover.Token;
    public int ActiveSequences => Volatile.Read(ref _active);

    /// <summary>Validates and queues the request on the least loaded engine.</summary>
    public RunningSequence Start(SequenceRequest request)
    {
        if (Draining) throw new SequenceHandoverException("this worker silo is draining for shutdown");
        var engine = _engines.Select(e => e.Engine).MaxBy(e => (e.Stats.KvTokensFree, -e.Stats.Waiting))!;
        var running = RunningSequence.Start(engine, request, DefaultPolicy, this);
        Interlocked.Increment(ref _active);
        return running;
    }

    internal void Ended() => Interlocked.Decrement(ref _active);

    public WorkerLoad Load(SiloAddress silo)
    {
        var stats = _engines.Select(e => e.Engine.Stats).ToList();
        return new WorkerLoad(silo, stats.Count, stats.Sum(s => s.KvTokensFree), stats.Sum(s => s.KvBlocksTotal * s.BlockSize),
            stats.Sum(s => s.Running), stats.Sum(s => s.Waiting), _engines.Sum(e => e.Engine.Options.MaxWaiting), Draining,
            stats.Sum(s => s.GeneratedTokensTotal), stats.Average(s => s.CpuKvUsage), stats.Sum(s => s.BytesOffloaded),
            stats.Sum(s => s.BytesFetched), stats.Sum(s => s.TokensRecomputed), stats.Sum(s => s.SequencesInPhase2), stats.Sum(s => s.SequencesInPhase3));
    }

    /// <summary>Stops taking sequences, lets running ones finish until <paramref name="timeout"/>, then hands the rest over.</summary>
    public async Task DrainAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Draining = true;
        var deadline = DateTime.UtcNow + timeout;
        while (ActiveSequences > 0 && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
            await Task.Delay(50, CancellationToken.None);
        _handover.Cancel();
        // give the handed-over streams a moment to deliver their handover error before the silo goes
        var grace = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (ActiveSequences > 0 && DateTime.UtcNow < grace) await Task.Delay(20, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (model, engine) in _engines)
        {
            await engine.DisposeAsync();
            model.Dispose();
        }
        _handover.Dispose();
    }
}
