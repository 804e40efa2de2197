using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using Microsoft.Extensions.DependencyInjection;

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

    /// <summary>After a client went away mid-stream: waits (at most 10 s) until no engine holds KV or runs a sequence,
    /// then until the request's session reads Aborted, and returns that session.</summary>
    public async Task<SessionRecord?> KvReleasedAndAborted(string requestId)
    {
        var engines = Cluster.Engines;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (engines.ActiveSequences > 0 || engines.Engines.Any(e => e.Stats.KvBlocksUsed > 0 || e.Stats.Running > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, $"KV still held: {string.Join(", ", engines.Engines.Select(e => e.Stats))}");
            await Task.Delay(50);
        }
        var sessions = Cluster.Gateway.GetRequiredService<ISessionStore>();
        SessionRecord? session = null;
        while (DateTime.UtcNow < deadline && (session = await sessions.GetAsync(requestId, CancellationToken.None))?.State != SessionStates.Aborted)
            await Task.Delay(50);
        return session;
    }
}

[CollectionDefinition(Name)]
public sealed class DevClusterCollection : ICollectionFixture<DevClusterFixture>
{
    public const string Name = "dev cluster";
}
