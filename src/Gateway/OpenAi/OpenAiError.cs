using System.Text.Json.Nodes;
using AlisaCluster.Gateway.Admission;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Grpc;
using Grpc.Core;

namespace AlisaCluster.Gateway.OpenAi;

/// <summary>An error in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with its HTTP status. The
/// gateway's failures arrive as gRPC statuses (<see cref="StatusMapping"/>); a message that starts with "field: "
/// names the request field at fault, which becomes <c>param</c>.</summary>
public sealed record OpenAiError(int Status, string Message, string Type, string? Param, string? Code)
{
    /// <summary>Seconds a client over quota should wait before retrying (the Retry-After header of a 429): the refusal's
    /// own <see cref="TokenBudget.RetryAfterTrailer"/> (the rest of the budget's minute), else 1.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>The gRPC status of the same failure (the failure metric's label).</summary>
    public StatusCode GrpcCode => Status switch
    {
        400 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        404 => StatusCode.NotFound,
        409 => StatusCode.AlreadyExists,
        429 => StatusCode.ResourceExhausted,
        499 => StatusCode.Cancelled,
        503 => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    public static OpenAiError Invalid(string param, string message) => new(400, $"{param}: {message}", "invalid_request_error", param, null);

    public static OpenAiError UnknownModel(string model, string served) =>
        new(404, $"The model '{model}' does not exist; this server serves '{served}'", "invalid_request_error", "model", "model_not_found");

    /// <param name="inputField">the request's input field ("prompt", "messages"): the gRPC path names text or token ids</param>
    public static OpenAiError From(Exception e, CancellationToken callCancelled, string inputField)
    {
        if (e is OpenAiException openAi) return openAi.Error;
        if (e is ApiKeyRejectedException) return new(401, e.Message, "authentication_error", null, "invalid_api_key");
        var rpc = StatusMapping.ToRpc(e, callCancelled);
        var detail = rpc.Status.Detail;
        return rpc.StatusCode switch
        {
            StatusCode.InvalidArgument => FieldOf(detail) is { } field
                ? Invalid(field is "text" or "tokenized.ids" ? inputField : Flat(field), detail[(field.Length + 2)..])
                : new(400, detail, "invalid_request_error", null, null),
            StatusCode.Unauthenticated => new(401, detail, "authentication_error", null, "invalid_api_key"),
            StatusCode.NotFound => new(404, detail, "invalid_request_error", null, null),
            StatusCode.AlreadyExists => new(409, detail, "invalid_request_error", FieldOf(detail), null),
            StatusCode.ResourceExhausted => new(429, detail, "rate_limit_error", null, "rate_limit_exceeded")
            {
                RetryAfterSeconds = int.TryParse(rpc.Trailers.GetValue(TokenBudget.RetryAfterTrailer), out var seconds) ? seconds : 1,
            },
            StatusCode.Unavailable => new(503, detail, "service_unavailable", null, null),
            StatusCode.Cancelled => new(499, detail, "cancelled", null, null),
            _ => new(500, detail, "server_error", null, null),
        };
    }

    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject { ["message"] = Message, ["type"] = Type, ["param"] = Param, ["code"] = Code },
    };

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        if (Status == 429) response.Headers.RetryAfter = RetryAfterSeconds.ToString();
        await response.WriteAsJsonAsync(ToJson());
    }

    /// <summary>The field path a gateway message starts with ("sampling_params.top_p: ..."), if any.</summary>
    private static string? FieldOf(string detail)
    {
        int colon = detail.IndexOf(": ", StringComparison.Ordinal);
        return colon <= 0 || detail[..colon].Contains(' ') ? null : detail[..colon];
    }

    /// <summary>The gRPC API's nested field names in OpenAI's flat ones ("sampling_params.top_p" is "top_p").</summary>
    private static string Flat(string field) =>
        field.StartsWith("sampling_params.", StringComparison.Ordinal) ? field["sampling_params.".Length..] : field;
}

/// <summary>Thrown where the HTTP API itself refuses a request (a field only it has, an unknown model).</summary>
public sealed class OpenAiException(OpenAiError error) : Exception(error.Message)
{
    public OpenAiError Error { get; } = error;
}
