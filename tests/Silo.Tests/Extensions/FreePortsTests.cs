using System.Net;
using System.Net.Sockets;
using AlisaCluster.Silo.Extensions;

namespace AlisaCluster.Silo.Tests.Extensions;

public sealed class FreePortsTests
{
    [Fact]
    public void Ports_are_distinct_listenable_and_below_the_kernels_ephemeral_range()
    {
        var ephemeralFirst = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0]);
        var ports = Enumerable.Range(0, 50).Select(_ => FreePorts.Next()).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, p => Assert.InRange(p, 1024, ephemeralFirst - 1));
        foreach (var port in ports.Take(5))
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
        }
    }
}
