using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>A client that goes away cancels the sequence end to end: the engine drops it and frees its KV.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class CancellationTests(DevClusterFixture fixture)
{
    [Fact]
    public async Task Cancelled_stream_frees_the_sequences_kv_and_marks_the_session_aborted()
    {
        var requestId = "cancel-" + Guid.NewGuid().ToString("N");
        using var cancel = new CancellationTokenSource();
        var call = fixture.Cluster.Client().Generate(new GenerateRequest
        {
            RequestId = requestId, Text = "In the beginning",
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = 1500, IgnoreEos = true },
        }, WithKey(DevClusterFixture.TesterKey, cancel.Token));
        for (int i = 0; i < 5; i++) Assert.True(await call.ResponseStream.MoveNext(cancel.Token));
        var engines = fixture.Cluster.Engines;
        Assert.True(engines.Engines.Sum(e => e.Stats.KvBlocksUsed) > 0);

        cancel.Cancel();
        call.Dispose();

        var session = await fixture.KvReleasedAndAborted(requestId);
        Assert.Equal(SessionStates.Aborted, session?.State);
        Assert.True(session!.GeneratedTokens.Count >= 5);
    }
}
