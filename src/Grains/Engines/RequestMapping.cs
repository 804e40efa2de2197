using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;
using AlisaCluster.GpuWorker.Model;

namespace AlisaCluster.Grains.Engines;

/// <summary>Translates between the cluster's wire types and the engine's.</summary>
public static class RequestMapping
{
    /// <param name="defaults">the model's generation_config.json settings, for the sampling fields the request left unset</param>
    public static GenerationRequest ToGeneration(SequenceRequest request, KvPolicy defaultPolicy, GenerationDefaults defaults, LearnedSplit? split = null) =>
        new(request.RequestId, request.PromptTokens, new SamplingParams
        {
            Temperature = request.Temperature ?? defaults.Temperature ?? 1.0, TopP = request.TopP ?? defaults.TopP ?? 1.0,
            TopK = request.TopK ?? defaults.TopK ?? 0, MaxTokens = request.MaxTokens,
            Stop = request.Stop, StopTokenIds = request.StopTokenIds, Seed = request.Seed,
            RepetitionPenalty = request.RepetitionPenalty ?? defaults.RepetitionPenalty ?? 1.0, IgnoreEos = request.IgnoreEos,
            PresencePenalty = request.PresencePenalty, FrequencyPenalty = request.FrequencyPenalty, MinP = request.MinP, LogitBias = request.LogitBias,
            TopLogprobs = request.TopLogprobs,
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
        })
        {
            TopLogprobs = [.. item.TopLogprobs.Select(t => new TopToken(t.TokenId, t.Logprob))], CachedTokens = item.CachedTokens,
        };
}
