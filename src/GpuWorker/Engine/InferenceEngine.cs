using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Kv;
using AlisaCluster.GpuWorker.Model;
using AlisaCluster.GpuWorker.Native;
using AlisaCluster.GpuWorker.Tokenization;
using static TorchSharp.torch;

namespace AlisaCluster.GpuWorker.Engine;

/// <summary>The continuous-batching loop of one GPU: requests join and leave between steps, every step runs one
/// batched decode forward for all running sequences (after prefilling newly admitted ones), and each new token
/// goes straight to its request's stream. All tensor work happens on the engine's own thread.</summary>
public sealed partial class InferenceEngine : IAsyncDisposable
{
    private readonly LoadedModel _model;
    private readonly KvCache _cache;
    private readonly PrefixCache? _prefix;
    private readonly TokenScores? _scores;
    private readonly ModelRunner _runner;
    private readonly IDecodeStep _decodeStep;
    private readonly StepTimes _times;
    private readonly StreamOutput _output;
    private readonly Scheduler _scheduler;
    private readonly EngineOptions _options;
    private readonly ConcurrentQueue<Sequence> _incoming = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly Random _seeds;
    private long _promptTokens, _generatedTokens, _steps, _decodeSteps;
    private double _decodeHostSeconds, _outputSeconds;
    private int _queued;
    private long _stepStarted; // Stopwatch timestamp of the step in progress, 0 between steps
    private PickedTokens? _inFlight; // the last decode step's picks, not yet handed out (async scheduling)

