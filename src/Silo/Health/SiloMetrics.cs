using Prometheus;

namespace AlisaCluster.Silo.Health;

/// <summary>The silo's Prometheus metrics, per engine (label "engine", its index, and "device"), read from the engines'
/// published stats at each scrape: load, KV tiers, ALISA phases, tokens and step times. Kept in a registry of their
/// own so a gateway in the same process (the dev cluster) does not export them.</summary>
public sealed class SiloMetrics
{
    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
    private readonly EngineHealth _health;
    private readonly Gauge _up, _draining, _running, _waiting, _kvUsage, _kvCapacity, _phase, _stepRunning, _prefixBlocks;
    private readonly Counter _promptTokens, _generationTokens, _preemptions, _steps, _decodeSteps, _decodeSeconds, _phaseGpuSeconds,
        _eagerSteps, _outputSeconds, _offloaded, _fetched, _recomputed, _prefixHits;

    public SiloMetrics(EngineHealth health)
    {
        _health = health;
        var f = Metrics.WithCustomRegistry(_registry);
        string[] engine = ["engine", "device"];
        _up = f.CreateGauge("alisa_silo_engine_up", "1 when the engine's step in progress is within the stall timeout.", engine);
        _draining = f.CreateGauge("alisa_silo_draining", "1 while the silo drains for shutdown.");
        _running = f.CreateGauge("alisa_silo_requests_running", "Sequences decoding in the engine.", engine);
        _waiting = f.CreateGauge("alisa_silo_requests_waiting", "Sequences queued for admission in the engine (queue depth).", engine);
        _kvUsage = f.CreateGauge("alisa_silo_kv_cache_usage_perc", "KV tier usage (0..1); tier gpu or cpu.", [.. engine, "tier"]);
        _kvCapacity = f.CreateGauge("alisa_silo_kv_capacity_tokens", "KV tier capacity in tokens; tier gpu or cpu.", [.. engine, "tier"]);
        _phase = f.CreateGauge("alisa_silo_sequences_in_phase", "Running sequences per ALISA KV phase (1 GPU, 2 +CPU, 3 +recompute).", [.. engine, "phase"]);
        _stepRunning = f.CreateGauge("alisa_silo_step_running_seconds", "How long the engine's step in progress has been running (0 between steps).", engine);
        _promptTokens = f.CreateCounter("alisa_silo_prompt_tokens_total", "Prompt tokens prefilled.", engine);
        _generationTokens = f.CreateCounter("alisa_silo_generation_tokens_total", "Tokens generated.", engine);
        _preemptions = f.CreateCounter("alisa_silo_preemptions_total", "Sequences preempted for lack of KV room.", engine);
        _steps = f.CreateCounter("alisa_silo_steps_total", "Engine steps (prefill and decode).", engine);
        _decodeSteps = f.CreateCounter("alisa_silo_decode_steps_total", "Decode steps.", engine);
        _decodeSeconds = f.CreateCounter("alisa_silo_decode_step_seconds_total",
            "Time in decode steps; clock host (wall) or gpu (CUDA events). Mean step time: rate of this over rate of decode steps.", [.. engine, "clock"]);
        _phaseGpuSeconds = f.CreateCounter("alisa_silo_phase_gpu_seconds_total",
            "Device time per step phase (CUDA events): prefill forwards, tier_moves (KV moves and reservations before a decode), decode.", [.. engine, "phase"]);
        _eagerSteps = f.CreateCounter("alisa_silo_eager_decode_steps_total", "Decode steps the CUDA-graph step left to the eager one.", engine);
        _outputSeconds = f.CreateCounter("alisa_silo_output_seconds_total", "Host time handing decoded tokens to their streams (detokenizing, stop checks).", engine);
        _offloaded = f.CreateCounter("alisa_silo_kv_offloaded_bytes_total", "KV bytes moved from the GPU to the CPU tier.", engine);
        _fetched = f.CreateCounter("alisa_silo_kv_fetched_bytes_total", "KV bytes read back from the CPU tier.", engine);
        _recomputed = f.CreateCounter("alisa_silo_kv_recomputed_tokens_total", "Dropped KV tokens recomputed.", engine);
        _prefixBlocks = f.CreateGauge("alisa_silo_prefix_cache_blocks", "Prefix-cached KV blocks no sequence holds (free, reclaimed on demand).", engine);
        _prefixHits = f.CreateCounter("alisa_silo_prefix_cache_hit_tokens_total", "Tokens whose KV admitted sequences took from the prefix cache.", engine);
        _registry.AddBeforeCollectCallback(Update);
    }

