using System.Text.Json.Nodes;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Grains;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>The OpenAI-compatible HTTP API on the gateway's HTTP port: completions, chat completions and models (with
/// vLLM's max_model_len and our vocab_size as extensions).</summary>
public static class OpenAiEndpoints
{
    public static IEndpointRouteBuilder MapOpenAi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/completions", (HttpContext http, CompletionHandler handler) => handler.HandleAsync(http, CompletionKind.Text));
        v1.MapPost("/chat/completions", (HttpContext http, CompletionHandler handler) => handler.HandleAsync(http, CompletionKind.Chat));
        v1.MapGet("/models", (HttpContext http, CompletionHandler handler, ApiKeyAuthenticator authenticator) =>
            ModelsAsync(http, handler, authenticator, id: null));
        v1.MapGet("/models/{id}", (HttpContext http, string id, CompletionHandler handler, ApiKeyAuthenticator authenticator) =>
            ModelsAsync(http, handler, authenticator, id));
        v1.MapFallback((HttpContext http) => new OpenAiError(404, $"no such endpoint: {http.Request.Method} {http.Request.Path}",
            "invalid_request_error", null, "unknown_url").WriteAsync(http.Response));
        return app;
    }

    private static async Task ModelsAsync(HttpContext http, CompletionHandler handler, ApiKeyAuthenticator authenticator, string? id)
    {
        try
        {
            await authenticator.AuthenticateAsync(http.Request.Headers.Authorization, http.RequestAborted);
            var model = await handler.CheckModelAsync(id, http.RequestAborted);
            await http.Response.WriteAsJsonAsync(id is null ? new JsonObject { ["object"] = "list", ["data"] = new JsonArray(Describe(model)) } : Describe(model));
        }
        catch (Exception e) when (!http.RequestAborted.IsCancellationRequested)
        {
            await OpenAiError.From(e, http.RequestAborted, "model").WriteAsync(http.Response);
        }
    }

    private static JsonObject Describe(ModelDescription model) => new()
    {
        ["id"] = model.Name, ["object"] = "model", ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["owned_by"] = "alisa", ["root"] = model.Name,
        ["max_model_len"] = model.MaxContextLength, ["vocab_size"] = model.VocabSize,
    };
}
