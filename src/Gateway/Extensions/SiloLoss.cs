using AlisaCluster.Grains;
using Orleans.Networking.Shared;
using Orleans.Runtime;

namespace AlisaCluster.Gateway.Extensions;

/// <summary>Which failures of a grain call mean "that silo is gone or leaving" (so the work may move to another
/// silo), as opposed to a refusal of the request itself.</summary>
public static class SiloLoss
{
    public static bool IsSiloLoss(Exception e) => e switch
    {
        SequenceRejectedException => false,
        OrleansException or EnumerationAbortedException or SocketConnectionException or TimeoutException => true,
        SequenceHandoverException or NoWorkerAvailableException => true,
        _ => false,
    };
}
