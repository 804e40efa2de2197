using System.Text.Json;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.ChatTemplates;
using AlisaCluster.Gateway.Grpc;
using AlisaCluster.Gateway.Metrics;
using AlisaCluster.Gateway.Models;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using Grpc.Core;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>POST /v1/completions and /v1/chat/completions: authenticate, read the body into the gRPC API's request,
/// check the model, then run each of its n choices through the same <see cref="GenerationPipeline"/> as gRPC Generate
/// (in-flight caps, token budget, capacity admission, session, resume). The request's abort (client gone) cancels the
/// sequences on their silos, which frees their KV. Every failure is counted in alisa_request_failure_total by its gRPC status, as for gRPC.</summary>
public sealed class CompletionHandler(ApiKeyAuthenticator authenticator, ModelCatalog models, ChatPrompts chatPrompts, GenerationPipeline pipeline)
{
    public async Task HandleAsync(HttpContext http, CompletionKind kind)
    {
        var cancelled = http.RequestAborted;
        string inputField = kind == CompletionKind.Chat ? "messages" : "prompt";
        ICompletionOutput? output = null;
        try
        {
            var caller = await authenticator.AuthenticateAsync(http.Request.Headers.Authorization, cancelled);
            var call = CompletionCall.Read(kind, await ReadBodyAsync(http.Request, cancelled));
            var model = await CheckModelAsync(call.Model, cancelled);
            if (kind == CompletionKind.Chat)
                call.Request.Text = await chatPrompts.RenderAsync(call.Messages, call.AddGenerationPrompt, call.ChatTemplate, cancelled);
            var shape = GenerateRequestValidator.ValidateShape(call.Request);
            var json = new CompletionJson(call, model.Name);
            output = ICompletionOutput.For(call, json, http.Response);
            await RunChoicesAsync(caller, call, shape, model, output, cancelled);
        }
        catch (Exception e) when (!cancelled.IsCancellationRequested)
        {
            var error = OpenAiError.From(e, cancelled, inputField);
            GatewayMetrics.RequestsFailed.WithLabels(error.GrpcCode.ToString()).Inc();
            if (output?.Started == true) await output.FailAsync(error);
            else await error.WriteAsync(http.Response);
        }
        catch (Exception) when (cancelled.IsCancellationRequested)
        {
            // the client is gone: nobody reads an answer; the pipeline has already cancelled the sequence
            GatewayMetrics.RequestsFailed.WithLabels(nameof(StatusCode.Cancelled)).Inc();
        }
    }

    /// <summary>The call's n choices (<see cref="GenerationPipeline.RunChoicesAsync"/>), then the end of the output.</summary>
    private async Task RunChoicesAsync(ApiKeyRecord caller, CompletionCall call, SequenceRequest shape, ModelDescription model,
        ICompletionOutput output, CancellationToken cancelled)
    {
        await pipeline.RunChoicesAsync(caller, call.N, shape, (choice, token) => PrepareAsync(call, choice, model, token),
            output.TokenAsync, output.FinishAsync, cancelled);
        await output.EndAsync();
    }

    /// <summary>The served model, or 404 for another name (no name means the served one, as in vLLM).</summary>
    public async Task<ModelDescription> CheckModelAsync(string? name, CancellationToken cancellationToken)
    {
        var model = await models.DescribeAsync(cancellationToken);
        if (name is not null && name != model.Name) throw new OpenAiException(OpenAiError.UnknownModel(name, model.Name));
        return model;
    }

    private async Task<SequenceRequest> PrepareAsync(CompletionCall call, SequenceRequest shape, ModelDescription model, CancellationToken cancelled)
    {
        int[] prompt = call.Kind switch
        {
            // the template writes the special tokens (bos_token) itself
            CompletionKind.Chat => await models.TokenizeAsync(call.Request.Text, addSpecialTokens: false, cancelled),
            _ when call.Request.Tokenized is { } tokens => [.. tokens.Ids],
            _ => await models.TokenizeAsync(call.Request.Text, addSpecialTokens: true, cancelled),
        };
        // chat without max tokens: up to the end of the context, as OpenAI's and vLLM's
        var sequence = shape with
        {
            PromptTokens = prompt,
            MaxTokens = call.Kind == CompletionKind.Chat && !call.MaxTokensGiven ? Math.Max(1, model.MaxContextLength - prompt.Length) : shape.MaxTokens,
        };
        GenerateRequestValidator.ValidatePrompt(prompt, sequence, model, call.Request.Tokenized is null ? "text" : "tokenized.ids");
        return sequence;
    }

    private static async Task<JsonElement> ReadBodyAsync(HttpRequest request, CancellationToken cancelled)
    {
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancelled);
            return body.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new OpenAiException(new OpenAiError(400, $"the request body is not valid JSON: {e.Message}", "invalid_request_error", null, null));
        }
    }
}
