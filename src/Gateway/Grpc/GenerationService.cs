using AlisaCluster.Gateway.Health;
using AlisaCluster.Gateway.Models;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using AlisaCluster.Protos;
using Grpc.Core;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>alisa.v1.Generation: validate, then the shared <see cref="GenerationPipeline"/> once per choice (admit, tokenize,
/// record the session, stream with resume from the worker silos). The call's cancellation (client gone) cancels the sequence on its silo, which frees its KV.</summary>
[BindServiceMethod(typeof(GenerationService), nameof(BindService))]
public sealed class GenerationService(ModelCatalog models, GenerationPipeline pipeline, SequenceAborter aborter, ClusterLoadMonitor monitor) : Generation.GenerationBase
{
    /// <summary>Found by Grpc.AspNetCore through the attribute: the generated binding, with strict request parsing.
    /// The parameter is the generated base because gRPC only binds methods that override that type's.</summary>
    public static void BindService(ServiceBinderBase binder, Generation.GenerationBase? service) =>
        Generation.BindService(new StrictRequestBinder(binder), service);

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        var cancelled = context.CancellationToken;
        var shape = GenerateRequestValidator.ValidateShape(request);
        int n = GenerateRequestValidator.Choices(request);
        bool logprobs = request.SamplingParams?.Logprobs ?? false;
        // the n choices run concurrently; a gRPC stream takes one write at a time
        using var writing = new SemaphoreSlim(1, 1);
        async Task WriteAsync(GenerateResponse response)
        {
            await writing.WaitAsync(cancelled);
            try { await responseStream.WriteAsync(response, cancelled); }
            finally { writing.Release(); }
        }
        await pipeline.RunChoicesAsync(ApiKeyInterceptor.Caller(context), n, shape,
            async (choice, token) => choice with { PromptTokens = await PromptAsync(request, choice, token) },
            (index, chunk) => WriteAsync(GenerateResponses.Chunk(index, chunk, logprobs)),
            (index, outcome) => WriteAsync(GenerateResponses.Complete(index, outcome)), cancelled);
    }

    public override async Task<AbortResponse> Abort(AbortRequest request, ServerCallContext context)
    {
        if (request.RequestId.Length == 0) throw GenerateRequestValidator.Invalid("request_id", "must not be empty");
        try
        {
            return new AbortResponse { Aborted = await aborter.AbortAsync(request.RequestId, ApiKeyInterceptor.Caller(context), context.CancellationToken) };
        }
        catch (Exception e) { throw StatusMapping.ToRpc(e, context.CancellationToken); }
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
