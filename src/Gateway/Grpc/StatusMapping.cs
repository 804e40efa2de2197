using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Gateway.Streaming;
using AlisaCluster.Grains;
using Grpc.Core;
using Polly.Timeout;
using StackExchange.Redis;

namespace AlisaCluster.Gateway.Grpc;

/// <summary>Turns the cluster's failures into gRPC statuses with clear messages.</summary>
public static class StatusMapping
{
    public static RpcException ToRpc(Exception e, CancellationToken callCancelled) => e switch
    {
        RpcException rpc => rpc,
        _ when callCancelled.IsCancellationRequested => Rpc(StatusCode.Cancelled, "the client cancelled the call"),
        SequenceRejectedException { ExceedsCapacity: true } r => Rpc(StatusCode.ResourceExhausted, $"{r.Field}: {r.Message}"),
        SequenceRejectedException r => Rpc(StatusCode.InvalidArgument, $"{r.Field}: {r.Message}"),
        StreamLostException => Rpc(StatusCode.Unavailable, e.Message),
        KeyNotFoundException => Rpc(StatusCode.NotFound, e.Message),
        StreamCorruptedException => Rpc(StatusCode.Internal, e.Message),
        TimeoutRejectedException => Rpc(StatusCode.Unavailable, "the cluster did not answer in time"),
        RedisUnavailableException => Rpc(StatusCode.Unavailable, e.Message),
        RedisException => Rpc(StatusCode.Unavailable, $"the session store (Redis) is unavailable: {e.Message}"),
        _ when SiloLoss.IsSiloLoss(e) => Rpc(StatusCode.Unavailable, $"no worker silo could serve the call: {e.Message}"),
        _ => Rpc(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}"),
    };

    private static RpcException Rpc(StatusCode code, string message) => new(new Status(code, message));
}
