using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AlisaCluster.ClusterTesting;
using AlisaCluster.Protos;
using Grpc.Core;
using Grpc.Net.Client;

namespace AlisaCluster.Gateway.Tests.Grpc;

/// <summary>With Gateway:Tls set (a PEM certificate and key, as a Kubernetes TLS Secret mounts them), both gateway
/// ports speak TLS: a stream and /health/ready work over TLS, and a cleartext client is refused.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("alisa-tls-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task The_gateway_serves_grpc_and_http_over_tls_and_refuses_cleartext()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        var certPath = Path.Combine(_folder, "tls.crt");
        var keyPath = Path.Combine(_folder, "tls.key");
        await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Tls:CertificatePath"] = certPath, ["Gateway:Tls:KeyPath"] = keyPath,
        });
        var result = await StreamResult.ReadAsync(cluster.Client().Generate(new GenerateRequest
        {
            Text = "In the beginning", SamplingParams = new SamplingParams { Temperature = 0, MaxTokens = 5, IgnoreEos = true },
        }));
        Assert.Equal(5, result.Complete.Usage.CompletionTokens);
        using var http = cluster.Http();
        Assert.Equal("Healthy", await http.GetStringAsync("/health/ready"));

        using var cleartext = GrpcChannel.ForAddress($"http://127.0.0.1:{cluster.GrpcPort}");
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Generation.GenerationClient(cleartext).GetModelInfoAsync(new GetModelInfoRequest()));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
    }
}
