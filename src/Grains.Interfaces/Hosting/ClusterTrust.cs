using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace AlisaCluster.Grains.Hosting;

/// <summary>This member's certificate and the certificates it trusts (from <see cref="ClusterTlsSettings"/>), and the
/// Orleans TLS options built from them, the same for silos and the gateway.</summary>
public sealed class ClusterTrust(X509Certificate2 certificate, X509Certificate2Collection trusted)
{
    public X509Certificate2 Certificate { get; } = certificate;

    /// <summary>True when <paramref name="remote"/> is a pinned certificate or chains to a trusted CA. Only the cluster's
    /// own CA counts (a certificate the machine's public roots would trust is refused), and host names are not checked:
    /// membership in the cluster is what the CA vouches for, and members connect by pod IP.</summary>
    public bool Trusts(X509Certificate2 remote, X509Chain? presented = null)
    {
        if (trusted.Any(t => t.RawDataMemory.Span.SequenceEqual(remote.RawDataMemory.Span))) return true;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // intermediates the peer sent along
        if (presented is not null)
            foreach (var element in presented.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        return chain.Build(remote);
    }

    /// <summary>Mutual TLS both ways: as a server (silo and gateway ports) the member demands a client certificate, as a
    /// client (silo to silo, gateway to silo) it demands the server's and always presents its own.</summary>
    public void Configure(TlsOptions options)
    {
        options.LocalCertificate = Certificate;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // SslStream would otherwise offer the client certificate only if its issuer is among the CAs a server lists
        // (when it lists any): then the silo would get none and close the connection right after the handshake
        options.LocalClientCertificateSelector = (_, _, _, _, _) => Certificate;
        // replaces the default check against the machine's roots (which would never trust a private CA)
        options.RemoteCertificateValidation = (remote, chain, _) => Trusts(remote, chain);
    }
}
