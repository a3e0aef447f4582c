//! Certificates made at test time: a private CA and a server certificate.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType};
use std::sync::Arc;

/// A CA plus a server identity signed by it (PEM).
#[derive(Clone)]
pub struct TlsIdentity {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// The server certificate's subject in `--spice-host-subject` form.
    pub subject: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// CA "Sumac Test CA" and a server certificate for 127.0.0.1 / localhost
    /// (with SANs unless `cn_only`, which mimics QEMU/libvirt certificates).
    pub fn generate(cn_only: bool) -> Result<Self> {
        let ca_key = KeyPair::generate().context("CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Sumac Test CA");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).context("CA self-sign")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().context("server key")?;
        let mut params = CertificateParams::new(Vec::<String>::new()).context("server params")?;
        if !cn_only {
            params.subject_alt_names = vec![
                SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
                SanType::DnsName("localhost".try_into().context("dns name")?),
            ];
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "XX");
        dn.push(DnType::OrganizationName, "Sumac Tests");
        dn.push(DnType::CommonName, "127.0.0.1");
        params.distinguished_name = dn;
        let cert = params.signed_by(&key, &issuer).context("server sign")?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            subject: "C=XX,O=Sumac Tests,CN=127.0.0.1".into(),
        })
    }

    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let certs = rustls_pemfile::certs(&mut self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("server cert PEM")?;
        let key = rustls_pemfile::private_key(&mut self.key_pem.as_bytes())
            .context("server key PEM")?
            .context("no private key")?;
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("server certificate")?;
        Ok(Arc::new(cfg))
    }
}
