using AlisaCluster.Gateway.Metrics;
using AlisaCluster.Grains;

namespace AlisaCluster.Gateway.Health;

/// <summary>Polls every silo's published load once a second: for readiness (a worker is up), GetModelInfo, and the
/// per-silo KV metrics. The silo list comes from the membership table; while that cannot be read (Redis down) the
/// last list is polled, so readiness follows the silos themselves, not Redis.</summary>
public sealed class ClusterLoadMonitor(IClusterClient cluster, ILogger<ClusterLoadMonitor> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private IReadOnlyCollection<SiloAddress> _hosts = [];
    private TaskCompletionSource _nextReport = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<WorkerLoad> Workers { get; private set; } = [];
    /// <summary>How many times <see cref="Workers"/> was refreshed.</summary>
    public long Reports { get; private set; }
    /// <summary>Completes at the next refresh of <see cref="Workers"/>.</summary>
    public Task NextReport => _nextReport.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                _hosts = (await cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(Interval, stoppingToken)).Keys;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug("membership not read, polling the last known silos: {Error}", e.Message);
            }
            var loads = await Task.WhenAll(_hosts.Select(PollAsync));
            Publish(loads.OfType<WorkerLoad>().ToList());
            try { await Task.Delay(Interval, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    private async Task<WorkerLoad?> PollAsync(SiloAddress silo)
    {
        try { return await cluster.GetGrain<IWorkerStatusGrain>(silo.ToParsableString()).GetLoadAsync().WaitAsync(Interval); }
        catch (Exception) { return null; }
    }

    private void Publish(List<WorkerLoad> workers)
    {
        foreach (var gone in Workers.Where(w => !workers.Any(n => n.Silo.Equals(w.Silo))))
        {
            GatewayMetrics.KvUsage.RemoveLabelled(gone.Silo.ToString());
            GatewayMetrics.WorkerRunning.RemoveLabelled(gone.Silo.ToString());
            GatewayMetrics.WorkerWaiting.RemoveLabelled(gone.Silo.ToString());
            foreach (var gauge in new[] { GatewayMetrics.CpuKvUsage, GatewayMetrics.KvBytesOffloaded, GatewayMetrics.KvBytesFetched, GatewayMetrics.KvTokensRecomputed })
                gauge.RemoveLabelled(gone.Silo.ToString());
            foreach (var phase in new[] { "1", "2", "3" }) GatewayMetrics.SequencesInPhase.RemoveLabelled(gone.Silo.ToString(), phase);
        }
        foreach (var w in workers)
        {
            GatewayMetrics.KvUsage.WithLabels(w.Silo.ToString()).Set(w.KvUsage);
            GatewayMetrics.WorkerRunning.WithLabels(w.Silo.ToString()).Set(w.Running);
            GatewayMetrics.WorkerWaiting.WithLabels(w.Silo.ToString()).Set(w.Waiting);
            GatewayMetrics.CpuKvUsage.WithLabels(w.Silo.ToString()).Set(w.CpuKvUsage);
            GatewayMetrics.KvBytesOffloaded.WithLabels(w.Silo.ToString()).Set(w.BytesOffloaded);
            GatewayMetrics.KvBytesFetched.WithLabels(w.Silo.ToString()).Set(w.BytesFetched);
            GatewayMetrics.KvTokensRecomputed.WithLabels(w.Silo.ToString()).Set(w.TokensRecomputed);
            GatewayMetrics.SequencesInPhase.WithLabels(w.Silo.ToString(), "1").Set(w.Running - w.SequencesInPhase2 - w.SequencesInPhase3);
            GatewayMetrics.SequencesInPhase.WithLabels(w.Silo.ToString(), "2").Set(w.SequencesInPhase2);
            GatewayMetrics.SequencesInPhase.WithLabels(w.Silo.ToString(), "3").Set(w.SequencesInPhase3);
        }
        GatewayMetrics.Workers.Set(workers.Count);
        Workers = workers;
        Reports++;
        Interlocked.Exchange(ref _nextReport, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
