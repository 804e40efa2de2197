using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using static AlisaCluster.ClusterTesting.InProcessCluster;

namespace AlisaCluster.Gateway.Tests.Health;

/// <summary>HTTP health and Prometheus metrics on the HTTP port; grpc.health.v1 and server reflection on the gRPC
/// port (neither needs an API key, so probes and grpcurl work).</summary>
[Collection(DevClusterCollection.Name)]
public sealed class ObservabilityTests(DevClusterFixture fixture)
{
    [Fact]
    public async Task Http_health_endpoints_report_live_and_ready()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Cluster.HttpPort}") };
        Assert.Equal("Healthy", await http.GetStringAsync("/health/live"));
        Assert.Equal("Healthy", await http.GetStringAsync("/health/ready"));
    }

    [Fact]
    public async Task Metrics_use_vllm_style_names_and_count_a_request()
    {
        await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(
            new GenerateRequest { Text = "In the beginning", SamplingParams = new Protos.SamplingParams { MaxTokens = 6, IgnoreEos = true } },
            WithKey(DevClusterFixture.TesterKey)));
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        string metrics;
        do metrics = await http.GetStringAsync($"http://127.0.0.1:{fixture.Cluster.HttpPort}/metrics");
        while (!metrics.Contains("alisa_kv_cache_usage_perc{") && DateTime.UtcNow < deadline);
        foreach (var name in new[]
        {
            "alisa_num_requests_running", "alisa_num_requests_waiting", "alisa_time_to_first_token_seconds_bucket",
            "alisa_inter_token_latency_seconds_bucket", "alisa_e2e_request_latency_seconds_bucket", "alisa_prompt_tokens_total",
            "alisa_generation_tokens_total", "alisa_kv_cache_usage_perc{", "alisa_request_success_total{finished_reason=\"length\"}",
        })
            Assert.Contains(name, metrics);
        var generated = metrics.Split('\n').Single(l => l.StartsWith("alisa_generation_tokens_total "));
        Assert.True(double.Parse(generated.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= 6);
    }

    [Fact]
    public async Task Failure_metric_counts_streams_refused_before_they_start()
    {
        using var http = new HttpClient();
        async Task<double> FailedAsync(string code)
        {
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{fixture.Cluster.HttpPort}/metrics");
            var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith($"alisa_request_failure_total{{code=\"{code}\"}} "));
            return line is null ? 0 : double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        async Task<StatusCode> RefusedAsync(GenerateRequest request, string key)
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
                await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(request, WithKey(key))));
            return error.StatusCode;
        }
        var codes = new[] { StatusCode.Unauthenticated, StatusCode.InvalidArgument, StatusCode.AlreadyExists };
        var before = await Task.WhenAll(codes.Select(c => FailedAsync(c.ToString())));

        var valid = new GenerateRequest { Text = "In the beginning", SamplingParams = new Protos.SamplingParams { MaxTokens = 2 } };
        Assert.Equal(StatusCode.Unauthenticated, await RefusedAsync(valid, "no-such-key"));
        Assert.Equal(StatusCode.InvalidArgument, await RefusedAsync(new GenerateRequest(valid) { SamplingParams = new Protos.SamplingParams { TopP = 2 } }, DevClusterFixture.TesterKey));
        var reused = new GenerateRequest(valid) { RequestId = "metric-" + Guid.NewGuid().ToString("N") };
        await StreamResult.ReadAsync(fixture.Cluster.Client().Generate(reused, WithKey(DevClusterFixture.TesterKey)));
        Assert.Equal(StatusCode.AlreadyExists, await RefusedAsync(reused, DevClusterFixture.TesterKey));

        var after = await Task.WhenAll(codes.Select(c => FailedAsync(c.ToString())));
        for (int i = 0; i < codes.Length; i++) Assert.True(after[i] >= before[i] + 1, $"{codes[i]}: {before[i]} -> {after[i]}");
    }

    [Fact]
    public async Task Grpc_health_is_serving_and_reflection_lists_the_service()
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.Cluster.GrpcPort}");
        var health = await new global::Grpc.Health.V1.Health.HealthClient(channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        using var reflection = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo();
        await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await reflection.RequestStream.CompleteAsync();
        Assert.True(await reflection.ResponseStream.MoveNext(CancellationToken.None));
        var services = reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("alisa.v1.Generation", services);
        Assert.Contains("grpc.health.v1.Health", services);
    }
}
