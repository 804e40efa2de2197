using AlisaCluster.Gateway.Extensions;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Checks an "Authorization: Bearer KEY" header against the key store (cached and resilient in a cluster:
/// <see cref="CachedApiKeyStore"/>), for the gRPC and the HTTP API alike.</summary>
public sealed class ApiKeyAuthenticator(IApiKeyStore keys, IOptions<GatewayOptions> options)
{
    /// <summary>The caller's record (<see cref="ApiKeyRecord.Anonymous"/> when keys are optional and none was given);
    /// throws <see cref="ApiKeyRejectedException"/> for a missing, malformed or unknown key, and
    /// <see cref="RedisUnavailableException"/> when the store cannot answer and has no cached record of the key.</summary>
    public async Task<ApiKeyRecord> AuthenticateAsync(string? header, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(header))
            return options.Value.RequireApiKey ? throw new ApiKeyRejectedException("missing header 'authorization: Bearer <api key>'") : ApiKeyRecord.Anonymous;
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            throw new ApiKeyRejectedException("the authorization header must be 'Bearer <api key>'");
        return await keys.FindAsync(header[7..].Trim(), cancellationToken) ?? throw new ApiKeyRejectedException("unknown API key");
    }
}

/// <summary>The call carries no valid API key.</summary>
public sealed class ApiKeyRejectedException(string message) : Exception(message);
