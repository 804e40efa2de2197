using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;

namespace AlisaCluster.Grains.Engines;

/// <summary>Translates between the cluster's wire types and the engine's.</summary>
public static class RequestMapping
{
    public static GenerationRequest ToGeneration(SequenceRequest request, KvPolicy defaultPolicy, LearnedSplit? split = null) =>
        new(request.RequestId, request.PromptTokens, new SamplingParams
        {
            Temperature = request.Temperature, TopP = request.TopP, TopK = request.TopK, MaxTokens = request.MaxTokens,
            Stop = request.Stop, StopTokenIds = request.StopTokenIds, Seed = request.Seed,
            RepetitionPenalty = request.RepetitionPenalty, IgnoreEos = request.IgnoreEos, PresencePenalty = request.PresencePenalty,
            FrequencyPenalty = request.FrequencyPenalty, MinP = request.MinP, LogitBias = request.LogitBias,
        })
        {
            Policy = string.IsNullOrEmpty(request.KvPolicy) ? defaultPolicy : KvPolicy.Parse(request.KvPolicy, split),
            ResumeTokens = request.ResumeTokens,
        };

    public static SequenceChunk ToChunk(GenerationEvent item, string silo) =>
        new(item.TokenId, item.Text, item.Logprob, item.Finish switch
        {
            null => null,
            FinishReason.Stop => SequenceFinish.Stop,
            FinishReason.Length => SequenceFinish.Length,
            _ => SequenceFinish.Abort,
        }, item.PromptTokens, item.GeneratedTokens, silo, item.Cause switch
        {
            null => null,
            StopCause.Eos => SequenceStop.Eos,
            StopCause.StopToken => SequenceStop.StopToken,
            _ => SequenceStop.StopString,
        });
}
