using System.Security.Cryptography.X509Certificates;
using AlisaCluster.Gateway;
using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Grains.Engines;
using AlisaCluster.Protos;
using AlisaCluster.Silo.Extensions;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AlisaCluster.ClusterTesting;

/// <summary>A real cluster inside the test process: optionally a worker silo (localhost clustering unless a Redis
/// connection string is given) and a gateway with real Kestrel on loopback ports, each built by the same extension
/// methods their programs use.</summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    private readonly IHost? _silo;
    private readonly WebApplication _gateway;
    private readonly GrpcChannel _channel;

    private readonly Func<HttpMessageHandler> _handler;
    private readonly string _scheme;

    private InProcessCluster(IHost? silo, WebApplication gateway, int grpcPort, int httpPort, X509Certificate2? serverCertificate)
    {
        _silo = silo; _gateway = gateway; GrpcPort = grpcPort; HttpPort = httpPort;
        _scheme = serverCertificate is null ? "http" : "https";
        // with TLS, trust exactly the gateway's certificate
        _handler = () => new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == serverCertificate?.GetCertHashString() },
        };
        _channel = GrpcChannel.ForAddress($"{_scheme}://127.0.0.1:{grpcPort}", new GrpcChannelOptions { HttpHandler = _handler() });
    }

    public int GrpcPort { get; }
    public int HttpPort { get; }
    public IServiceProvider Gateway => _gateway.Services;
    public EngineHost Engines => (_silo ?? throw new InvalidOperationException("no in-process silo")).Services.GetRequiredService<EngineHost>();

    public Generation.GenerationClient Client() => new(_channel);

    /// <summary>An HTTP client for the gateway's HTTP port (health, metrics), TLS when the gateway has a certificate.</summary>
    public HttpClient Http() => new(_handler()) { BaseAddress = new Uri($"{_scheme}://127.0.0.1:{HttpPort}") };

    /// <summary>For calls the generated client cannot make, e.g. hand-encoded request bytes.</summary>
    public CallInvoker CallInvoker() => _channel.CreateCallInvoker();

    public static CallOptions WithKey(string key, CancellationToken cancellationToken = default) =>
        new(new Metadata { { "authorization", $"Bearer {key}" } }, cancellationToken: cancellationToken);

    /// <param name="withSilo">false: only the gateway (the silos run elsewhere, e.g. as <see cref="SiloProcess"/>es)</param>
    public static async Task<InProcessCluster> StartAsync(IReadOnlyDictionary<string, string?> settings, bool withSilo = true)
    {
        int grpcPort = FreePorts.Next(), httpPort = FreePorts.Next();
        var all = WithDefaults(settings, new() { ["Gateway:GrpcPort"] = $"{grpcPort}", ["Gateway:HttpPort"] = $"{httpPort}" });

        var silo = withSilo ? await StartSiloHostAsync(all) : null;
        var gatewayBuilder = WebApplication.CreateBuilder();
        gatewayBuilder.Configuration.AddInMemoryCollection(all);
        gatewayBuilder.AddAlisaGateway();
        var gateway = gatewayBuilder.Build();
        gateway.MapAlisaGateway();
        await gateway.StartAsync();
        var tls = new GatewayTls { CertificatePath = all.GetValueOrDefault("Gateway:Tls:CertificatePath") ?? "", KeyPath = all.GetValueOrDefault("Gateway:Tls:KeyPath") ?? "" };
        var cluster = new InProcessCluster(silo, gateway, grpcPort, httpPort, tls.Load());
        await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        return cluster;
    }

    /// <summary>A worker silo alone in this process, e.g. another member of a Redis cluster, on free ports unless
    /// <paramref name="settings"/> name them.</summary>
    public static Task<IHost> StartSiloAsync(IReadOnlyDictionary<string, string?> settings) => StartSiloHostAsync(WithDefaults(settings));

    private static Dictionary<string, string?> WithDefaults(IReadOnlyDictionary<string, string?> settings, Dictionary<string, string?>? more = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Cluster:SiloPort"] = $"{FreePorts.Next()}", ["Cluster:GatewayPort"] = $"{FreePorts.Next()}",
            ["Worker:Model"] = RepoPaths.TinyModel, ["Worker:KvCapacityTokens"] = "4096", ["Worker:Threads"] = "1",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in (more ?? []).Concat(settings)) all[key] = value;
        return all;
    }

    private static async Task<IHost> StartSiloHostAsync(IReadOnlyDictionary<string, string?> all)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(all);
        builder.AddAlisaSilo();
        var silo = builder.Build();
        await silo.StartAsync();
        return silo;
    }

    /// <summary>Waits for /health/ready: the gateway sees a worker silo.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = Http();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the gateway never became ready");
            await Task.Delay(200);
        }
    }

    public async Task StopSiloAsync()
    {
        if (_silo is not null) await _silo.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _gateway.StopAsync();
        await _gateway.DisposeAsync();
        if (_silo is not null)
        {
            await _silo.StopAsync();
            _silo.Dispose();
        }
    }
}
