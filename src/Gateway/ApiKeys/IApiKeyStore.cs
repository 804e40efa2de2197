using System.Security.Cryptography;
using System.Text;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>An API key's identity and quotas (0 = the gateway's default); the key itself is stored only as its SHA-256.</summary>
public sealed record ApiKeyRecord(string Name, int MaxInFlight, int TokensPerMinute = 0)
{
    /// <summary>The caller when API keys are not required and none was given.</summary>
    public static readonly ApiKeyRecord Anonymous = new("anonymous", 0);

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}

public interface IApiKeyStore
{
    Task<ApiKeyRecord?> FindAsync(string key, CancellationToken cancellationToken);

    /// <summary>Writes the key (replacing its record).</summary>
    Task AddAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken);

    /// <summary>Writes the key only when the store lacks it (an operator's later edits stay); true when written.</summary>
    Task<bool> AddIfMissingAsync(string key, ApiKeyRecord record, CancellationToken cancellationToken);
}
