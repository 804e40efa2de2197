using System.Net;
using System.Net.Sockets;

namespace AlisaCluster.Silo.Extensions;

/// <summary>Ports for a cluster on one machine that picks its own (the dev cluster, tests running side by side).</summary>
public static class FreePorts
{
    // below Linux's ephemeral range (32768-60999): a port the kernel picks for bind(0) is one it also hands to outgoing
    // connections, so one of them (this process's or another's) could take it before our server binds it
    private const int First = 20000, Last = 32000;
    private static readonly HashSet<int> Given = [];

    /// <summary>A port nothing listened on a moment ago, never handed out before in this process, outside the range
    /// of ports the kernel gives outgoing connections.</summary>
    public static int Next()
    {
        lock (Given)
        {
            for (int attempt = 0; attempt < 1000; attempt++)
            {
                int port = Random.Shared.Next(First, Last);
                if (Given.Contains(port) || !Bindable(port)) continue;
                Given.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"no free port in [{First}, {Last}) after 1000 tries");
    }

    /// <summary>Whether a server could listen on the port on every address (IPv4 and IPv6: silos listen on [::]).</summary>
    private static bool Bindable(int port)
    {
        try
        {
            using var socket = Socket.OSSupportsIPv6
                ? new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true }
                : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, port));
            socket.Listen();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
