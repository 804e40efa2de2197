using System.Security.Cryptography.X509Certificates;

namespace AlisaCluster.Gateway;

/// <summary>The "Gateway:Tls" section: the server certificate of both gateway ports (e.g. mounted from a Kubernetes
/// TLS Secret as tls.crt + tls.key). Without a certificate the ports serve cleartext (h2c and HTTP/1.1).</summary>
public sealed class GatewayTls
{
    /// <summary>A PEM certificate (with KeyPath) or a PKCS#12 file (with Password if it has one).</summary>
    public string CertificatePath { get; set; } = "";
    /// <summary>The PEM private key of a PEM certificate.</summary>
    public string KeyPath { get; set; } = "";
    public string Password { get; set; } = "";

    public X509Certificate2? Load()
    {
        if (string.IsNullOrWhiteSpace(CertificatePath)) return null;
        if (!File.Exists(CertificatePath)) throw new FileNotFoundException($"Gateway:Tls:CertificatePath '{CertificatePath}' does not exist", CertificatePath);
        if (!string.IsNullOrWhiteSpace(KeyPath)) return X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
        return X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, string.IsNullOrEmpty(Password) ? null : Password);
    }
}
