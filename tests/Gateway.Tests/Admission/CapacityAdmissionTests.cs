using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Gateway.Tests.Admission;

/// <summary>The gateway sheds by the workers' published capacity, long before its in-flight caps: with a small KV pool
/// and a short worker queue, a burst is partly refused RESOURCE_EXHAUSTED "at capacity", and every admitted stream
/// completes in full.</summary>
public sealed class CapacityAdmissionTests
{
    [Fact]
    public async Task A_burst_beyond_the_workers_capacity_is_shed_and_the_admitted_streams_complete()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Worker:KvCapacityTokens"] = "1024", ["Worker:MaxBatchSize"] = "2",
            ["Gateway:MaxWorkerWaiting"] = "1", ["Gateway:AdmissionWait"] = "00:00:00.500", ["Gateway:MaxInFlight"] = "64",
        });
        var calls = Enumerable.Range(0, 12).Select(_ => StreamRecording.ReadAsync(cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { 1, 450, 1002, 310, 278, 3303 } },
            SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = 400, IgnoreEos = true },
        }))).ToList();
        var results = await Task.WhenAll(calls);

        var shed = results.Where(r => r.Error is not null).ToList();
        Assert.NotEmpty(shed);
        Assert.All(shed, r =>
        {
            Assert.Equal(StatusCode.ResourceExhausted, r.Error!.StatusCode);
            Assert.Contains("the worker silos are at capacity", r.Error.Status.Detail);
            Assert.Empty(r.Tokens);
        });
        var admitted = results.Where(r => r.Error is null).ToList();
        Assert.True(admitted.Count >= 2, $"only {admitted.Count} streams admitted");
        Assert.All(admitted, r => Assert.Equal(400, r.Tokens.Count));
    }
}
