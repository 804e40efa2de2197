using System.Net;
using AlisaCluster.ClusterTesting;

namespace AlisaCluster.Gateway.Tests.OpenAi;

/// <summary>With no worker silo able to take a sequence (the only one is draining for shutdown) a completion is 503.</summary>
public sealed class NoWorkerTests
{
    [Fact]
    public async Task Completion_without_a_worker_is_503()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:MaxResumes"] = "1", ["Gateway:ResumeDelay"] = "00:00:00.1",
        });
        using var http = new OpenAiHttp(cluster.HttpPort);
        var (status, _, _) = await http.SendAsync("/v1/completions", """{"prompt": "hi", "max_tokens": 2}""", key: null);
        Assert.Equal(HttpStatusCode.OK, status);

        await cluster.Engines.DrainAsync(TimeSpan.Zero, CancellationToken.None);
        var (drained, body, _) = await http.SendAsync("/v1/completions", """{"prompt": "hi", "max_tokens": 2}""", key: null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, drained);
        Assert.Equal("service_unavailable", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("worker", body.GetProperty("error").GetProperty("message").GetString());
    }
}
