using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AlisaCluster.ClusterTesting;

/// <summary>A throw-away certificate authority for Orleans mutual TLS (Cluster:Tls): its ca.crt and member certificates
/// it signs, written as PEM (or PKCS#12) files in a temporary folder that disposing deletes.</summary>
public sealed class ClusterCertificates : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("alisa-cluster-tls-").FullName;
    private readonly X509Certificate2 _ca;

    public ClusterCertificates(string caName = "alisa-test-ca")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={caName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        CaPath = Write($"{caName}.crt", _ca.ExportCertificatePem());
    }

    public string CaPath { get; }

    /// <summary>A member certificate signed by this CA, for both TLS server and client use, as PEM files.</summary>
    public Member Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = Sign(new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256));
        return new Member(Write($"{name}.crt", certificate.ExportCertificatePem()), Write($"{name}.key", key.ExportPkcs8PrivateKeyPem()));
    }

    /// <summary>A member certificate with its key as a PKCS#12 file protected by <paramref name="password"/>.</summary>
    public string IssuePkcs12(string name, string password)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = Sign(new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256));
        using var withKey = certificate.CopyWithPrivateKey(key);
        var path = Path.Combine(_folder, $"{name}.pfx");
        File.WriteAllBytes(path, withKey.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    /// <summary>The Cluster:Tls settings of <paramref name="member"/>, trusting this CA unless told another.</summary>
    public Dictionary<string, string?> Settings(Member member, string? caPath = null) => new()
    {
        ["Cluster:Tls:Enabled"] = "true", ["Cluster:Tls:CertificatePath"] = member.CertificatePath,
        ["Cluster:Tls:KeyPath"] = member.KeyPath, ["Cluster:Tls:CaPath"] = caPath ?? CaPath,
    };

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private X509Certificate2 Sign(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // serverAuth, clientAuth
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        return request.Create(_ca, notBefore, notBefore.AddDays(1), RandomNumberGenerator.GetBytes(8));
    }

    private string Write(string name, string pem)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, pem + "\n");
        return path;
    }

    public sealed record Member(string CertificatePath, string KeyPath);
}
