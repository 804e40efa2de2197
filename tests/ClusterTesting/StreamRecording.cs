using System.Diagnostics;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.ClusterTesting;

/// <summary>A generate stream read to its end with its timing: the tokens, the final message or the error it ended
/// with, the time to the first token and the longest gap between two tokens.</summary>
public sealed record StreamRecording(IReadOnlyList<int> Tokens, GenerateComplete? Complete, RpcException? Error, TimeSpan FirstToken, TimeSpan MaxGap)
{
    public static async Task<StreamRecording> ReadAsync(AsyncServerStreamingCall<GenerateResponse> call)
    {
        var clock = Stopwatch.StartNew();
        var tokens = new List<int>();
        GenerateComplete? complete = null;
        TimeSpan first = TimeSpan.Zero, last = TimeSpan.Zero, maxGap = TimeSpan.Zero;
        try
        {
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                if (complete is not null) throw new InvalidOperationException("a message arrived after the final one");
                if (response.Chunk is not { } chunk)
                {
                    complete = response.Complete;
                    continue;
                }
                var now = clock.Elapsed;
                if (tokens.Count == 0) first = now;
                else if (now - last > maxGap) maxGap = now - last;
                last = now;
                tokens.AddRange(chunk.TokenIds);
            }
            return new StreamRecording(tokens, complete, null, first, maxGap);
        }
        catch (RpcException e)
        {
            return new StreamRecording(tokens, null, e, first, maxGap);
        }
    }
}
