using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Silo.Extensions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace AlisaCluster.Cli.Commands;

/// <summary>alisa silo / alisa gateway: the worker silo and the gRPC gateway, built exactly as their own programs build
/// them, for machines that carry only the packed CLI (the GPU machine, scripts/two-gpu-cluster.sh). Every option is a
/// configuration key ("--Cluster:Redis 127.0.0.1:6379"); anything else is refused.</summary>
public static class HostCommands
{
    public static async Task<int> RunSiloAsync(CommandLine args)
    {
        var settings = args.ConfigurationArgs();
        args.RejectUnknown();
        var builder = Host.CreateApplicationBuilder(settings);
        builder.AddAlisaSilo();
        await builder.Build().RunAsync();
        return 0;
    }

    public static async Task<int> RunGatewayAsync(CommandLine args)
    {
        var settings = args.ConfigurationArgs();
        args.RejectUnknown();
        var builder = WebApplication.CreateBuilder(settings);
        builder.AddAlisaGateway();
        var app = builder.Build();
        app.MapAlisaGateway();
        await app.RunAsync();
        return 0;
    }
}
