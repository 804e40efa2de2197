using System.Net;
using System.Text;
using Microsoft.Extensions.Options;

namespace AlisaCluster.Silo.Health;

/// <summary>The silo's HTTP endpoint on Silo:HttpPort: /health/live (503 when an engine step hangs), /health/ready
/// (503 while starting, draining or stalled) and /metrics (Prometheus text). A plain HttpListener: the silo is a
/// generic host and needs no web stack for three read-only paths.</summary>
public sealed class SiloHttpServer(EngineHealth health, SiloMetrics metrics, IOptions<SiloHttpOptions> options, ILogger<SiloHttpServer> logger)
    : BackgroundService
{
    private readonly HttpListener _listener = new();

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // started before the silo, so probes get answers while the model loads; a taken port stops the silo at once
        _listener.Prefixes.Add($"http://+:{options.Value.HttpPort}/");
        _listener.Start();
        logger.LogInformation("silo HTTP endpoint on port {Port}: /health/live, /health/ready, /metrics", options.Value.HttpPort);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var stop = stoppingToken.Register(_listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) when (stoppingToken.IsCancellationRequested) { break; }
            _ = Task.Run(() => AnswerAsync(context, stoppingToken), CancellationToken.None);
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        var response = context.Response;
        try
        {
            switch (context.Request.Url?.AbsolutePath)
            {
                case "/health/live":
                    var live = health.Check();
                    await WriteTextAsync(response, live.Live ? 200 : 503, live.Detail);
                    break;
                case "/health/ready":
                    var ready = health.Check();
                    await WriteTextAsync(response, ready.Ready ? 200 : 503, ready.Detail);
                    break;
                case "/metrics":
                    response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    await metrics.ExportAsync(response.OutputStream, cancellationToken);
                    break;
                default:
                    await WriteTextAsync(response, 404, "not found: the silo serves /health/live, /health/ready and /metrics");
                    break;
            }
        }
        catch (Exception error) when (error is HttpListenerException or IOException or OperationCanceledException)
        {
            logger.LogDebug(error, "silo HTTP answer not delivered");
        }
        finally
        {
            response.Close();
        }
    }

    private static async Task WriteTextAsync(HttpListenerResponse response, int status, string text)
    {
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        await response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(text + "\n"));
    }

    public override void Dispose()
    {
        _listener.Close();
        base.Dispose();
    }
}
