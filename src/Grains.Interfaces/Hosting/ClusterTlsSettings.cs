using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AlisaCluster.Grains.Hosting;

/// <summary>The "Cluster:Tls" section: mutual TLS on the Orleans ports (silo to silo, gateway to silo). Every member
/// presents its certificate and accepts only peers whose certificate the cluster CA signed, so a direct Orleans client
/// without a cluster certificate, which would bypass the gateway's API keys and quotas, cannot connect. Off = cleartext
/// (then keep the Orleans ports off any shared network).</summary>
public sealed class ClusterTlsSettings
{
    public const string Section = "Cluster:Tls";

    /// <summary>The one switch: with it on, the other settings must name readable files.</summary>
    public bool Enabled { get; set; }
    /// <summary>This member's certificate: PEM (with KeyPath, e.g. tls.crt of a Kubernetes TLS Secret) or PKCS#12.</summary>
    public string CertificatePath { get; set; } = "";
    /// <summary>The PEM private key of a PEM certificate (tls.key).</summary>
    public string KeyPath { get; set; } = "";
    /// <summary>The PKCS#12 file's password, or an encrypted PEM key's; empty = none.</summary>
    public string Password { get; set; } = "";
    /// <summary>PEM certificates a peer's certificate must chain to (ca.crt), or member certificates pinned as they are.</summary>
    public string CaPath { get; set; } = "";

    /// <summary>Loads and checks this member's certificate and the trusted CA, failing with the setting to fix.</summary>
    public ClusterTrust Load()
    {
        var trusted = LoadTrusted();
        var certificate = LoadCertificate();
        if (!certificate.HasPrivateKey)
            throw Invalid("CertificatePath", $"'{CertificatePath}' has no private key (PKCS#12 with the key, or a PEM certificate with {Section}:KeyPath)");
        if (certificate.NotAfter < DateTime.Now)
            throw Invalid("CertificatePath", $"'{CertificatePath}' expired on {certificate.NotAfter:u}");
        // every member is both a TLS server (its ports) and a TLS client (its outgoing connections)
        if (!AllowsUsage(certificate, "1.3.6.1.5.5.7.3.1") || !AllowsUsage(certificate, "1.3.6.1.5.5.7.3.2"))
            throw Invalid("CertificatePath", $"'{CertificatePath}' has an extended key usage without both serverAuth and clientAuth");
        var trust = new ClusterTrust(certificate, trusted);
        // the other members would refuse this one: say so now rather than with failed handshakes
        if (!trust.Trusts(certificate))
            throw Invalid("CaPath", $"'{CaPath}' does not trust this member's own certificate {Section}:CertificatePath '{CertificatePath}' ({certificate.Subject}, issued by {certificate.Issuer})");
        return trust;
    }

    private X509Certificate2Collection LoadTrusted()
    {
        RequireFile("CaPath", CaPath);
        var trusted = new X509Certificate2Collection();
        try { trusted.ImportFromPemFile(CaPath); }
        catch (CryptographicException e) { throw Invalid("CaPath", $"'{CaPath}' is not a PEM certificate file: {e.Message}", e); }
        if (trusted.Count == 0) throw Invalid("CaPath", $"'{CaPath}' holds no PEM certificate");
        return trusted;
    }

    private X509Certificate2 LoadCertificate()
    {
        RequireFile("CertificatePath", CertificatePath);
        var password = string.IsNullOrEmpty(Password) ? null : Password;
        if (!string.IsNullOrWhiteSpace(KeyPath))
        {
            RequireFile("KeyPath", KeyPath);
            try
            {
                return password is null
                    ? X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath)
                    : X509Certificate2.CreateFromEncryptedPemFile(CertificatePath, password, KeyPath);
            }
            // a key of another certificate is an ArgumentException, an unreadable one a CryptographicException
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                throw Invalid("KeyPath", $"'{KeyPath}' is not the PEM private key of {Section}:CertificatePath '{CertificatePath}'"
                    + (password is null ? "" : $" or {Section}:Password does not decrypt it") + $": {e.Message}", e);
            }
        }
        try { return X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, password); }
        catch (CryptographicException e)
        {
            throw Invalid("Password", $"does not open {Section}:CertificatePath '{CertificatePath}' as PKCS#12 (a PEM certificate needs {Section}:KeyPath): {e.Message}", e);
        }
    }

    private static void RequireFile(string setting, string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw Invalid(setting, $"is empty, but {Section}:Enabled is true");
        if (!File.Exists(path)) throw new FileNotFoundException($"{Section}:{setting} '{path}' does not exist", path);
    }

    private static InvalidOperationException Invalid(string setting, string problem, Exception? inner = null) =>
        new($"{Section}:{setting} {problem}", inner);

    /// <summary>No extended key usage extension means any usage.</summary>
    private static bool AllowsUsage(X509Certificate2 certificate, string oid)
    {
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().ToList();
        return usages.Count == 0 || usages.Any(u => u.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Any(o => o.Value == oid));
    }
}
