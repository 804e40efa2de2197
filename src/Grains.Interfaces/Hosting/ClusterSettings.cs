namespace AlisaCluster.Grains.Hosting;

/// <summary>The "Cluster" configuration section, shared by silos and gateways: with a Redis connection string the
/// members find each other through Redis; without one it is a single-machine dev cluster on localhost.</summary>
public sealed class ClusterSettings
{
    public const string Section = "Cluster";

    public string ClusterId { get; set; } = "alisa";
    public string ServiceId { get; set; } = "alisa";
    /// <summary>StackExchange.Redis connection string ("localhost:6379"); empty = localhost clustering.</summary>
    public string Redis { get; set; } = "";
    public int SiloPort { get; set; } = 11111;
    /// <summary>The silo's Orleans gateway port, where clients (the gRPC gateway) connect.</summary>
    public int GatewayPort { get; set; } = 30000;
    /// <summary>The address other members reach this silo at (the pod IP in Kubernetes); empty = 127.0.0.1.</summary>
    public string AdvertisedIp { get; set; } = "";

    /// <summary>Mutual TLS on the Orleans ports (Cluster:Tls:Enabled); off = cleartext.</summary>
    public ClusterTlsSettings Tls { get; set; } = new();

    public bool UsesRedis => !string.IsNullOrWhiteSpace(Redis);
}
