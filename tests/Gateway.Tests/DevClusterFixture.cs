using AlisaCluster.ClusterTesting;

namespace AlisaCluster.Gateway.Tests;

/// <summary>One dev-mode cluster (in-process silo + gateway, localhost clustering, in-memory stores) with API keys
/// required: "tester" (default quota) and "solo" (one stream at a time); at most 4 streams in flight in total.</summary>
public sealed class DevClusterFixture : IAsyncLifetime
{
    public const string TesterKey = "tester-key-0123", SoloKey = "solo-key-4567";

    public InProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
    {
        ["Gateway:RequireApiKey"] = "true",
        ["Gateway:MaxInFlight"] = "4",
        ["Gateway:ApiKeys:0:Name"] = "tester", ["Gateway:ApiKeys:0:Key"] = TesterKey,
        ["Gateway:ApiKeys:1:Name"] = "solo", ["Gateway:ApiKeys:1:Key"] = SoloKey, ["Gateway:ApiKeys:1:MaxInFlight"] = "1",
    });

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class DevClusterCollection : ICollectionFixture<DevClusterFixture>
{
    public const string Name = "dev cluster";
}
