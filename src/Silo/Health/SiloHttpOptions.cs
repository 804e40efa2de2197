namespace AlisaCluster.Silo.Health;

/// <summary>The "Silo" configuration section: the silo's own HTTP endpoint for probes and Prometheus.</summary>
public sealed class SiloHttpOptions
{
    public const string Section = "Silo";

    /// <summary>Port of /health/live, /health/ready and /metrics; 0 = no HTTP endpoint (dev clusters, tests).</summary>
    public int HttpPort { get; set; }
    /// <summary>An engine step running longer than this means a hung device: the silo reports itself not live.</summary>
    public TimeSpan EngineStallTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
