using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Protos;
using Microsoft.Extensions.DependencyInjection;

namespace AlisaCluster.Gateway.Tests.Streaming;

/// <summary>Two worker silo processes, a gateway and Redis: killing the silo that runs a stream mid-stream must not
/// cost the client a token or give it one twice; the stream resumes on the other silo.</summary>
public sealed class ResumeAfterSiloDeathTests
{
    [Fact]
    public async Task Killing_the_streams_silo_mid_stream_still_delivers_the_complete_output_once()
    {
        var clusterId = "resume-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await RedisServer.StartAsync();
        await using var siloA = await SiloProcess.StartAsync(redis.ConnectionString, clusterId);
        await using var siloB = await SiloProcess.StartAsync(redis.ConnectionString, clusterId);
        await using var gateway = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:Redis"] = redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
        }, withSilo: false);

        int[] prompt = [1, 450, 1002, 310, 278, 3303];
        const int maxTokens = 600;
        var requestId = "resume-" + Guid.NewGuid().ToString("N");
        using var call = gateway.Client().Generate(new GenerateRequest
        {
            RequestId = requestId, Tokenized = new TokenIds { Ids = { prompt } },
            SamplingParams = new Protos.SamplingParams { Temperature = 0, MaxTokens = maxTokens, IgnoreEos = true },
        });
        var tokens = new List<int>();
        while (tokens.Count < 30 && await call.ResponseStream.MoveNext(CancellationToken.None))
            tokens.AddRange(call.ResponseStream.Current.Chunk.TokenIds);

        var silo = await SessionProbe.SiloOfAsync(gateway.Gateway, requestId);
        var victim = silo.StartsWith($"127.0.0.1:{siloA.SiloPort}@") ? siloA
            : silo.StartsWith($"127.0.0.1:{siloB.SiloPort}@") ? siloB
            : throw new InvalidOperationException($"the stream runs on an unknown silo '{silo}'");
        victim.Kill();

        GenerateComplete? complete = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var response = call.ResponseStream.Current;
            if (response.Chunk is { } chunk) tokens.AddRange(chunk.TokenIds);
            else complete = response.Complete;
        }

        Assert.NotNull(complete);
        Assert.True(complete.Usage.Resumes >= 1, "the stream should have moved to the surviving silo");
        Assert.Equal(maxTokens, complete.Usage.CompletionTokens);
        Assert.Equal(FinishReason.Length, complete.FinishReason);
        Assert.Equal(await DirectEngine.GreedyAsync(prompt, maxTokens), tokens);
        var finished = await gateway.Gateway.GetRequiredService<ISessionStore>().GetAsync(requestId, CancellationToken.None);
        Assert.Equal(SessionStates.Finished, finished!.State);
        Assert.Equal(tokens, finished.GeneratedTokens);
        Assert.DoesNotContain($":{victim.SiloPort}@", finished.Silo);
    }
}
