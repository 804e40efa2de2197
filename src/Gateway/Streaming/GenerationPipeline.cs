using AlisaCluster.Gateway.Admission;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Grpc;
using AlisaCluster.Gateway.Metrics;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Grains;
using Grpc.Core;
using System.Runtime.ExceptionServices;

namespace AlisaCluster.Gateway.Streaming;

/// <summary>The path of every generate request, whichever API it came by (gRPC Generate, the OpenAI HTTP endpoints):
/// an in-flight slot, the prompt, the key's token budget, admission by worker capacity, the session record, metrics,
/// then the resumable stream from the worker silos. Failures come out as <see cref="RpcException"/>s
/// (<see cref="StatusMapping"/>), so each API maps one set of statuses; each API counts its own failures.</summary>
public sealed class GenerationPipeline(SequenceStreamer streamer, SessionTracker sessions, InFlightLimiter limiter,
    CapacityAdmission capacity, TokenBudget budget)
{
    /// <summary>n independent choices of one request (OpenAI's n), each its own sequence through <see cref="RunAsync"/>
    /// with the request id suffixed and the seed offset by its index (as vLLM's); the first failure (or the caller
    /// going away) cancels the others and is rethrown.</summary>
    /// <param name="prepare">the choice's shape (id and seed set) with its prompt's token ids, validated</param>
    public async Task RunChoicesAsync(ApiKeyRecord caller, int n, SequenceRequest shape,
        Func<SequenceRequest, CancellationToken, Task<SequenceRequest>> prepare,
        Func<int, SequenceChunk, Task> deliver, Func<int, GenerationOutcome, Task> complete, CancellationToken cancelled)
    {
        using var siblings = CancellationTokenSource.CreateLinkedTokenSource(cancelled);
        Exception? failure = null;
        await Task.WhenAll(Enumerable.Range(0, n).Select(async index =>
        {
            var choice = n == 1 ? shape : shape with { RequestId = $"{shape.RequestId}-{index}", Seed = shape.Seed + index };
            try
            {
                await RunAsync(caller, token => prepare(choice, token), chunk => deliver(index, chunk), outcome => complete(index, outcome), siblings.Token);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                await siblings.CancelAsync();
            }
        }));
        if (failure is not null) ExceptionDispatchInfo.Throw(failure);
    }

    /// <param name="prepare">the request with its prompt's token ids, validated (runs once an in-flight slot is held: tokenizing costs a grain call)</param>
    /// <param name="deliver">each new token, in order</param>
    /// <param name="complete">the end of a finished stream, before the session is marked finished</param>
    public async Task RunAsync(ApiKeyRecord caller, Func<CancellationToken, Task<SequenceRequest>> prepare,
        Func<SequenceChunk, Task> deliver, Func<GenerationOutcome, Task> complete, CancellationToken cancelled)
    {
        using var lease = limiter.TryAcquire(caller, out var reason) ?? throw new RpcException(new Status(StatusCode.ResourceExhausted, reason));
        TrackedSession? session = null;
        var progress = new StreamProgress();
        try
        {
            var sequence = await prepare(cancelled);
            await budget.ChargeAsync(caller, sequence.KvTokensNeeded, cancelled);
            await capacity.AdmitAsync(sequence.KvTokensNeeded, cancelled);
            session = await sessions.StartAsync(sequence, caller, cancelled);
            using var timer = new RequestTimer();
            GatewayMetrics.PromptTokens.Inc(sequence.PromptTokens.Length);
            var final = await streamer.RunAsync(sequence, progress, async chunk =>
            {
                if (chunk.HasToken)
                {
                    timer.Token();
                    await deliver(chunk);
                }
                await session.ProgressAsync(progress);
            }, cancelled);
            await complete(new GenerationOutcome(sequence, final, progress));
            var finish = GenerationOutcome.FinishName(final.Finish);
            timer.Finished(finish);
            GatewayMetrics.Resumes.Inc(progress.Resumes);
            await session.EndAsync(SessionStates.Finished, finish, progress);
        }
        catch (Exception e)
        {
            var rpc = StatusMapping.ToRpc(e, cancelled);
            if (session is not null)
                await session.EndAsync(rpc.StatusCode == StatusCode.Cancelled ? SessionStates.Aborted : SessionStates.Failed, rpc.Status.Detail, progress);
            throw rpc;
        }
    }
}

/// <summary>A finished stream: the request with its prompt tokens, the final chunk, and what was delivered.</summary>
public sealed record GenerationOutcome(SequenceRequest Request, SequenceChunk Final, StreamProgress Progress)
{
    public int PromptTokens => Request.PromptTokens.Length;
    public int CompletionTokens => Progress.Generated.Count;
    public int CachedTokens => Final.CachedTokens;

    public static string FinishName(SequenceFinish? finish) => finish?.ToString().ToLowerInvariant() ?? "abort";
}
