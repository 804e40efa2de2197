using AlisaCluster.Gateway.Metrics;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Counts every generate stream that ends with an error status in alisa_request_failure_total, whichever
/// stage refused it: authentication, validation, admission, or the stream itself. It is the outermost interceptor,
/// so nothing that fails a call escapes it.</summary>
public sealed class FailureMetricsInterceptor : Interceptor
{
    // Generate is the service's only server-streaming method
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (RpcException e)
        {
            GatewayMetrics.RequestsFailed.WithLabels(e.StatusCode.ToString()).Inc();
            throw;
        }
        catch (Exception)
        {
            GatewayMetrics.RequestsFailed.WithLabels(nameof(StatusCode.Unknown)).Inc();
            throw;
        }
    }
}
