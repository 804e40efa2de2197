using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.ClusterTesting;

/// <summary>A generate stream read to its end: the tokens and text of every chunk, and the final message.</summary>
public sealed record StreamResult(IReadOnlyList<int> Tokens, string Text, IReadOnlyList<float> Logprobs, GenerateComplete Complete)
{
    public static async Task<StreamResult> ReadAsync(AsyncServerStreamingCall<GenerateResponse> call, CancellationToken cancellationToken = default)
    {
        var tokens = new List<int>();
        var logprobs = new List<float>();
        var text = new System.Text.StringBuilder();
        GenerateComplete? complete = null;
        await foreach (var response in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            if (complete is not null) throw new InvalidOperationException("a message arrived after the final one");
            if (response.Chunk is { } chunk)
            {
                tokens.AddRange(chunk.TokenIds);
                logprobs.AddRange(chunk.Logprobs);
                text.Append(chunk.Text);
            }
            else complete = response.Complete;
        }
        return new StreamResult(tokens, text.ToString(), logprobs, complete ?? throw new InvalidOperationException("the stream ended without a final message"));
    }
}
