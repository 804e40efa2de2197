using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace AlisaCluster.Grains.Placement;

/// <summary>Chooses the worker silo for a new sequence from the published loads (see <see cref="WorkerLoadTable"/>).
/// Silos without the worker grains (gateway-only silos) are never compatible; clients never host grains.</summary>
public sealed class WorkerPlacementDirector(WorkerLoadTable loads) : IPlacementDirector
{
    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        int kvTokens = target.RequestContextData is { } data && data.TryGetValue(SequenceKeys.KvTokensContextKey, out var value) && value is int n ? n : 0;
        var compatible = context.GetCompatibleSilos(target);
        // a silo that just started has not polled yet: wait briefly for the first reports
        await Task.WhenAny(loads.FirstReport, Task.Delay(TimeSpan.FromSeconds(5)));
        return loads.Choose(compatible, kvTokens, preferred: context.LocalSilo)
            ?? throw new NoWorkerAvailableException($"no worker silo with an engine is available (compatible silos: {compatible.Length})");
    }
}
