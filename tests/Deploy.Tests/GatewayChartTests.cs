using static AlisaCluster.Deploy.Tests.Manifests;

namespace AlisaCluster.Deploy.Tests;

/// <summary>The chart's side of the gateway's reliability settings: TLS from a Secret, per-key token budgets, and
/// NetworkPolicies that keep the unauthenticated Orleans ports and Redis to the release's own silos and gateways.</summary>
public sealed class GatewayChartTests
{
    private const string Gateway = "test-alisa-gateway";

    private static Dictionary<object, object> GatewayContainer(Manifests m) => Container(m.Get("Deployment", Gateway), "gateway");

    private static string? GrpcAppProtocol(Manifests m) =>
        Yaml.List(m.Get("Service", Gateway), "spec", "ports").Cast<Dictionary<object, object>>().Single(p => (string)p["name"] == "grpc")
            .GetValueOrDefault("appProtocol") as string;

    [Fact]
    public void A_TLS_secret_puts_both_gateway_ports_on_TLS_and_the_probes_on_HTTPS()
    {
        var plain = Helm.Template();
        Assert.Null(EnvValue(GatewayContainer(plain), "Gateway__Tls__CertificatePath"));
        Assert.Equal("HTTP", Yaml.Text(GatewayContainer(plain), "readinessProbe", "httpGet", "scheme"));
        Assert.Equal("kubernetes.io/h2c", GrpcAppProtocol(plain));

        var tls = Helm.Template("--set", "gateway.tls.secretName=gw-tls", "--set", "metrics.serviceMonitor.enabled=true");
        var container = GatewayContainer(tls);
        Assert.Equal("/tls/tls.crt", EnvValue(container, "Gateway__Tls__CertificatePath"));
        Assert.Equal("/tls/tls.key", EnvValue(container, "Gateway__Tls__KeyPath"));
        var mount = Yaml.List(container, "volumeMounts").Cast<Dictionary<object, object>>().Single(v => (string)v["name"] == "tls");
        Assert.Equal("/tls", mount["mountPath"]);
        var volumes = Yaml.List(tls.Get("Deployment", Gateway), "spec", "template", "spec", "volumes").Cast<Dictionary<object, object>>();
        Assert.Equal("gw-tls", Yaml.Text(volumes.Single(v => (string)v["name"] == "tls"), "secret", "secretName"));
        foreach (var probe in new[] { "livenessProbe", "readinessProbe" }) Assert.Equal("HTTPS", Yaml.Text(container, probe, "httpGet", "scheme"));
        Assert.Null(GrpcAppProtocol(tls));
        Assert.Equal("https", Yaml.Text(tls.Get("ServiceMonitor", Gateway), "spec", "endpoints", 0, "scheme"));
        Assert.Null(Yaml.Text(tls.Get("ServiceMonitor", "test-alisa-silo"), "spec", "endpoints", 0, "scheme"));
    }

    [Fact]
    public void Token_budgets_reach_the_gateway_per_key_and_by_default()
    {
        var m = Helm.Template("--set", "gateway.tokensPerMinutePerKey=50000", "--set", "gateway.apiKeys[0].name=team-a",
            "--set", "gateway.apiKeys[0].secretName=keys", "--set", "gateway.apiKeys[0].secretKey=team-a",
            "--set", "gateway.apiKeys[0].tokensPerMinute=90000");
        var container = GatewayContainer(m);
        Assert.Equal("50000", EnvValue(container, "Gateway__TokensPerMinutePerKey"));
        Assert.Equal("90000", EnvValue(container, "Gateway__ApiKeys__0__TokensPerMinute"));
        Assert.NotEqual(0, Helm.TryTemplate("--set", "gateway.tokensPerMinutePerKey=-1").ExitCode);
    }

    [Fact]
    public void Network_policies_admit_only_the_releases_silos_and_gateways_to_Orleans_and_Redis()
    {
        var m = Helm.Template();
        var silo = m.Get("NetworkPolicy", "test-alisa-silo");
        var orleans = Yaml.At(silo, "spec", "ingress", 0);
        Assert.Equal(["orleans-gw", "silo"], Yaml.List(orleans, "ports").Select(p => Yaml.Text(p, "port")!).Order());
        Assert.Equal("http", Yaml.Text(silo, "spec", "ingress", 1, "ports", 0, "port"));
        Assert.Null(Yaml.At(silo, "spec", "ingress", 1, "from"));   // probes and scrapes from anywhere

        // the admitted peers are exactly the silo and gateway pods of this release
        var peers = Yaml.At(orleans, "from", 0, "podSelector");
        var redisPeers = Yaml.At(m.Get("NetworkPolicy", "test-alisa-redis"), "spec", "ingress", 0, "from", 0, "podSelector");
        Assert.Equal(Yaml.Scalars(peers), Yaml.Scalars(redisPeers));
        bool Admitted(string kind, string name)
        {
            var labels = (Dictionary<object, object>)Yaml.At(m.Get(kind, name), "spec", "template", "metadata", "labels")!;
            var names = Yaml.List(peers, "matchExpressions", 0, "values").Cast<string>();
            return Yaml.Text(peers, "matchLabels", "app.kubernetes.io/instance") == (string)labels["app.kubernetes.io/instance"]
                && names.Contains((string)labels["app.kubernetes.io/name"]);
        }
        Assert.True(Admitted("StatefulSet", "test-alisa-silo"));
        Assert.True(Admitted("Deployment", Gateway));
        Assert.False(Admitted("StatefulSet", "test-alisa-redis"));

        var external = Helm.Template("--set", "redis.enabled=false", "--set", "redis.external.existingSecret=ext");
        Assert.Equal(["test-alisa-silo"], external.OfKind("NetworkPolicy").Select(p => Yaml.Text(p, "metadata", "name")!));
        Assert.Empty(Helm.Template("--set", "networkPolicy.enabled=false").OfKind("NetworkPolicy"));
    }
}
