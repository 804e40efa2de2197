using AlisaCluster.Gateway.ApiKeys;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Gateway.Admission;

/// <summary>Back-pressure: caps the streams in flight on this gateway, in total and per API key.</summary>
public sealed class InFlightLimiter(IOptions<GatewayOptions> options)
{
    private readonly object _lock = new();
    private readonly Dictionary<string, int> _perKey = [];
    private int _total;

    public int InFlight { get { lock (_lock) return _total; } }

    /// <summary>A lease to dispose when the stream ends, or null with the reason when a limit is reached.</summary>
    public IDisposable? TryAcquire(ApiKeyRecord key, out string reason)
    {
        var gateway = options.Value;
        int keyLimit = key.MaxInFlight > 0 ? key.MaxInFlight : gateway.MaxInFlightPerKey;
        lock (_lock)
        {
            int ofKey = _perKey.GetValueOrDefault(key.Name);
            reason = _total >= gateway.MaxInFlight ? $"the gateway has {_total} requests in flight (limit {gateway.MaxInFlight})"
                : ofKey >= keyLimit ? $"API key '{key.Name}' has {ofKey} requests in flight (limit {keyLimit})" : "";
            if (reason.Length > 0) return null;
            _total++;
            _perKey[key.Name] = ofKey + 1;
        }
        return new Lease(this, key.Name);
    }

    private void Release(string keyName)
    {
        lock (_lock)
        {
            _total--;
            if (--_perKey[keyName] == 0) _perKey.Remove(keyName);
        }
    }

    private sealed class Lease(InFlightLimiter limiter, string keyName) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) limiter.Release(keyName);
        }
    }
}
