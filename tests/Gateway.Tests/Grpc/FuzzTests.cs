using AlisaCluster.Protos;
using Grpc.Core;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>Seeded random requests with extreme field values through the real gateway: whatever the input, the
/// answer is a result or a client-side status (INVALID_ARGUMENT, RESOURCE_EXHAUSTED...), never INTERNAL or UNKNOWN.</summary>
[Collection(DevClusterCollection.Name)]
public sealed class FuzzTests(DevClusterFixture fixture)
{
    private static readonly double[] Doubles =
        [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0, -0.0, -1, 1e-300, 1e-4, 0.5, 1, 1.5, 100, 1e30, double.MaxValue, double.Epsilon];
    private static readonly int[] Ints = [int.MinValue, -1, 0, 1, 2, 8, 255, 4096, 1 << 20, (1 << 20) + 1, int.MaxValue];
    private static readonly string[] Policies = ["", "dense", "local", "streaming", "h2o", "swa", "alisa", "quest", "lru", "SWA", " swa ", ":", "swa::"];
    private static readonly string[] Options =
        ["sinks=4", "sinks=99999999999", "sinks=-1", "sinks=", "sinks=1e3", "local=0.75", "local=NaN", "local=-0", "local=1e999",
         "local=", "local=0", "mean", "per-head", "learned", "ada", "bogus", "=", "0.8", "0.999999", "1e-320", "Infinity", "local=0.5=1"];

    [Fact]
    public async Task Extreme_requests_never_end_internal_or_unknown()
    {
        var random = new Random(20261130);
        var seen = new Dictionary<StatusCode, int>();
        for (int i = 0; i < 300; i++)
        {
            var request = Random(random);
            var code = await StatusOf(request);
            seen[code] = seen.GetValueOrDefault(code) + 1;
            Assert.True(code is not (StatusCode.Internal or StatusCode.Unknown), $"request {i} ended {code}: {request}");
        }
        // the generator reaches both sides of the validator
        Assert.True(seen.GetValueOrDefault(StatusCode.OK) > 0 && seen.GetValueOrDefault(StatusCode.InvalidArgument) > 0, string.Join(", ", seen));
    }

    private async Task<StatusCode> StatusOf(GenerateRequest request)
    {
        try
        {
            using var call = fixture.Cluster.Client().Generate(request, WithKey(DevClusterFixture.TesterKey));
            await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
            return StatusCode.OK;
        }
        catch (RpcException e) { return e.StatusCode; }
    }

    private static GenerateRequest Random(Random random)
    {
        T Pick<T>(T[] values) => values[random.Next(values.Length)];
        bool Maybe(double p = 0.3) => random.NextDouble() < p;
        // mostly-valid max_tokens keeps the accepted requests short
        var sampling = new Protos.SamplingParams { MaxTokens = Maybe(0.8) ? random.Next(1, 4) : Pick(Ints) };
        if (Maybe()) sampling.Temperature = Pick(Doubles);
        if (Maybe()) sampling.TopP = Pick(Doubles);
        if (Maybe()) sampling.TopK = Pick(Ints);
        if (Maybe()) sampling.RepetitionPenalty = Pick(Doubles);
        if (Maybe(0.1)) sampling.Seed = random.NextInt64(long.MinValue, long.MaxValue);
        if (Maybe(0.2)) sampling.Stop.AddRange(Enumerable.Range(0, Pick(new[] { 1, 16, 17, 1000, 100_000 })).Select(_ => "x"));
        if (Maybe(0.1)) sampling.Stop.Add(new string('y', Pick(new[] { 0, 256, 257, 1 << 20 })));
        if (Maybe(0.1)) sampling.StopTokenIds.Add(Pick(Ints));
        var request = new GenerateRequest { SamplingParams = sampling };
        if (Maybe(0.1)) request.Tokenized = new TokenIds { Ids = { Enumerable.Range(0, random.Next(0, 4)).Select(_ => Pick(Ints)) } };
        else request.Text = Maybe(0.05) ? new string('z', Pick(new[] { 0, 5000, 100_000 })) : "In the beginning";
        if (Maybe(0.5))
        {
            var parts = new List<string> { Pick(Policies) };
            for (int n = random.Next(0, 4); n > 0; n--) parts.Add(Pick(Options));
            request.KvPolicy = string.Join(':', parts);
        }
        if (Maybe()) request.KvSparsity = Maybe() ? Pick(Doubles) : random.NextDouble();
        if (Maybe(0.05)) request.RequestId = Pick(new[] { "ok-id", " ", new string('r', 200), "ü" });
        return request;
    }
}
