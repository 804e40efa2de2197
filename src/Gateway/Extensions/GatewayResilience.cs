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
    private readonly ResiliencePipeline _redis = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<RedisConnectionException>().Handle<RedisTimeoutException>().Handle<TimeoutRejectedException>(),
            MaxRetryAttempts = 1, Delay = TimeSpan.FromMilliseconds(100),
        })
        .AddTimeout(options.Value.RedisTimeout)
        .Build();

    public ResiliencePipeline GrainReads { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(SiloLoss.IsSiloLoss).Handle<TimeoutRejectedException>(),
            MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(200), BackoffType = DelayBackoffType.Exponential,
        })
        .AddTimeout(options.Value.GrainCallTimeout)
        .Build();

    /// <summary>Runs a Redis operation with the timeout and one retry; a failure of Redis itself (down, stalled,
    /// refusing) comes out as <see cref="RedisUnavailableException"/> naming <paramref name="what"/>.</summary>
    public async Task<T> RedisAsync<T>(string what, Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await _redis.ExecuteAsync(async token => await operation(token), cancellationToken);
        }
        catch (Exception e) when (e is RedisException or TimeoutRejectedException || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new RedisUnavailableException(what, e);
        }
    }

    public Task RedisAsync(string what, Func<CancellationToken, Task> operation, CancellationToken cancellationToken) =>
        RedisAsync(what, async token => { await operation(token); return true; }, cancellationToken);
}

/// <summary>Redis did not serve an operation (down, stalled or refusing); callers answer UNAVAILABLE with this message.</summary>
public sealed class RedisUnavailableException(string what, Exception inner)
    : Exception($"the {what} (Redis) is unavailable: {(inner is TimeoutRejectedException ? "no answer in time" : inner.Message)}", inner);
