using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.Grains.Engines;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Silo.Health;

/// <summary>What the probes see of the engines: live unless a step hangs, ready when live, started and not draining.</summary>
public sealed class EngineHealth(IServiceProvider services, IHostApplicationLifetime lifetime, IOptions<SiloHttpOptions> options)
{
    public sealed record Report(bool Live, bool Ready, string Detail);

    /// <summary>The engine host once the silo has started (before that it is still loading the model).</summary>
    public EngineHost? Engines => lifetime.ApplicationStarted.IsCancellationRequested ? services.GetRequiredService<EngineHost>() : null;

    public bool IsStalled(InferenceEngine engine) => engine.StepRunningFor > options.Value.EngineStallTimeout;

    public Report Check()
    {
        if (Engines is not { } host) return new(true, false, "starting: loading the model and joining the cluster");
        var stalled = host.Engines.Select((engine, index) => (engine, index)).Where(e => IsStalled(e.engine)).ToList();
        if (stalled.Count > 0)
            return new(false, false, "stalled: " + string.Join(", ", stalled.Select(e => $"engine {e.index} has been in one step for {e.engine.StepRunningFor.TotalSeconds:0.#} s")));
        if (host.Draining) return new(true, false, $"draining: {host.ActiveSequences} sequences running");
        return new(true, true, $"serving: {host.Engines.Count} engines, {host.ActiveSequences} sequences running");
    }
}
