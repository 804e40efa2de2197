using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Authenticates "authorization: Bearer KEY" (<see cref="ApiKeyAuthenticator"/>); a missing key (when keys are
/// required) or an unknown one is UNAUTHENTICATED; a key store that cannot answer (and has no cached record of the key)
/// is UNAVAILABLE. The caller's record goes into the call's user state for quotas.</summary>
public sealed class ApiKeyInterceptor(ApiKeyAuthenticator authenticator) : Interceptor
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
        try
        {
            context.UserState[CallerKey] = await authenticator.AuthenticateAsync(context.RequestHeaders.GetValue("authorization"), context.CancellationToken);
        }
        catch (ApiKeyRejectedException e) { throw Unauthenticated(e.Message); }
        catch (RedisUnavailableException e) { throw new RpcException(new Status(StatusCode.Unavailable, e.Message)); }
    }

    private static RpcException Unauthenticated(string message) => new(new Status(StatusCode.Unauthenticated, message));
}