    public Task ExportAsync(Stream output, CancellationToken cancellationToken) => _registry.CollectAndExportAsTextAsync(output, cancellationToken);

    private void Update()
    {
        if (_health.Engines is not { } host) return;
        _draining.Set(host.Draining ? 1 : 0);
        for (int i = 0; i < host.Engines.Count; i++)
        {
            var engine = host.Engines[i];
            var s = engine.Stats;
            string[] id = [$"{i}", engine.Model.Model.Device.ToString()];
            _up.WithLabels(id).Set(_health.IsStalled(engine) ? 0 : 1);
            _running.WithLabels(id).Set(s.Running);
            _waiting.WithLabels(id).Set(s.Waiting);
            _kvUsage.WithLabels([.. id, "gpu"]).Set(s.KvUsage);
            _kvUsage.WithLabels([.. id, "cpu"]).Set(s.CpuKvUsage);
            _kvCapacity.WithLabels([.. id, "gpu"]).Set((double)s.KvBlocksTotal * s.BlockSize);
            _kvCapacity.WithLabels([.. id, "cpu"]).Set((double)s.CpuKvBlocksTotal * s.BlockSize);
            _phase.WithLabels([.. id, "1"]).Set(s.Running - s.SequencesInPhase2 - s.SequencesInPhase3);
            _phase.WithLabels([.. id, "2"]).Set(s.SequencesInPhase2);
            _phase.WithLabels([.. id, "3"]).Set(s.SequencesInPhase3);
            _stepRunning.WithLabels(id).Set(engine.StepRunningFor.TotalSeconds);
            _promptTokens.WithLabels(id).IncTo(s.PromptTokensTotal);
            _generationTokens.WithLabels(id).IncTo(s.GeneratedTokensTotal);
            _preemptions.WithLabels(id).IncTo(s.Preemptions);
            _steps.WithLabels(id).IncTo(s.Steps);
            _decodeSteps.WithLabels(id).IncTo(s.DecodeSteps);
            _decodeSeconds.WithLabels([.. id, "host"]).IncTo(s.DecodeHostSeconds);
            _decodeSeconds.WithLabels([.. id, "gpu"]).IncTo(s.DecodeGpuSeconds);
            _phaseGpuSeconds.WithLabels([.. id, "prefill"]).IncTo(s.PrefillGpuSeconds);
            _phaseGpuSeconds.WithLabels([.. id, "tier_moves"]).IncTo(s.TierMoveGpuSeconds);
            _phaseGpuSeconds.WithLabels([.. id, "decode"]).IncTo(s.DecodeGpuSeconds);
            _eagerSteps.WithLabels(id).IncTo(s.EagerDecodeSteps);
            _outputSeconds.WithLabels(id).IncTo(s.OutputSeconds);
            _offloaded.WithLabels(id).IncTo(s.BytesOffloaded);
            _fetched.WithLabels(id).IncTo(s.BytesFetched);
            _recomputed.WithLabels(id).IncTo(s.TokensRecomputed);
            _prefixBlocks.WithLabels(id).Set(s.KvBlocksCached);
            _prefixHits.WithLabels(id).IncTo(s.PrefixHitTokens);
        }
    }
}
