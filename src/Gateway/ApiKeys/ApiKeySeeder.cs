using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.ApiKeys;

/// <summary>Writes the keys listed in Gateway:ApiKeys to the key store at startup, then keeps them there: every
/// Gateway:ApiKeyReseedInterval a key the store lacks (Redis restarted without its data) is written back, so the
/// configured keys recover without a human. A store that is down at startup does not stop the gateway.</summary>
public sealed class ApiKeySeeder(IApiKeyStore keys, IOptions<GatewayOptions> options, ILogger<ApiKeySeeder> logger) : BackgroundService
{
    private bool _seeded;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var seed in options.Value.ApiKeys)
            if (string.IsNullOrWhiteSpace(seed.Name) || string.IsNullOrWhiteSpace(seed.Key))
                throw new ArgumentException("every Gateway:ApiKeys entry needs a Name and a Key");
        await SeedAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.ApiKeys.Length == 0) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await Task.Delay(options.Value.ApiKeyReseedInterval, stoppingToken); }
            catch (OperationCanceledException) { break; }
            await SeedAsync(stoppingToken);
        }
    }

    private async Task SeedAsync(CancellationToken cancellationToken)
    {
        try
        {
            foreach (var seed in options.Value.ApiKeys)
            {
                var record = new ApiKeyRecord(seed.Name, seed.MaxInFlight, seed.TokensPerMinute);
                // at startup the configuration wins; later only missing keys are written back
                if (!_seeded) await keys.AddAsync(seed.Key, record, cancellationToken);
                else if (await keys.AddIfMissingAsync(seed.Key, record, cancellationToken))
                    logger.LogWarning("API key {Name} was missing from the key store and was written back", seed.Name);
            }
            _seeded = true;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("API keys not seeded yet: {Error}", e.Message);
        }
    }
}
