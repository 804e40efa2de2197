using static AlisaCluster.Deploy.Tests.Manifests;

namespace AlisaCluster.Deploy.Tests;

/// <summary>cluster.tls turns on mutual TLS on the Orleans ports: the silos and the gateways mount the cluster certificate
/// Secret and get the Cluster:Tls settings pointing at it; off by default.</summary>
public sealed class ClusterTlsChartTests
{
    private static IEnumerable<Dictionary<object, object>> Members(Manifests m) =>
    [
        Container(m.Get("StatefulSet", "test-alisa-silo"), "silo"),
        Container(m.Get("Deployment", "test-alisa-gateway"), "gateway"),
    ];

    [Fact]
    public void Cluster_tls_mounts_the_secret_in_silos_and_gateways_and_switches_it_on()
    {
        foreach (var container in Members(Helm.Template()))
            Assert.Null(EnvValue(container, "Cluster__Tls__Enabled"));

        var m = Helm.Template("--set", "cluster.tls.enabled=true", "--set", "cluster.tls.secretName=orleans-mtls");
        foreach (var container in Members(m))
        {
            Assert.Equal("true", EnvValue(container, "Cluster__Tls__Enabled"));
            Assert.Equal("/cluster-tls/tls.crt", EnvValue(container, "Cluster__Tls__CertificatePath"));
            Assert.Equal("/cluster-tls/tls.key", EnvValue(container, "Cluster__Tls__KeyPath"));
            Assert.Equal("/cluster-tls/ca.crt", EnvValue(container, "Cluster__Tls__CaPath"));
            var mount = Yaml.List(container, "volumeMounts").Cast<Dictionary<object, object>>().Single(v => (string)v["name"] == "cluster-tls");
            Assert.Equal("/cluster-tls", mount["mountPath"]);
        }
        foreach (var (kind, name) in new[] { ("StatefulSet", "test-alisa-silo"), ("Deployment", "test-alisa-gateway") })
        {
            var volumes = Yaml.List(m.Get(kind, name), "spec", "template", "spec", "volumes").Cast<Dictionary<object, object>>();
            Assert.Equal("orleans-mtls", Yaml.Text(volumes.Single(v => (string)v["name"] == "cluster-tls"), "secret", "secretName"));
        }
    }

    [Fact]
    public void Cluster_tls_without_a_secret_is_refused()
    {
        var result = Helm.TryTemplate("--set", "cluster.tls.enabled=true");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("cluster.tls.secretName is required", result.Error);
        Assert.NotEqual(0, Helm.TryTemplate("--set", "cluster.tls.enable=true", "--set", "cluster.tls.secretName=x").ExitCode);
    }
}
