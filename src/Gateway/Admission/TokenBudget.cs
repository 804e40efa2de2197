using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.Extensions;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Admission;

/// <summary>Per-key token-rate budgets beside the in-flight caps: each admitted stream charges its prompt + max_tokens
/// to its key's count for the current minute, kept in the budget store (Redis: one count for all gateways); past the
/// key's TokensPerMinute the stream is refused RESOURCE_EXHAUSTED. While the store is unreachable budgets are not
/// enforced (the outage must not stop serving), which is logged.</summary>
public sealed class TokenBudget(ITokenBudgetStore store, GatewayResilience resilience, IOptions<GatewayOptions> options, ILogger<TokenBudget> logger)
{
    /// <summary>The refusal's trailer with the seconds until the next minute's budget (the HTTP API's Retry-After).</summary>
    public const string RetryAfterTrailer = "retry-after";

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    public async Task ChargeAsync(ApiKeyRecord key, int tokens, CancellationToken cancellationToken)
    {
        int budget = key.TokensPerMinute > 0 ? key.TokensPerMinute : options.Value.TokensPerMinutePerKey;
        if (budget <= 0) return;
        var now = DateTimeOffset.UtcNow;
        long window = now.ToUnixTimeSeconds() / (long)Window.TotalSeconds;
        try
        {
            long used = await resilience.RedisAsync("token budget store", token => store.AddAsync(key.Name, window, tokens, Window * 2, token), cancellationToken);
            if (used <= budget) return;
            await resilience.RedisAsync("token budget store", token => store.AddAsync(key.Name, window, -tokens, Window * 2, token), CancellationToken.None);
            int retryIn = (int)Math.Ceiling(Window.TotalSeconds - now.ToUnixTimeSeconds() % (long)Window.TotalSeconds);
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"API key '{key.Name}' would use {used} tokens this minute, over its budget of {budget} (prompt + max_tokens count); retry in {retryIn} s"),
                new Metadata { { RetryAfterTrailer, retryIn.ToString() } });
        }
        catch (RedisUnavailableException e)
        {
            logger.LogWarning("token budget of {Name} not enforced: {Error}", key.Name, e.Message);
        }
    }
}

/// <summary>Where the per-minute token counts live: Redis in a cluster (shared by the gateways), memory in dev mode.</summary>
public interface ITokenBudgetStore
{
    /// <summary>Adds <paramref name="tokens"/> (negative to give back) to the key's count of <paramref name="window"/>
    /// and returns the new count; the count expires after <paramref name="ttl"/>.</summary>
    Task<long> AddAsync(string keyName, long window, int tokens, TimeSpan ttl, CancellationToken cancellationToken);
}
