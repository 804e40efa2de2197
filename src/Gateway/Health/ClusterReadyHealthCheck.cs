using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AlisaCluster.Gateway.Health;

/// <summary>Ready when at least one worker silo that is not draining answered the last load poll.</summary>
public sealed class ClusterReadyHealthCheck(ClusterLoadMonitor monitor) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        int ready = monitor.Workers.Count(w => !w.Draining);
        return Task.FromResult(ready > 0
            ? HealthCheckResult.Healthy($"{ready} worker silo(s)")
            : HealthCheckResult.Unhealthy("no worker silo is available"));
    }
}
