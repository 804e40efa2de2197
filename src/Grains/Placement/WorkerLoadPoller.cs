using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Placement;

/// <summary>Keeps this silo's <see cref="WorkerLoadTable"/> current by asking every active silo's
/// <see cref="IWorkerStatusGrain"/> for its load a few times a second.</summary>
public sealed class WorkerLoadPoller(IClusterMembershipService membership, IGrainFactory grains, WorkerLoadTable table,
    ILogger<WorkerLoadPoller> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress);
            var loads = await Task.WhenAll(active.Select(PollAsync));
            table.Replace(loads.OfType<WorkerLoad>());
            try { await Task.Delay(Interval, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    private async Task<WorkerLoad?> PollAsync(SiloAddress silo)
    {
        try
        {
            return await grains.GetGrain<IWorkerStatusGrain>(silo.ToParsableString()).GetLoadAsync().WaitAsync(CallTimeout);
        }
        catch (Exception e)
        {
            logger.LogDebug("no load from {Silo}: {Error}", silo, e.Message);
            return null;
        }
    }
}
