using System.Runtime.CompilerServices;
using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Grains;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace AlisaCluster.Gateway.Streaming;

/// <summary>Streams a sequence from the cluster so that the client gets every token exactly once: if the silo is lost
/// mid-stream, the sequence is resumed on another silo from the tokens already delivered (that silo rebuilds the KV
/// by prefill and streams only new tokens). Retrying is safe for the same reason; after MaxResumes it gives up.</summary>
public sealed class SequenceStreamer(IClusterClient cluster, IOptions<GatewayOptions> options, ILogger<SequenceStreamer> logger)
{
    private readonly ResiliencePipeline _resume = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<SiloLostException>(),
            MaxRetryAttempts = options.Value.MaxResumes, Delay = options.Value.ResumeDelay, BackoffType = DelayBackoffType.Exponential,
        })
        .Build();

    /// <summary>Delivers each chunk to <paramref name="deliver"/> and returns the final one.</summary>
    public async Task<SequenceChunk> RunAsync(SequenceRequest request, StreamProgress progress, Func<SequenceChunk, Task> deliver, CancellationToken cancellationToken)
    {
        int attempt = 0;
        try
        {
            return await _resume.ExecuteAsync(async token => await AttemptAsync(request, progress, attempt++, deliver, token), cancellationToken);
        }
        catch (SiloLostException e)
        {
            throw new StreamLostException($"the worker silo was lost after {progress.Generated.Count} tokens and the stream could not be resumed ({progress.Resumes} resumes): {e.Message}", e);
        }
    }

    private async Task<SequenceChunk> AttemptAsync(SequenceRequest request, StreamProgress progress, int attempt, Func<SequenceChunk, Task> deliver, CancellationToken token)
    {
        progress.Resumes = attempt;
        if (attempt > 0) logger.LogWarning("resuming {RequestId} after {Tokens} tokens (attempt {Attempt})", request.RequestId, progress.Generated.Count, attempt);
        var resumed = request with { ResumeTokens = [.. progress.Generated] };
        var grain = cluster.GetGrain<ISequenceGrain>(SequenceKeys.ForAttempt(request.RequestId, attempt));
        var idleTimeout = options.Value.TokenIdleTimeout;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(token);
        idle.CancelAfter(idleTimeout);
        RequestContext.Set(SequenceKeys.KvTokensContextKey, resumed.KvTokensNeeded);
        try
        {
            await foreach (var chunk in ReadAsync(grain, resumed, idle.Token))
            {
                idle.CancelAfter(idleTimeout);
                int expected = progress.Generated.Count + (chunk.HasToken ? 1 : 0);
                if (chunk.GeneratedTokens != expected)
                    throw new StreamCorruptedException($"worker {chunk.Silo} sent token {chunk.GeneratedTokens} where {expected} was due");
                progress.Silo = chunk.Silo;
                if (chunk.IsKeepAlive) continue;
                if (chunk.HasToken) progress.Generated.Add(chunk.TokenId);
                await deliver(chunk);
                if (chunk.Finish is not null) return chunk;
            }
            throw new SiloLostException("the worker's stream ended without a finish reason");
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            throw new SiloLostException($"nothing from the worker for {idleTimeout.TotalSeconds:F1} s");
        }
        finally
        {
            RequestContext.Remove(SequenceKeys.KvTokensContextKey);
        }
    }

    /// <summary>The grain's stream with silo losses turned into <see cref="SiloLostException"/>.</summary>
    private static async IAsyncEnumerable<SequenceChunk> ReadAsync(ISequenceGrain grain, SequenceRequest request, [EnumeratorCancellation] CancellationToken token)
    {
        var chunks = grain.GenerateAsync(request, token).GetAsyncEnumerator(token);
        try
        {
            while (true)
            {
                try
                {
                    if (!await chunks.MoveNextAsync()) yield break;
                }
                catch (Exception e) when (SiloLoss.IsSiloLoss(e)) { throw new SiloLostException($"{e.GetType().Name}: {e.Message}", e); }
                yield return chunks.Current;
            }
        }
        finally
        {
            // disposing tells the worker to drop the sequence; a lost silo cannot answer, so do not wait on it long
            try { await chunks.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None); }
            catch (Exception e) when (SiloLoss.IsSiloLoss(e)) { }
        }
    }
}
