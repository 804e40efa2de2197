using Orleans.Placement;
using Orleans.Runtime;

namespace AlisaCluster.Grains.Placement;

/// <summary>Places a grain on the GPU-worker silo with the most free KV capacity and queue room.</summary>
[GenerateSerializer]
public sealed class WorkerPlacementStrategy : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class WorkerPlacementAttribute() : PlacementAttribute(new WorkerPlacementStrategy());

/// <summary>Places a grain on the silo whose address is the grain's key.</summary>
[GenerateSerializer]
public sealed class SiloPinnedPlacementStrategy : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPinnedPlacementAttribute() : PlacementAttribute(new SiloPinnedPlacementStrategy());
