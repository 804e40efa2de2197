using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Writes the keys listed in Gateway:ApiKeys to the key store at startup.</summary>
public sealed class ApiKeySeeder(IApiKeyStore keys, IOptions<GatewayOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var seed in options.Value.ApiKeys)
        {
            if (string.IsNullOrWhiteSpace(seed.Name) || string.IsNullOrWhiteSpace(seed.Key))
                throw new ArgumentException("every Gateway:ApiKeys entry needs a Name and a Key");
            await keys.AddAsync(seed.Key, new ApiKeyRecord(seed.Name, seed.MaxInFlight), cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
