using System.Diagnostics;

namespace AlisaCluster.Gateway.Metrics;

/// <summary>Records one stream's latencies and its waiting/running state into <see cref="GatewayMetrics"/>.</summary>
public sealed class RequestTimer : IDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _lastToken;

    public RequestTimer() => GatewayMetrics.RequestsWaiting.Inc();

    public void Token()
    {
        var now = _clock.Elapsed;
        if (_lastToken is { } last) GatewayMetrics.InterTokenLatency.Observe((now - last).TotalSeconds);
        else
        {
            GatewayMetrics.TimeToFirstToken.Observe(now.TotalSeconds);
            GatewayMetrics.RequestsWaiting.Dec();
            GatewayMetrics.RequestsRunning.Inc();
        }
        _lastToken = now;
        GatewayMetrics.GenerationTokens.Inc();
    }

    public void Finished(string reason)
    {
        GatewayMetrics.E2eLatency.Observe(_clock.Elapsed.TotalSeconds);
        GatewayMetrics.RequestsSucceeded.WithLabels(reason).Inc();
    }

    public void Dispose()
    {
        if (_lastToken is null) GatewayMetrics.RequestsWaiting.Dec();
        else GatewayMetrics.RequestsRunning.Dec();
    }
}
