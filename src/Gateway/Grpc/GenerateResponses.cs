using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using AlisaCluster.Protos;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Builds the wire messages of a generate stream.</summary>
public static class GenerateResponses
{
    public static GenerateResponse Chunk(SequenceChunk chunk, bool logprobs)
    {
        var message = new GenerateChunk { TokenIds = { chunk.TokenId }, Text = chunk.Text };
        if (logprobs) message.Logprobs.Add(chunk.Logprob);
        return new GenerateResponse { Chunk = message };
    }

    public static GenerateResponse Complete(SequenceRequest request, SequenceChunk final, StreamProgress progress) => new()
    {
        Complete = new GenerateComplete
        {
            RequestId = request.RequestId,
            FinishReason = final.Finish switch
            {
                SequenceFinish.Stop => FinishReason.Stop,
                SequenceFinish.Length => FinishReason.Length,
                _ => FinishReason.Abort,
            },
            Usage = new Usage
            {
                PromptTokens = request.PromptTokens.Length, CompletionTokens = progress.Generated.Count,
                TotalTokens = request.PromptTokens.Length + progress.Generated.Count, Resumes = progress.Resumes,
            },
        },
    };

    public static string FinishName(SequenceFinish? finish) => finish?.ToString().ToLowerInvariant() ?? "abort";
}
