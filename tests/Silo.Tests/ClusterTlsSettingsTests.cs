using AlisaCluster.ClusterTesting;
using AlisaCluster.Gateway.Extensions;
using AlisaCluster.Grains.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace AlisaCluster.Silo.Tests;

/// <summary>Cluster:Tls switched on but misconfigured stops the silo and the gateway at start, naming the setting to
/// fix, instead of a member that runs but whose every connection fails.</summary>
public sealed class ClusterTlsSettingsTests : IDisposable
{
    private readonly ClusterCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task A_silo_with_a_missing_certificate_file_exits_at_start_naming_the_setting()
    {
        var member = _certificates.Issue("silo");
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => SiloProcess.StartAsync("127.0.0.1:1", "tls-missing",
            new Dictionary<string, string> { ["Cluster:Tls:Enabled"] = "true", ["Cluster:Tls:CertificatePath"] = member.CertificatePath,
                ["Cluster:Tls:KeyPath"] = "/nonexistent/tls.key", ["Cluster:Tls:CaPath"] = _certificates.CaPath }));
        Assert.Contains("Cluster:Tls:KeyPath '/nonexistent/tls.key' does not exist", failed.Message);
    }

    [Fact]
    public void A_gateway_with_a_wrong_pkcs12_password_fails_at_start_naming_the_setting()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:Tls:Enabled"] = "true", ["Cluster:Tls:CertificatePath"] = _certificates.IssuePkcs12("gateway", "right"),
            ["Cluster:Tls:Password"] = "wrong", ["Cluster:Tls:CaPath"] = _certificates.CaPath,
        });
        var failed = Assert.Throws<InvalidOperationException>(builder.AddAlisaGateway);
        Assert.StartsWith("Cluster:Tls:Password does not open Cluster:Tls:CertificatePath", failed.Message);
    }

    [Fact]
    public void A_pkcs12_certificate_with_its_password_loads()
    {
        var path = _certificates.IssuePkcs12("member", "secret");
        var trust = new ClusterTlsSettings { Enabled = true, CertificatePath = path, Password = "secret", CaPath = _certificates.CaPath }.Load();
        Assert.True(trust.Certificate.HasPrivateKey);
    }

    [Fact]
    public void A_certificate_the_configured_ca_did_not_sign_is_refused_naming_the_ca_setting()
    {
        using var otherCa = new ClusterCertificates("other-ca");
        var member = otherCa.Issue("member");
        var settings = new ClusterTlsSettings { Enabled = true, CertificatePath = member.CertificatePath, KeyPath = member.KeyPath, CaPath = _certificates.CaPath };
        var failed = Assert.Throws<InvalidOperationException>(() => settings.Load());
        Assert.StartsWith("Cluster:Tls:CaPath", failed.Message);
    }

    [Fact]
    public void A_key_of_another_certificate_is_refused_naming_the_key_setting()
    {
        var member = _certificates.Issue("member");
        var other = _certificates.Issue("other");
        var settings = new ClusterTlsSettings { Enabled = true, CertificatePath = member.CertificatePath, KeyPath = other.KeyPath, CaPath = _certificates.CaPath };
        var failed = Assert.Throws<InvalidOperationException>(() => settings.Load());
        Assert.StartsWith($"Cluster:Tls:KeyPath '{other.KeyPath}' is not the PEM private key of Cluster:Tls:CertificatePath", failed.Message);
    }

    [Fact]
    public void Switched_on_without_files_names_the_empty_setting()
    {
        var failed = Assert.Throws<InvalidOperationException>(() => new ClusterTlsSettings { Enabled = true }.Load());
        Assert.Equal("Cluster:Tls:CaPath is empty, but Cluster:Tls:Enabled is true", failed.Message);
    }

    [Fact]
    public void A_member_certificate_pinned_as_CaPath_is_trusted_and_no_other()
    {
        var member = _certificates.Issue("member");
        var pinned = new ClusterTlsSettings { Enabled = true, CertificatePath = member.CertificatePath, KeyPath = member.KeyPath, CaPath = member.CertificatePath }.Load();
        var sibling = _certificates.Issue("sibling");
        var signedBySameCa = new ClusterTlsSettings { Enabled = true, CertificatePath = sibling.CertificatePath, KeyPath = sibling.KeyPath, CaPath = _certificates.CaPath }.Load();
        Assert.True(pinned.Trusts(pinned.Certificate));
        Assert.False(pinned.Trusts(signedBySameCa.Certificate));
        Assert.True(signedBySameCa.Trusts(pinned.Certificate));
    }
}
