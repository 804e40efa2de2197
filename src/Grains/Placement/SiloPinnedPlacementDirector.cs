using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace AlisaCluster.Grains.Placement;

public sealed class SiloPinnedPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var wanted = SiloAddress.FromParsableString(target.GrainIdentity.Key.ToString()!);
        return context.GetCompatibleSilos(target).Contains(wanted)
            ? Task.FromResult(wanted)
            : throw new NoWorkerAvailableException($"silo {wanted} is not an active worker");
    }
}
