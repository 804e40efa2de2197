using AlisaCluster.Grains.Engines;
using AlisaCluster.Grains.Placement;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Status;

/// <summary>Publishes this silo's engine load; pinned to the silo named by its key.</summary>
[SiloPinnedPlacement]
public sealed class WorkerStatusGrain(EngineHost engines, ILocalSiloDetails silo) : Grain, IWorkerStatusGrain
{
    public Task<WorkerLoad> GetLoadAsync() => Task.FromResult(engines.Load(silo.SiloAddress));
}
