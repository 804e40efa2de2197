using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using AlisaCluster.Protos;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Builds the wire messages of a generate stream.</summary>
public static class GenerateResponses
{
    public static GenerateResponse Chunk(int index, SequenceChunk chunk, bool logprobs)
    {
        var message = new GenerateChunk { TokenIds = { chunk.TokenId }, Text = chunk.Text, Index = index };
        if (logprobs) message.Logprobs.Add(chunk.Logprob);
        if (chunk.TopLogprobs.Length > 0)
            message.TopLogprobs.Add(new TopLogprobs { TokenIds = { chunk.TopLogprobs.Select(t => t.TokenId) }, Logprobs = { chunk.TopLogprobs.Select(t => t.Logprob) } });
        return new GenerateResponse { Chunk = message };
    }

    public static GenerateResponse Complete(int index, GenerationOutcome outcome) => new()
    {
        Complete = new GenerateComplete
        {
            RequestId = outcome.Request.RequestId, Index = index,
            FinishReason = outcome.Final.Finish switch
            {
                SequenceFinish.Stop => FinishReason.Stop,
                SequenceFinish.Length => FinishReason.Length,
                _ => FinishReason.Abort,
            },
            StopReason = outcome.Final.Stop switch
            {
                SequenceStop.Eos => StopReason.Eos,
                SequenceStop.StopToken => StopReason.StopToken,
                SequenceStop.StopString => StopReason.StopString,
                _ => StopReason.Unspecified,
            },
            Usage = new Usage
            {
                PromptTokens = outcome.PromptTokens, CompletionTokens = outcome.CompletionTokens,
                TotalTokens = outcome.PromptTokens + outcome.CompletionTokens, Resumes = outcome.Progress.Resumes,
                CachedTokens = outcome.CachedTokens,
            },
        },
    };
}
