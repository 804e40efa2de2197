using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Engines;

/// <summary>Graceful shutdown: when the silo begins to stop (before grains are deactivated), the worker stops taking
/// sequences, lets running ones finish for up to the drain timeout, then hands the rest over to other silos.</summary>
public sealed class WorkerDrain(EngineHost engines, IOptions<WorkerOptions> options, ILogger<WorkerDrain> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(WorkerDrain), ServiceLifecycleStage.Active, _ => Task.CompletedTask, DrainAsync);

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        logger.LogInformation("draining: {Count} running sequences, up to {Timeout}", engines.ActiveSequences, options.Value.DrainTimeout);
        await engines.DrainAsync(options.Value.DrainTimeout, cancellationToken);
        logger.LogInformation("drained; {Count} sequences left to hand over", engines.ActiveSequences);
    }
}
