using AlisaCluster.Gateway.Admission;
using AlisaCluster.Gateway.ApiKeys;
using AlisaCluster.Gateway.ChatTemplates;
using AlisaCluster.Gateway.Grpc;
using AlisaCluster.Gateway.Health;
using AlisaCluster.Gateway.Models;
using AlisaCluster.Gateway.OpenAi;
using AlisaCluster.Gateway.Sessions;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace AlisaCluster.Gateway.Extensions;

public static class GatewayServiceExtensions
{
    /// <summary>What --help prints: the gateway's settings with their defaults (of the Cluster section, what an
    /// Orleans client reads).</summary>
    public static string Help => SettingsHelp.Describe(
        "The gateway: gRPC and the OpenAI-compatible API in front of the worker silos, an Orleans client of their cluster.",
        new SettingsSection(ClusterSettings.Section, new ClusterSettings(), nameof(ClusterSettings.Redis), nameof(ClusterSettings.ClusterId),
            nameof(ClusterSettings.ServiceId), nameof(ClusterSettings.Tls)),
        new SettingsSection(GatewayOptions.Section, new GatewayOptions()));

    /// <summary>Everything the gateway serves: gRPC on Gateway:GrpcPort (HTTP/2), health, metrics and the OpenAI-compatible
    /// API on Gateway:HttpPort; both over TLS when Gateway:Tls:CertificatePath is set.</summary>
    public static WebApplicationBuilder AddAlisaGateway(this WebApplicationBuilder builder)
    {
        var gateway = builder.Configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();
        var cluster = builder.Configuration.GetSection(ClusterSettings.Section).Get<ClusterSettings>() ?? new ClusterSettings();
        builder.Services.Configure<GatewayOptions>(builder.Configuration.GetSection(GatewayOptions.Section));
        var certificate = gateway.Tls.Load();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenAnyIP(gateway.GrpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (certificate is not null) listen.UseHttps(certificate);
            });
            kestrel.ListenAnyIP(gateway.HttpPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (certificate is not null) listen.UseHttps(certificate);
            });
        });
        builder.AddAlisaOrleansClient(cluster);
        builder.Services.AddAlisaStores(cluster);

        builder.Services.AddSingleton<GatewayResilience>();
        builder.Services.AddSingleton<InFlightLimiter>();
        builder.Services.AddSingleton<CapacityAdmission>();
        builder.Services.AddSingleton<TokenBudget>();
        builder.Services.AddSingleton<ModelCatalog>();
        builder.Services.AddSingleton<SequenceStreamer>();
        builder.Services.AddSingleton<GenerationPipeline>();
        builder.Services.AddSingleton<SequenceAborter>();
        builder.Services.AddSingleton<ApiKeyAuthenticator>();
        builder.Services.AddSingleton<ChatPrompts>();
        builder.Services.AddSingleton<CompletionHandler>();
        builder.Services.AddSingleton<SessionTracker>();
        builder.Services.AddSingleton<ClusterLoadMonitor>();
        builder.Services.AddHostedService(s => s.GetRequiredService<ClusterLoadMonitor>());

        builder.Services.AddGrpc().AddServiceOptions<GenerationService>(o =>
        {
            o.Interceptors.Add<FailureMetricsInterceptor>();
            o.Interceptors.Add<ApiKeyInterceptor>();
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck<ClusterReadyHealthCheck>("cluster", tags: ["ready"]);
        return builder;
    }
}
