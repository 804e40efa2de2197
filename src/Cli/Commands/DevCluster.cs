using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Silo.Extensions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace AlisaCluster.Cli.Commands;

/// <summary>A single-node dev cluster in this process: one worker silo (localhost clustering, the bundled model) and
/// one gateway (in-memory sessions and keys), each built exactly as their own programs build them.</summary>
public sealed class DevCluster : IAsyncDisposable
{
    private readonly IHost _silo;
    private readonly WebApplication _gateway;

    private DevCluster(IHost silo, WebApplication gateway, int grpcPort, int httpPort)
    {
        _silo = silo; _gateway = gateway; GrpcPort = grpcPort; HttpPort = httpPort;
    }

    /// <summary>A key the dev cluster accepts (keys stay optional there): the OpenAI SDKs always send one.</summary>
    public const string DemoApiKey = "alisa-demo-key";

    public int GrpcPort { get; }
    public int HttpPort { get; }
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";

    /// <param name="fixedPorts">the documented ports (gRPC 50051, HTTP 8080, Orleans 11111/30000) instead of free ones</param>
    public static async Task<DevCluster> StartAsync(bool fixedPorts, IReadOnlyDictionary<string, string?> settings)
    {
        int siloPort = fixedPorts ? 11111 : FreePorts.Next(), gatewayPort = fixedPorts ? 30000 : FreePorts.Next();
        int grpcPort = fixedPorts ? 50051 : FreePorts.Next(), httpPort = fixedPorts ? 8080 : FreePorts.Next();
        var common = new Dictionary<string, string?>(settings)
        {
            ["Cluster:SiloPort"] = $"{siloPort}", ["Cluster:GatewayPort"] = $"{gatewayPort}",
            ["Gateway:GrpcPort"] = $"{grpcPort}", ["Gateway:HttpPort"] = $"{httpPort}",
            ["Logging:LogLevel:Default"] = "Warning", ["Logging:LogLevel:Orleans"] = "Error",
            ["Gateway:ApiKeys:0:Name"] = "demo", ["Gateway:ApiKeys:0:Key"] = DemoApiKey,
        };
        var siloBuilder = Host.CreateApplicationBuilder();
        siloBuilder.Configuration.AddInMemoryCollection(common);
        siloBuilder.AddAlisaSilo();
        var silo = siloBuilder.Build();
        await silo.StartAsync();

        var gatewayBuilder = WebApplication.CreateBuilder();
        gatewayBuilder.Configuration.AddInMemoryCollection(common);
        gatewayBuilder.AddAlisaGateway();
        var gateway = gatewayBuilder.Build();
        gateway.MapAlisaGateway();
        await gateway.StartAsync();
        return new DevCluster(silo, gateway, grpcPort, httpPort);
    }

    public Task WaitForShutdownAsync() => _gateway.WaitForShutdownAsync();

    public async ValueTask DisposeAsync()
    {
        await _gateway.StopAsync();
        await _silo.StopAsync();
        await _gateway.DisposeAsync();
        _silo.Dispose();
    }
}
