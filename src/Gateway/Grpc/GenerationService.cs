using AlisaCluster.Gateway.Admission;
using AlisaCluster.Gateway.Health;
using AlisaCluster.Gateway.Metrics;
using AlisaCluster.Gateway.Models;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>alisa.v1.Generation: validate, take an in-flight slot, tokenize, charge the key's token budget, admit by
/// worker capacity, record the session, then stream (with resume) from the worker silos. The call's cancellation
/// (client gone) cancels the sequence on its silo, which frees its KV.</summary>
[BindServiceMethod(typeof(GenerationService), nameof(BindService))]
public sealed class GenerationService(ModelCatalog models, SequenceStreamer streamer, SessionTracker sessions, InFlightLimiter limiter,
    CapacityAdmission capacity, TokenBudget budget, ClusterLoadMonitor monitor) : Generation.GenerationBase
{
    /// <summary>Found by Grpc.AspNetCore through the attribute: the generated binding, with strict request parsing.
    /// The parameter is the generated base because gRPC only binds methods that override that type's.</summary>
    public static void BindService(ServiceBinderBase binder, Generation.GenerationBase? service) =>
        Generation.BindService(new StrictRequestBinder(binder), service);

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        var cancelled = context.CancellationToken;
        var shape = GenerateRequestValidator.ValidateShape(request);
        using var lease = limiter.TryAcquire(ApiKeyInterceptor.Caller(context), out var reason)
            ?? throw new RpcException(new Status(StatusCode.ResourceExhausted, reason));
        TrackedSession? session = null;
        var progress = new StreamProgress();
        try
        {
            var sequence = shape with { PromptTokens = await PromptAsync(request, shape, cancelled) };
            await budget.ChargeAsync(ApiKeyInterceptor.Caller(context), sequence.KvTokensNeeded, cancelled);
            await capacity.AdmitAsync(sequence.KvTokensNeeded, cancelled);
            session = await sessions.StartAsync(sequence, ApiKeyInterceptor.Caller(context), cancelled);
            using var timer = new RequestTimer();
            GatewayMetrics.PromptTokens.Inc(sequence.PromptTokens.Length);
            bool logprobs = request.SamplingParams?.Logprobs ?? false;
            var final = await streamer.RunAsync(sequence, progress, async chunk =>
            {
                if (chunk.HasToken)
                {
                    timer.Token();
                    await responseStream.WriteAsync(GenerateResponses.Chunk(chunk, logprobs), cancelled);
                }
                await session.ProgressAsync(progress);
            }, cancelled);
            await responseStream.WriteAsync(GenerateResponses.Complete(sequence, final, progress), cancelled);
            var finish = GenerateResponses.FinishName(final.Finish);
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

    public override async Task<TokenizeResponse> Tokenize(TokenizeRequest request, ServerCallContext context)
    {
        if (request.Text.Length == 0) throw GenerateRequestValidator.Invalid("text", "must not be empty");
        try
        {
            var ids = await models.TokenizeAsync(request.Text, request.AddSpecialTokens, context.CancellationToken);
            return new TokenizeResponse { TokenIds = { ids }, Count = ids.Length };
        }
        catch (Exception e) { throw StatusMapping.ToRpc(e, context.CancellationToken); }
    }

    public override async Task<GetModelInfoResponse> GetModelInfo(GetModelInfoRequest request, ServerCallContext context)
    {
        try
        {
            var model = await models.DescribeAsync(context.CancellationToken);
            return new GetModelInfoResponse
            {
                ModelName = model.Name, VocabSize = model.VocabSize, MaxContextLength = model.MaxContextLength, EosTokenId = model.EosTokenId,
                KvPolicies = { GenerateRequestValidator.KvPolicies }, DefaultKvPolicy = model.DefaultKvPolicy, WorkerSilos = monitor.Workers.Count,
            };
        }
        catch (Exception e) { throw StatusMapping.ToRpc(e, context.CancellationToken); }
    }

    private async Task<int[]> PromptAsync(GenerateRequest request, SequenceRequest shape, CancellationToken cancelled)
    {
        var model = await models.DescribeAsync(cancelled);
        bool isText = request.InputCase == GenerateRequest.InputOneofCase.Text;
        var prompt = isText ? await models.TokenizeAsync(request.Text, addSpecialTokens: true, cancelled) : [.. request.Tokenized.Ids];
        GenerateRequestValidator.ValidatePrompt(prompt, shape, model, isText ? "text" : "tokenized.ids");
        return prompt;
    }
}
