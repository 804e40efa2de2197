using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AlisaCluster.Silo.Tests;

/// <summary>A silo that is asked to stop drains: running sequences finish if they can within the drain timeout, are
/// handed over to another silo if not, and a stream with nowhere to go ends UNAVAILABLE, never silently short.</summary>
public sealed class GracefulShutdownTests
{
    private static readonly int[] Prompt = [1, 450, 1002, 310, 278, 3303];

    private static GenerateRequest Greedy(int maxTokens, string requestId = "") => new()
    {
        RequestId = requestId, Tokenized = new TokenIds { Ids = { Prompt } },
        SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true },
    };

    [Fact]
    public async Task A_running_sequence_finishes_while_its_silo_drains()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?> { ["Worker:DrainTimeout"] = "00:00:30" });
        using var call = cluster.Client().Generate(Greedy(80));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var stopping = cluster.StopSiloAsync();

        int tokens = call.ResponseStream.Current.Chunk.TokenIds.Count;
        GenerateComplete? complete = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.Chunk is { } chunk) tokens += chunk.TokenIds.Count;
            else complete = call.ResponseStream.Current.Complete;
        }
        await stopping;
        Assert.Equal(80, tokens);
        Assert.Equal(FinishReason.Length, complete?.FinishReason);
        Assert.Equal(0, complete!.Usage.Resumes);
    }

    [Fact]
    public async Task A_stream_whose_only_silo_leaves_ends_unavailable_not_short()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Worker:DrainTimeout"] = "00:00:00.500", ["Gateway:TokenIdleTimeout"] = "00:00:05", ["Gateway:MaxResumes"] = "2",
        });
        using var call = cluster.Client().Generate(Greedy(1500));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var stopping = cluster.StopSiloAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                Assert.Null(call.ResponseStream.Current.Complete);
        });
        await stopping;
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("could not be resumed", error.Status.Detail);
    }

    [Fact]
    public async Task A_sequence_outliving_the_drain_timeout_is_handed_over_to_the_other_silo()
    {
        var drainFast = new Dictionary<string, string> { ["Worker:DrainTimeout"] = "00:00:00.200" };
        await using var cluster = await SiloProcessCluster.StartAsync("drain", silos: 2, drainFast);
        var gateway = cluster.Gateway;

        var requestId = "drain-" + Guid.NewGuid().ToString("N");
        using var call = gateway.Client().Generate(Greedy(1000, requestId));
        var tokens = new List<int>();
        while (tokens.Count < 10 && await call.ResponseStream.MoveNext(CancellationToken.None))
            tokens.AddRange(call.ResponseStream.Current.Chunk.TokenIds);
        var leaving = await cluster.SiloOfAsync(requestId);
        leaving.Terminate();

        GenerateComplete? complete = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.Chunk is { } chunk) tokens.AddRange(chunk.TokenIds);
            else complete = call.ResponseStream.Current.Complete;
        }
        await leaving.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotNull(complete);
        Assert.True(complete.Usage.Resumes >= 1, "the sequence should have moved to the remaining silo");
        Assert.Equal(await DirectEngine.GreedyAsync(Prompt, 1000), tokens);
        Assert.Contains("draining: 1 running sequences", leaving.Log);
    }
}
