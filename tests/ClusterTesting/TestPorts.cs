using System.Net;
using System.Net.Sockets;

namespace AlisaCluster.ClusterTesting;

public static class TestPorts
{
    /// <summary>A port that was free a moment ago (tests run in parallel, so never a fixed one).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
