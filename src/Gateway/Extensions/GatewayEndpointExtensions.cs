using AlisaCluster.Gateway.Grpc;
using AlisaCluster.Gateway.OpenAi;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Prometheus;

namespace AlisaCluster.Gateway.Extensions;

public static class GatewayEndpointExtensions
{
    public static WebApplication MapAlisaGateway(this WebApplication app)
    {
        app.MapGrpcService<GenerationService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        // live: the process answers; ready: a worker silo is there to serve
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
        app.MapMetrics();
        app.MapOpenAi();
        return app;
    }
}
