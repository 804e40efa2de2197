using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Extensions;

/// <summary>The Polly pipelines around Redis and unary grain calls: a timeout per attempt and a retry. Both only
/// wrap operations that are safe to repeat (idempotent Redis writes, reads, tokenization); the generate stream has
/// its own resume logic (see Streaming/SequenceStreamer).</summary>
public sealed class GatewayResilience(IOptions<GatewayOptions> options)
{
    public ResiliencePipeline Redis { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<RedisConnectionException>().Handle<RedisTimeoutException>().Handle<TimeoutRejectedException>(),
            MaxRetryAttempts = 2, Delay = TimeSpan.FromMilliseconds(100), BackoffType = DelayBackoffType.Exponential,
        })
        .AddTimeout(TimeSpan.FromSeconds(2))
        .Build();

    public ResiliencePipeline GrainReads { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(SiloLoss.IsSiloLoss).Handle<TimeoutRejectedException>(),
            MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(200), BackoffType = DelayBackoffType.Exponential,
        })
        .AddTimeout(options.Value.GrainCallTimeout)
        .Build();
}
