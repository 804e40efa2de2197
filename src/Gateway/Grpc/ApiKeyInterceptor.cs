using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Authenticates "authorization: Bearer KEY" against the key store; a missing key (when keys are required) or
/// an unknown one is UNAUTHENTICATED. The caller's record goes into the call's user state for quotas.</summary>
public sealed class ApiKeyInterceptor(IApiKeyStore keys, GatewayResilience resilience, IOptions<GatewayOptions> options) : Interceptor
{
    private const string CallerKey = "alisa.api-key";

    public static ApiKeyRecord Caller(ServerCallContext context) =>
        context.UserState.TryGetValue(CallerKey, out var caller) ? (ApiKeyRecord)caller : ApiKeyRecord.Anonymous;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        await AuthenticateAsync(context);
        return await continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AuthenticateAsync(context);
        await continuation(request, responseStream, context);
    }

    private async Task AuthenticateAsync(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue("authorization");
        if (header is null)
        {
            if (options.Value.RequireApiKey) throw Unauthenticated("missing header 'authorization: Bearer <api key>'");
            return;
        }
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            throw Unauthenticated("the authorization header must be 'Bearer <api key>'");
        var key = header[7..].Trim();
        var record = await resilience.Redis.ExecuteAsync(async token => await keys.FindAsync(key, token), context.CancellationToken)
            ?? throw Unauthenticated("unknown API key");
        context.UserState[CallerKey] = record;
    }

    private static RpcException Unauthenticated(string message) => new(new Status(StatusCode.Unauthenticated, message));
}
