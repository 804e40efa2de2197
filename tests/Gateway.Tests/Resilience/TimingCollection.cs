namespace AlisaCluster.Gateway.Tests.Resilience;

/// <summary>Tests that assert latencies (token gaps, how fast a refusal comes) run alone, after the parallel ones:
/// sharing the cores with the rest of the assembly would measure the machine, not the cluster.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "timing";
}
