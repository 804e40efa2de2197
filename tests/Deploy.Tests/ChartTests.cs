using System.Globalization;
using static AlisaCluster.Deploy.Tests.Manifests;

namespace AlisaCluster.Deploy.Tests;

/// <summary>helm/alisa-cluster rendered by helm v4 for the default and the production values, with the objects
/// asserted: what a cluster would run, not just that the templates render.</summary>
public sealed class ChartTests
{
    private const string Silo = "test-alisa-silo", Gateway = "test-alisa-gateway", Redis = "test-alisa-redis";

    private static readonly System.Text.RegularExpressions.Regex Credential = new(@"PASSWORD|TOKEN|__Key$|^Cluster__Redis$|AUTH");
    private static readonly System.Text.RegularExpressions.Regex InlinePassword = new(@"password=(?!\$\(REDIS_PASSWORD\))", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    private static readonly string[][] ValueSets = [[], ["-f", Helm.ProductionValues]];

    private static Dictionary<object, object> SiloContainer(Manifests m) => Container(m.Get("StatefulSet", Silo), "silo");

    private static double GiB(string quantity) => quantity.EndsWith("Gi", StringComparison.Ordinal)
        ? double.Parse(quantity[..^2], CultureInfo.InvariantCulture)
        : throw new FormatException($"memory quantity '{quantity}' is not in Gi");

    [Fact]
    public void Lint_strict_passes_for_the_default_and_the_production_values()
    {
        foreach (var values in ValueSets)
        {
            var lint = Helm.Lint(values);
            Assert.True(lint.ExitCode == 0, $"helm lint --strict {string.Join(' ', values)}:\n{lint.Output}{lint.Error}");
        }
    }

    [Fact]
    public void Silos_request_their_GPUs_and_are_probed_over_HTTP_from_the_engine()
    {
        foreach (var gpus in new[] { 1, 2, 8 })
        {
            var silo = SiloContainer(Helm.Template("--set", $"silo.gpusPerPod={gpus}"));
            Assert.Equal($"{gpus}", Yaml.Text(silo, "resources", "limits", "nvidia.com/gpu"));
            Assert.Equal($"{gpus}", Yaml.Text(silo, "resources", "requests", "nvidia.com/gpu"));
            var devices = Env(silo).Keys.Where(k => k.StartsWith("Worker__Devices__", StringComparison.Ordinal)).Order().ToList();
            Assert.Equal(Enumerable.Range(0, gpus).Select(i => $"cuda:{i}").Order(), devices.Select(d => EnvValue(silo, d)).Order());
        }
        foreach (var values in ValueSets)
        {
            var m = Helm.Template(values);
            var silo = SiloContainer(m);
            Assert.Equal("/health/ready", Yaml.Text(silo, "readinessProbe", "httpGet", "path"));
            Assert.Equal("/health/live", Yaml.Text(silo, "livenessProbe", "httpGet", "path"));
            Assert.Equal("http", Yaml.Text(silo, "readinessProbe", "httpGet", "port"));
            Assert.DoesNotContain(Yaml.Scalars(m.Get("StatefulSet", Silo)), s => s.Path.Contains("tcpSocket"));
            var httpPort = Yaml.List(silo, "ports").Cast<Dictionary<object, object>>().Single(p => (string)p["name"] == "http")["containerPort"];
            Assert.Equal(httpPort, EnvValue(silo, "Silo__HttpPort"));
        }
    }

    [Fact]
    public void The_KV_pool_is_a_share_of_GPU_memory_unless_tokens_are_given()
    {
        var silo = SiloContainer(Helm.Template());
        Assert.Equal("0.9", EnvValue(silo, "Worker__GpuMemoryUtilization"));
        Assert.Equal("0", EnvValue(silo, "Worker__KvCapacityTokens"));
        var fixedPool = SiloContainer(Helm.Template("--set", "silo.kvCapacityTokens=65536", "--set", "silo.gpuMemoryUtilization=0.8"));
        Assert.Equal("65536", EnvValue(fixedPool, "Worker__KvCapacityTokens"));
        Assert.Equal("0.8", EnvValue(fixedPool, "Worker__GpuMemoryUtilization"));
        var refused = Helm.TryTemplate("--set", "silo.gpuMemoryUtilization=1.5");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("gpuMemoryUtilization", refused.Error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(59)]
    [InlineData(60)]
    [InlineData(3599)]
    [InlineData(3600)]
    [InlineData(86399)]
    [InlineData(86400)]
    [InlineData(90061)]
    [InlineData(1000000)]
    public void Drain_timeouts_render_as_TimeSpans_that_dotnet_parses_back(int seconds)
    {
        var m = Helm.Template("--set", $"silo.drainTimeoutSeconds={seconds}", "--set", $"silo.engineStallTimeoutSeconds={seconds + 1}");
        var silo = SiloContainer(m);
        Assert.Equal(TimeSpan.FromSeconds(seconds), TimeSpan.Parse(EnvValue(silo, "Worker__DrainTimeout")!, CultureInfo.InvariantCulture));
        Assert.Equal(TimeSpan.FromSeconds(seconds + 1), TimeSpan.Parse(EnvValue(silo, "Silo__EngineStallTimeout")!, CultureInfo.InvariantCulture));
        Assert.Equal($"{seconds + 30}", Yaml.Text(m.Get("StatefulSet", Silo), "spec", "template", "spec", "terminationGracePeriodSeconds"));
    }

    [Theory]
    [InlineData(0, 32, 8)]
    [InlineData(96, 32, 8)]
    [InlineData(200.5, 48, 16)]
    public void The_silo_memory_limit_covers_the_CPU_KV_tier_and_shm(double cpuKvGiB, int hostGiB, int shmGiB)
    {
        var silo = SiloContainer(Helm.Template("--set", $"silo.cpuKvMemoryGiB={cpuKvGiB.ToString(CultureInfo.InvariantCulture)}",
            "--set", $"silo.hostMemoryGiB={hostGiB}", "--set", $"silo.shmSizeGiB={shmGiB}"));
        double limit = GiB(Yaml.Text(silo, "resources", "limits", "memory")!);
        Assert.True(limit >= cpuKvGiB + hostGiB + shmGiB, $"memory limit {limit} GiB below the CPU tier {cpuKvGiB} + {hostGiB} + /dev/shm {shmGiB}");
        Assert.Equal(Yaml.Text(silo, "resources", "limits", "memory"), Yaml.Text(silo, "resources", "requests", "memory"));
        Assert.Equal(cpuKvGiB.ToString(CultureInfo.InvariantCulture), EnvValue(silo, "Worker__CpuKvMemoryGiB"));
    }

    [Fact]
    public void The_production_example_gives_the_silo_more_memory_than_its_CPU_tier()
    {
        var silo = SiloContainer(Helm.Template("-f", Helm.ProductionValues));
        double cpuTier = double.Parse(EnvValue(silo, "Worker__CpuKvMemoryGiB")!, CultureInfo.InvariantCulture);
        Assert.True(cpuTier >= 96);
        Assert.True(GiB(Yaml.Text(silo, "resources", "limits", "memory")!) > cpuTier);
    }

    [Fact]
    public void Secrets_are_referenced_never_inlined()
    {
        var bundled = Helm.Template("--set", $"redis.auth.existingSecret=my-redis", "--set", "gateway.apiKeys[0].name=team-a",
            "--set", "gateway.apiKeys[0].secretName=keys", "--set", "gateway.apiKeys[0].secretKey=team-a");
        Assert.Empty(bundled.OfKind("Secret"));   // an existing Secret: the chart makes none
        foreach (var (kind, name) in new[] { ("StatefulSet", Silo), ("Deployment", Gateway) })
        {
            var container = Container(bundled.Get(kind, name), name == Silo ? "silo" : "gateway");
            var env = Env(container);
            Assert.Equal("my-redis", Yaml.Text(env["REDIS_PASSWORD"], "valueFrom", "secretKeyRef", "name"));
            Assert.Equal("test-alisa-redis:6379,password=$(REDIS_PASSWORD),abortConnect=false", EnvValue(container, "Cluster__Redis"));
            // $(VAR) expands only from variables defined earlier in the list
            var names = env.Keys.ToList();
            Assert.True(names.IndexOf("REDIS_PASSWORD") < names.IndexOf("Cluster__Redis"));
        }
        var gatewayEnv = Env(Container(bundled.Get("Deployment", Gateway), "gateway"));
        Assert.Equal("keys", Yaml.Text(gatewayEnv["Gateway__ApiKeys__0__Key"], "valueFrom", "secretKeyRef", "name"));
        Assert.Equal("team-a", Yaml.Text(gatewayEnv["Gateway__ApiKeys__0__Key"], "valueFrom", "secretKeyRef", "key"));
        Assert.False(gatewayEnv["Gateway__ApiKeys__0__Key"].ContainsKey("value"));

        var redisArgs = Yaml.List(Container(bundled.Get("StatefulSet", Redis), "redis"), "args").Cast<string>().ToList();
        Assert.Equal("$(REDIS_PASSWORD)", redisArgs[redisArgs.IndexOf("--requirepass") + 1]);

        var external = Helm.Template("--set", "redis.enabled=false", "--set", "redis.external.existingSecret=ext-redis");
        Assert.DoesNotContain(external.OfKind("StatefulSet"), o => Yaml.Text(o, "metadata", "name") == Redis);
        var siloEnv = Env(SiloContainer(external));
        Assert.Equal("ext-redis", Yaml.Text(siloEnv["Cluster__Redis"], "valueFrom", "secretKeyRef", "name"));
        Assert.Equal("connectionString", Yaml.Text(siloEnv["Cluster__Redis"], "valueFrom", "secretKeyRef", "key"));

        // every credential-like variable of every container comes from a Secret; no password sits in a manifest
        foreach (var values in ValueSets)
        {
            var m = Helm.Template(values);
            foreach (var workload in m.OfKind("Deployment").Concat(m.OfKind("StatefulSet")))
                foreach (var container in Yaml.List(workload, "spec", "template", "spec", "containers").Cast<Dictionary<object, object>>())
                    foreach (var (name, entry) in Env(container).Where(e => Credential.IsMatch(e.Key)))
                        Assert.True(Yaml.At(entry, "valueFrom", "secretKeyRef") is not null || Yaml.Text(entry, "value")?.Contains("$(REDIS_PASSWORD)") == true,
                            $"{Yaml.Text(workload, "metadata", "name")}: {name} is not taken from a Secret");
            Assert.DoesNotContain(m.All.SelectMany(o => Yaml.Scalars(o)), s => InlinePassword.IsMatch(s.Value));
        }
        Assert.Empty(Helm.Template("-f", Helm.ProductionValues).OfKind("Secret"));
        var missing = Helm.TryTemplate("--set", "redis.enabled=false");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("redis.external.existingSecret is required", missing.Error);
    }

    [Fact]
    public void The_bundled_Redis_has_a_generated_password_AOF_on_a_volume_resources_and_a_PDB()
    {
        var m = Helm.Template();
        var secret = m.Get("Secret", Redis);
        var password = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(Yaml.Text(secret, "data", "password")!));
        Assert.Equal(32, password.Length);
        var redis = m.Get("StatefulSet", Redis);
        var args = Yaml.List(Container(redis, "redis"), "args").Cast<string>().ToList();
        Assert.Equal("yes", args[args.IndexOf("--appendonly") + 1]);
        Assert.Equal("everysec", args[args.IndexOf("--appendfsync") + 1]);
        Assert.Equal("data", Yaml.Text(redis, "spec", "volumeClaimTemplates", 0, "metadata", "name"));
        Assert.NotNull(Yaml.Text(Container(redis, "redis"), "resources", "limits", "memory"));
        Assert.Equal(Redis, Yaml.Text(m.Get("PodDisruptionBudget", Redis), "metadata", "name"));
        Assert.DoesNotContain(Yaml.Scalars(m.Get("StatefulSet", Silo)), s => s.Value.Contains(password));
    }

    [Fact]
    public void The_model_comes_from_the_image_a_volume_or_a_download()
    {
        var image = SiloContainer(Helm.Template());
        Assert.Equal("/opt/alisa/models/model", EnvValue(image, "Worker__Model"));

        var pvc = Helm.Template("--set", "model.source=pvc", "--set", "model.pvc.claimName=models", "--set", "model.pvc.path=opt-6.7b");
        Assert.Equal("/models/opt-6.7b", EnvValue(SiloContainer(pvc), "Worker__Model"));
        var volumes = Yaml.List(pvc.Get("StatefulSet", Silo), "spec", "template", "spec", "volumes").Cast<Dictionary<object, object>>();
        Assert.Equal("models", Yaml.Text(volumes.Single(v => (string)v["name"] == "models"), "persistentVolumeClaim", "claimName"));

        var download = Helm.Template("--set", "model.source=download", "--set", "model.download.url=https://hub.example/org/model",
            "--set", "model.download.tokenSecret.name=hub-token");
        var init = Yaml.List(download.Get("StatefulSet", Silo), "spec", "template", "spec", "initContainers").Cast<Dictionary<object, object>>().Single();
        Assert.Equal("https://hub.example/org/model", EnvValue(init, "MODEL_URL"));
        Assert.Equal("hub-token", Yaml.Text(Env(init)["MODEL_TOKEN"], "valueFrom", "secretKeyRef", "name"));
        Assert.Equal(EnvValue(init, "MODEL_DIR"), EnvValue(SiloContainer(download), "Worker__Model"));
        Assert.Contains("download-model.sh", (Dictionary<object, object>)Yaml.At(download.Get("ConfigMap", "test-alisa-model-download"), "data")!);

        Assert.Contains("model.download.url is required", Helm.TryTemplate("--set", "model.source=download").Error);
        Assert.Contains("model.pvc.claimName is required", Helm.TryTemplate("--set", "model.source=pvc").Error);
    }

    [Fact]
    public void Gateways_let_streams_end_before_they_stop_and_run_locked_down()
    {
        foreach (var values in ValueSets)
        {
            var m = Helm.Template(values);
            var gateway = m.Get("Deployment", Gateway);
            var container = Container(gateway, "gateway");
            int grace = int.Parse(Yaml.Text(gateway, "spec", "template", "spec", "terminationGracePeriodSeconds")!, CultureInfo.InvariantCulture);
            int preStop = int.Parse(Yaml.Text(container, "lifecycle", "preStop", "sleep", "seconds")!, CultureInfo.InvariantCulture);
            int shutdown = int.Parse(EnvValue(container, "DOTNET_shutdownTimeoutSeconds")!, CultureInfo.InvariantCulture);
            Assert.True(grace >= 600, $"grace period {grace} s is short for long streams");
            Assert.Equal(grace - preStop - 5, shutdown);
            foreach (var workload in m.OfKind("Deployment").Concat(m.OfKind("StatefulSet")))
            {
                var pod = Yaml.At(workload, "spec", "template", "spec");
                Assert.Equal("true", Yaml.Text(pod, "securityContext", "runAsNonRoot"));
                Assert.Equal("false", Yaml.Text(pod, "automountServiceAccountToken"));
                foreach (var c in Yaml.List(pod, "containers"))
                {
                    Assert.Equal("true", Yaml.Text(c, "securityContext", "readOnlyRootFilesystem"));
                    Assert.Equal("false", Yaml.Text(c, "securityContext", "allowPrivilegeEscalation"));
                }
            }
        }
    }

    [Fact]
    public void Production_values_enable_autoscaling_monitoring_and_spread()
    {
        var m = Helm.Template("-f", Helm.ProductionValues);
        Assert.Equal(["test-alisa-gateway", "test-alisa-silo"], m.OfKind("ServiceMonitor").Select(o => Yaml.Text(o, "metadata", "name")!).Order());
        var scaled = m.Get("ScaledObject", Silo);
        Assert.Equal("StatefulSet", Yaml.Text(scaled, "spec", "scaleTargetRef", "kind"));
        Assert.Contains("alisa_silo_requests_waiting", Yaml.Text(scaled, "spec", "triggers", 0, "metadata", "query"));
        Assert.Null(Yaml.At(m.Get("StatefulSet", Silo), "spec", "replicas"));   // KEDA owns it
        Assert.Equal("Deployment", Yaml.Text(m.Get("HorizontalPodAutoscaler", Gateway), "spec", "scaleTargetRef", "kind"));
        Assert.Null(Yaml.At(m.Get("Deployment", Gateway), "spec", "replicas"));
        var pod = Yaml.At(m.Get("StatefulSet", Silo), "spec", "template", "spec");
        Assert.Equal("nvidia", Yaml.Text(pod, "runtimeClassName"));
        Assert.Equal("DoNotSchedule", Yaml.Text(pod, "topologySpreadConstraints", 0, "whenUnsatisfiable"));
        var shm = Yaml.List(pod, "volumes").Cast<Dictionary<object, object>>().Single(v => (string)v["name"] == "dshm");
        Assert.Equal("Memory", Yaml.Text(shm, "emptyDir", "medium"));
        Assert.Equal("0.01:00:00", EnvValue(SiloContainer(m), "Worker__DrainTimeout"));
    }
}
