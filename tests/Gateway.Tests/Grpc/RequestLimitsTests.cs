using AlisaCluster.Gateway.Grpc;
using AlisaCluster.GpuWorker.Attention;
using AlisaCluster.GpuWorker.Engine;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>The gateway repeats the engine's request limits (it does not reference the engine, which brings libtorch);
/// the two copies must agree, or a request could pass one and fail the other.</summary>
public sealed class RequestLimitsTests
{
    [Fact]
    public void GatewayLimitsAreTheEnginesLimits()
    {
        Assert.Equal(SamplingParams.MinTemperature, GenerateRequestValidator.MinTemperature);
        Assert.Equal(SamplingParams.MaxTemperature, GenerateRequestValidator.MaxTemperature);
        Assert.Equal(SamplingParams.MaxRepetitionPenalty, GenerateRequestValidator.MaxRepetitionPenalty);
        Assert.Equal(SamplingParams.MaxTopK, GenerateRequestValidator.MaxTopK);
        Assert.Equal(SamplingParams.MaxStopStrings, GenerateRequestValidator.MaxStopStrings);
        Assert.Equal(SamplingParams.MaxStopLength, GenerateRequestValidator.MaxStopLength);
        Assert.Equal(SamplingParams.MaxPresencePenalty, GenerateRequestValidator.MaxPresencePenalty);
        Assert.Equal(SamplingParams.MaxFrequencyPenalty, GenerateRequestValidator.MaxFrequencyPenalty);
        Assert.Equal(SamplingParams.MaxLogitBias, GenerateRequestValidator.MaxLogitBias);
        Assert.Equal(SamplingParams.MaxLogitBiasTokens, GenerateRequestValidator.MaxLogitBiasTokens);
        Assert.Equal(SamplingParams.MaxTopLogprobs, GenerateRequestValidator.MaxTopLogprobs);
        Assert.Equal(KvPolicy.MaxSparsity, GenerateRequestValidator.MaxKvSparsity);
        Assert.Equal(KvPolicy.MaxSinks, GenerateRequestValidator.MaxSinks);
    }
}