    public InferenceEngine(LoadedModel model, EngineOptions options)
    {
        _model = model;
        _options = options;
        var c = model.Config;
        int blocks = Math.Max(1, options.KvCapacityTokens / options.BlockSize);
        if (options.TierPlan is { IsAllGpu: false } && options.CpuKvCapacityTokens <= 0 && options.RecomputeCapacityTokens <= 0)
            throw new ArgumentException("a KV tier plan needs a CPU tier or recompute capacity (CpuKvCapacityTokens, RecomputeCapacityTokens)", nameof(options));
        var tiers = new KvTiers(options.CpuKvCapacityTokens / options.BlockSize, options.RecomputeCapacityTokens / options.BlockSize);
        _cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, blocks, options.BlockSize, model.Model.DType, model.Model.Device,
            options.KvFormat, tiers, pageBounds: options.EnableQuestPages,
            hotSet: options.HotSet && KernelAttention.Unsupported(c, model.Model.Device) is null,
            pageSummaries: options.EnablePageSummaries && options.BlockSize == KvPolicy.SummaryPageTokens);
        _scores = options.EnableScoredPolicies ? CreateScores(c, options) : null;
        _runner = new ModelRunner(model.Model, _cache, _scores);
        _decodeStep = DecodeSteps.Create(options.DecodeStep, _runner, options.MaxBatchSize, MaxModelLength, options.DefaultPolicy);
        _times = new StepTimes(model.Model.Device.type == TorchSharp.DeviceType.CUDA && AlisaNative.IsAvailable);
        // the identity seeds the block hashes: everything but the tokens that decides a block's K/V
        _prefix = options.EnablePrefixCaching && !_cache.IsTiered
            ? new PrefixCache(_cache, $"{model.Name}|{model.Model.DType}|{options.KvFormat}|{options.BlockSize}") : null;
        _scheduler = new Scheduler(_cache, options.MaxBatchSize, options.TierPlan, _prefix);
        _output = new StreamOutput(model.Config, MaxModelLength, Retire);
        _seeds = new Random(unchecked((int)options.Seed));
        Stats = Snapshot();
        _thread = new Thread(Loop) { IsBackground = true, Name = "alisa-engine" };
        _thread.Start();
    }

    private TokenScores CreateScores(ModelConfig c, EngineOptions options)
    {
        int ring = KvBudget.ScoreRing(options.MinScoredSparsity, MaxModelLength);
        return new TokenScores(c.NumLayers, _cache.SlotCount, c.NumKvHeads, ring, options.PerHeadScores, options.EnableH2O, _model.Model.Device,
            TokenScores.HistoryTypeFor(_model.Model.DType));
    }

    public int MaxModelLength => Math.Min(_options.MaxModelLength ?? int.MaxValue, _model.Config.MaxPositions);
    public LoadedModel Model => _model;
    public EngineOptions Options => _options;
    /// <summary>Host bytes of the CPU KV tier (pinned).</summary>
    public long CpuKvPoolBytes => _cache.CpuPoolBytes;
    /// <summary>Device bytes of the KV pool, Quest's page bounds and the per-token scores.</summary>
    public long KvPoolBytes => _cache.PoolBytes + (_cache.PageBounds?.Bytes ?? 0) + (_scores?.Bytes ?? 0);
    public HfTokenizer Tokenizer => _model.Tokenizer;
    /// <summary>The GPU hot set's counts so far (zeros without one). Reads device counters: call it while the engine
    /// is idle, or accept a wait for the step in flight.</summary>
    public HotSetCounts ReadHotSet() => _cache.ReadHotSet();
    public EngineStats Stats { get; private set; }
    public event Action<EngineStats>? StatsUpdated;
    /// <summary>How long the step in progress has been running, zero between steps: a hung device shows here.</summary>
    public TimeSpan StepRunningFor => Volatile.Read(ref _stepStarted) is var started and not 0 ? Stopwatch.GetElapsedTime(started) : TimeSpan.Zero;

    /// <summary>Streams the request's tokens; cancelling <paramref name="cancellationToken"/> aborts it and frees its KV.</summary>
    public async IAsyncEnumerable<GenerationEvent> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var sequence = Submit(request);
        bool finished = false;
        try
        {
            await foreach (var item in sequence.Events.ReadAllAsync(cancellationToken))
            {
                finished = item.IsFinal;
                yield return item;
            }
        }
        finally
        {
            if (!finished) Cancel(sequence);
        }
    }

    /// <summary>Validates and queues a request. Throws <see cref="ArgumentException"/> for bad input and
    /// <see cref="InvalidOperationException"/> when the queue is full.</summary>
    public Sequence Submit(GenerationRequest request)
    {
        ValidateRequest(request);
        if (Interlocked.Increment(ref _queued) > _options.MaxWaiting)
        {
            Interlocked.Decrement(ref _queued);
            throw new InvalidOperationException($"engine queue is full ({_options.MaxWaiting} waiting requests)");
        }
        var output = new OutputText(_model.Tokenizer, request.Sampling.Stop);
        var kv = _cache.CreateSequence();
        kv.Policy = request.Policy ?? _options.DefaultPolicy;
        var sequence = new Sequence(request, kv, output, _seeds.NextInt64());
        _incoming.Enqueue(sequence);
        _wake.Release();
        return sequence;
    }

    public void Cancel(Sequence sequence)
    {
        sequence.RequestCancel();
        _wake.Release();
    }

    private void ValidateRequest(GenerationRequest request)
    {
        request.Sampling.Validate();
        var policy = request.Policy ?? _options.DefaultPolicy;
        policy.Validate();
        if ((policy.NeedsWindowScores && _scores?.HasWindow != true) || (policy.NeedsCumulativeScores && _scores?.HasCumulative != true))
            throw new ArgumentException($"KV policy {policy} needs per-token scores that this engine does not keep", "kv_policy");
        if (policy.NeedsWindowScores && policy.Sparsity < _options.MinScoredSparsity)
            throw new ArgumentException($"KV sparsity {policy.Sparsity} is below this engine's minimum of {_options.MinScoredSparsity} for SWA", "kv_sparsity");
        policy.CheckWindow(_model.Config.SlidingWindow);
        if (policy.NeedsPageBounds && _cache.PageBounds is null)
            throw new ArgumentException($"KV policy {policy} needs page key bounds, which this engine does not keep (disabled, or a tiered KV pool)", "kv_policy");
        if (policy.NeedsPageSummaries && _cache.PageSummaries is null)
            throw new ArgumentException($"KV policy {policy} needs page summaries, which this engine does not keep (disabled, a tiered KV pool, " +
                $"or KV blocks other than {KvPolicy.SummaryPageTokens} tokens)", "kv_policy");
        if (policy.PerKvHead && !_options.PerHeadScores)
            throw new ArgumentException("per-KV-head SWA is not enabled on this engine", "kv_policy");
        if (request.PromptTokens.Count == 0) throw new ArgumentException("prompt must not be empty", "prompt");
        var vocab = _model.Config.VocabSize;
        if (request.PromptTokens.Concat(request.ResumeTokens).Any(t => t < 0 || t >= vocab))
            throw new ArgumentException($"token ids must be in [0, {vocab})", "prompt_token_ids");
        // long: max_tokens near int.MaxValue must not wrap past the check
        long total = (long)request.PromptTokens.Count + request.Sampling.MaxTokens;
        if (total > MaxModelLength)
            throw new ArgumentException($"prompt ({request.PromptTokens.Count} tokens) + max_tokens ({request.Sampling.MaxTokens}) exceeds the context of {MaxModelLength}", "max_tokens");
    }

    private void Loop()
    {
        using var noGrad = no_grad();
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                Volatile.Write(ref _stepStarted, Stopwatch.GetTimestamp());
                bool worked;
                try { worked = Step(); }
                finally { Volatile.Write(ref _stepStarted, 0); }
                if (!worked) _wake.Wait(_stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested) { break; }
            catch (Exception error)
            {
                // a failed step must not leave streams hanging: fail every live request, free all KV
                DropInFlight();
                foreach (var sequence in _scheduler.Running.Concat(_scheduler.Waiting).ToList()) _output.Finish(sequence, error);
            }
        }
        // the last step's tokens, computed already, reach their streams before the stop (and the device goes idle);
        // a device that fails now must not take the engine thread down with it
        try { HandOut(); }
        catch (Exception) { DropInFlight(); }
        foreach (var sequence in _scheduler.Running.Concat(_scheduler.Waiting).Concat(_incoming).ToList())
            _output.Finish(sequence, new OperationCanceledException("engine stopped"));
    }

    /// <summary>One scheduling step; false when there was nothing to do.</summary>
    private bool Step()
    {
        while (_incoming.TryDequeue(out var arrived)) { Interlocked.Decrement(ref _queued); _scheduler.Add(arrived); }
        var cancelled = _scheduler.Running.Concat(_scheduler.Waiting).Where(s => s.CancelRequested).ToList();
        foreach (var sequence in cancelled) _output.Finish(sequence, FinishReason.Abort);
        if (_scheduler.Running.Count == 0 && _scheduler.Waiting.Count == 0)
        {
            HandOut(); // picks of sequences that were all cancelled since
            _times.Flush();
            PublishStats();
            return false;
        }

        var rejected = new List<Sequence>();
        _scheduler.Admit(rejected);
        foreach (var sequence in rejected)
            _output.Finish(sequence, new GenerationRejectedException($"request {sequence.Id} needs {sequence.Tokens.Count + 1} KV slots; the pool holds {_cache.TotalBlocks * _cache.BlockSize}"));

        int decoding = _scheduler.Running.Count(s => s.PendingTokens == 1);
        bool protectStreams = decoding > 0 && _scheduler.Running.Count - decoding < _options.WaitingServedRatio * decoding;
        var groups = PrefillPlan.For(_scheduler.Running, protectStreams ? _options.PrefillChunkTokens : _options.PrefillTokensWhenIdle).ToList();
        _times.Begin(StepTimes.Phase.Prefill);
        foreach (var group in groups) Prefill(group);
        _times.End(StepTimes.Phase.Prefill);

        _times.Begin(StepTimes.Phase.TierMoves);
        var batch = _scheduler.PrepareDecode();
        _times.End(StepTimes.Phase.TierMoves);
        if (batch.Count > 0) Decode(batch);
        else
        {
            HandOut();
            _output.PublishHeld();
        }
        // the last step of a burst reads its own events too: the engine goes idle and its stats are whole
        if (_inFlight is null && _scheduler.Running.Count == 0 && _scheduler.Waiting.Count == 0) _times.Flush();
        else _times.Collect();
        _steps++;
        PublishStats();
        return true;
    }

    /// <summary>Takes a finished sequence out of the engine and frees its KV; the stats show it before its stream
    /// completes, so whoever saw the stream end never reads stats that still count it.</summary>
    private void Retire(Sequence sequence)
    {
        _scheduler.Remove(sequence);
        Stats = Snapshot();
    }

    private void PublishStats()
    {
        Stats = Snapshot();
        StatsUpdated?.Invoke(Stats);
    }

    /// <summary>One forward over a group of prompt chunks of equal length (see <see cref="PrefillPlan"/>).</summary>
    private void Prefill(List<PrefillPlan.Chunk> group)
    {
        var tokens = group.Select(c => (IReadOnlyList<int>)Enumerable.Range(c.Sequence.Kv.Length, c.Tokens).Select(i => c.Sequence.Tokens[i]).ToList()).ToList();
        _promptTokens += group.Sum(c => c.Tokens);
        foreach (var chunk in group) _prefix?.CheckWritable(chunk.Sequence.Kv);
        using var logits = _runner.Forward(group.Select(c => c.Sequence.Kv).ToList(), tokens, lastOnly: true);
        // a sparse policy's KV is the dense one only for prefills of two tokens or more: only dense sequences publish
        foreach (var chunk in group.Where(c => c.Sequence.Kv.Policy.IsDense)) _prefix?.Register(chunk.Sequence.Kv, chunk.Sequence.Tokens);
    }

    private EngineStats Snapshot() => new(_scheduler.Running.Count, _scheduler.Waiting.Count + _queued, _cache.TotalBlocks,
        _cache.UsedBlocks - (_prefix?.UnheldBlocks ?? 0),
        _cache.BlockSize, _cache.BytesPerToken, _promptTokens, _generatedTokens, _scheduler.PreemptionCount, _steps,
        _cache.CpuTotalBlocks, _cache.CpuUsedBlocks, _cache.BytesOffloaded, _cache.BytesFetched, _cache.TokensRecomputed,
        _scheduler.Running.Count(s => s.Kv.Phase == 2), _scheduler.Running.Count(s => s.Kv.Phase == 3),
        _decodeSteps, _decodeHostSeconds, _times.GpuSeconds(StepTimes.Phase.Decode), _decodeStep.Name, _prefix?.UnheldBlocks ?? 0, _scheduler.PrefixHitTokens,
        _times.GpuSeconds(StepTimes.Phase.Prefill), _times.GpuSeconds(StepTimes.Phase.TierMoves), _outputSeconds, (_decodeStep as GraphDecodeStep)?.EagerSteps ?? 0);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.Run(_thread.Join);
        _decodeStep.Dispose();
        _times.Dispose();
        _cache.Dispose();
        _scores?.Dispose();
        _stop.Dispose();
    }
}
