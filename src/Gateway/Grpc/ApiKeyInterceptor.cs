using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Authenticates "authorization: Bearer KEY" against the key store; a missing key (when keys are required) or
/// an unknown one is UNAUTHENTICATED; a key store that cannot answer (and has no cached record of the key) is
/// UNAVAILABLE. The caller's record goes into the call's user state for quotas.</summary>
public sealed class ApiKeyInterceptor(IApiKeyStore keys, IOptions<GatewayOptions> options) : Interceptor
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
        ApiKeyRecord? record;
        try { record = await keys.FindAsync(key, context.CancellationToken); }
        catch (RedisUnavailableException e) { throw new RpcException(new Status(StatusCode.Unavailable, e.Message)); }
        if (record is null) throw Unauthenticated("unknown API key");
        context.UserState[CallerKey] = record;
    }

    private static RpcException Unauthenticated(string message) => new(new Status(StatusCode.Unauthenticated, message));
}
