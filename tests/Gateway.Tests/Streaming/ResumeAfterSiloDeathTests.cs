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
        await using var cluster = await SiloProcessCluster.StartAsync("resume", silos: 2);
        var gateway = cluster.Gateway;

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

        var victim = await cluster.SiloOfAsync(requestId);
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
