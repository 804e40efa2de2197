using AlisaCluster.ClusterTesting;
using AlisaCluster.Grains.Hosting;
using AlisaCluster.Protos;
using AlisaCluster.Silo.Extensions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace AlisaCluster.Silo.Tests;

/// <summary>With Cluster:Tls:Enabled the Orleans ports speak mutual TLS: silos holding certificates of the cluster CA
/// form one cluster and the gateway streams through them, while an Orleans client in cleartext or with a certificate of
/// another CA never gets a connection (so it cannot bypass the gateway's keys and quotas).</summary>
public sealed class ClusterTlsTests : IDisposable
{
    private readonly ClusterCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task Two_silos_and_the_gateway_with_cluster_certificates_serve_over_mutual_tls()
    {
        var clusterId = "tls-" + Guid.NewGuid().ToString("N")[..8];
        await using var redis = await RedisServer.StartAsync();
        Dictionary<string, string?> Member(string name) => new(_certificates.Settings(_certificates.Issue(name)))
        {
            ["Cluster:Redis"] = redis.ConnectionString, ["Cluster:ClusterId"] = clusterId, ["Cluster:ServiceId"] = clusterId,
        };
        using var siloB = await InProcessCluster.StartSiloAsync(Member("silo-b"));
        // silo A and the gateway: joining means silo A reached silo B, and ready means the gateway reached a silo
        await using var cluster = await InProcessCluster.StartAsync(Member("silo-a-and-gateway"));

        var result = await StreamResult.ReadAsync(cluster.Client().Generate(new GenerateRequest
        {
            Tokenized = new TokenIds { Ids = { 1, 450, 1002, 310, 278, 3303 } },
            SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = 5, IgnoreEos = true },
        }));
        Assert.Equal(5, result.Complete.Usage.CompletionTokens);

        // the management grain asks every silo for its statistics: messages from one silo to the other
        var management = cluster.Gateway.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
        var silos = (await management.GetHosts(onlyActive: true)).Keys.ToArray();
        Assert.Equal(2, silos.Length);
        Assert.Equal(2, (await management.GetRuntimeStatistics(silos)).Length);
        await siloB.StopAsync();
    }

    [Fact]
    public async Task An_orleans_client_without_a_certificate_of_the_cluster_ca_cannot_connect()
    {
        var gatewayPort = FreePorts.Next();
        using var silo = await InProcessCluster.StartSiloAsync(new Dictionary<string, string?>(_certificates.Settings(_certificates.Issue("silo")))
        {
            ["Cluster:GatewayPort"] = $"{gatewayPort}", ["Cluster:ClusterId"] = "tls", ["Cluster:ServiceId"] = "tls",
        });

        // the control: the same client with a cluster certificate connects and calls a grain
        using (var member = await ConnectAsync(gatewayPort, _certificates.Settings(_certificates.Issue("client"))))
        {
            Assert.Single(await member.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true));
            await member.StopAsync();
        }

        await Assert.ThrowsAsync<ConnectionFailedException>(() => ConnectAsync(gatewayPort, new Dictionary<string, string?>()));
        using var otherCa = new ClusterCertificates("other-ca");
        // the stranger trusts both CAs, so it would accept the silo; the silo does not accept the stranger
        var bothCas = Path.Combine(Path.GetDirectoryName(otherCa.CaPath)!, "both-cas.crt");
        File.WriteAllText(bothCas, File.ReadAllText(otherCa.CaPath) + File.ReadAllText(_certificates.CaPath));
        var stranger = otherCa.Settings(otherCa.Issue("stranger"), bothCas);
        await Assert.ThrowsAsync<ConnectionFailedException>(() => ConnectAsync(gatewayPort, stranger));
        await silo.StopAsync();
    }

    /// <summary>A bare Orleans client of the localhost cluster at <paramref name="gatewayPort"/>, with mutual TLS as the
    /// gateway configures it when <paramref name="settings"/> enable it, that gives up at the first failed connection.</summary>
    private static async Task<IHost> ConnectAsync(int gatewayPort, IReadOnlyDictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var tls = builder.Configuration.GetSection(ClusterTlsSettings.Section).Get<ClusterTlsSettings>() ?? new ClusterTlsSettings();
        var trust = tls.Enabled ? tls.Load() : null;
        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering(gatewayPort, "tls", "tls");
            if (trust is not null) client.UseTls(trust.Configure);
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync();
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }
}
