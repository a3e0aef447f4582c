//! TLS for SPICE channels: the rustls client configuration and a server
//! certificate verifier with spice-gtk's semantics.
//!
//! The chain (CA, signatures, validity dates) is checked by webpki. The name
//! check is Sumac's own, because webpki refuses certificates that carry their
//! host name only in the subject CN, which QEMU and libvirt setups often do:
//! - with `host_subject` set, the certificate subject must equal it, RDN by RDN
//!   and with the same number of entries; the host name is then not checked;
//! - otherwise the host must match a SAN dNSName (a leftmost `*.` wildcard
//!   covers one label) or a SAN IP address, and the CN is consulted only when
//!   the certificate has no DNS or IP SAN at all.
//!
//! A refusal carries a [`CertVerifyError`] naming the reason (unknown CA,
//! expiry, host name, subject). It travels inside the rustls error; use
//! [`cert_error`] or [`describe_tls_error`] to get it back for the user.

mod subject;
#[cfg(test)]
mod tests;
mod verifier;

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{CertificateError, ClientConfig, OtherError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName, ServerName};
use thiserror::Error;

use super::config::{CaSource, ConnectionConfig};
pub use subject::{Subject, SubjectEntry, SubjectError};
use verifier::SpiceCertVerifier;

/// The system CA bundle used when no CA is configured (Debian layout).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Server name sent to rustls when the host is not a DNS name or an IP (a
/// Proxmox proxy ticket, say) and `host_subject` makes the name irrelevant.
const PLACEHOLDER_SERVER_NAME: &str = "spice-host.invalid";

/// What the verifier trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates; `None` means the system store.
    pub ca: Option<CaSource>,
    /// Expected subject (`C=XX,L=…,O=…,CN=…`); replaces the host-name check.
    pub host_subject: Option<String>,
}

impl TlsOptions {
    pub fn from_config(cfg: &ConnectionConfig) -> Self {
        Self {
            ca: cfg.ca.clone(),
            host_subject: cfg.host_subject.clone(),
        }
    }
}

/// Why a TLS client configuration could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    ReadCa { path: PathBuf, source: io::Error },
    #[error("the CA certificates in {origin} are not valid PEM ({detail}); give a PEM file with CERTIFICATE blocks")]
    BadCaPem { origin: String, detail: String },
    #[error("no usable CA certificate in {origin}; it must hold at least one PEM CERTIFICATE block")]
    NoCaCertificate { origin: String },
    #[error(
        "no CA certificate is configured and the system trust store {SYSTEM_CA_BUNDLE} is missing or empty; \
         give the server's CA with --spice-ca-file or the .vv `ca` key"
    )]
    NoTrustAnchors,
    #[error("invalid host-subject: {0}")]
    BadHostSubject(#[from] SubjectError),
    #[error(
        "`{host}` is neither a DNS name nor an IP address, so its certificate cannot be checked by name; \
         set host-subject to check the certificate subject instead"
    )]
    InvalidServerName { host: String },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Why the server certificate was refused. Shown to the user as is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertVerifyError {
    #[error(
        "the server certificate (issued by {issuer}) is not signed by a trusted CA; \
         give the right CA with --spice-ca-file or the .vv `ca` key"
    )]
    UnknownCa { issuer: String },
    #[error("the server certificate expired on {not_after}")]
    Expired { not_after: String },
    #[error("the server certificate is not valid before {not_before}; check the clocks")]
    NotYetValid { not_before: String },
    #[error(
        "hostname mismatch: certificate is for {}, not {host}; connect with one of its names or set host-subject",
        list_names(.presented)
    )]
    HostnameMismatch { host: String, presented: Vec<String> },
    #[error("subject mismatch: expected subject {expected}, certificate has {actual}")]
    SubjectMismatch { expected: String, actual: String },
    #[error("the server certificate has a bad signature")]
    BadSignature,
    #[error("the server certificate cannot be parsed: {detail}")]
    Unparsable { detail: String },
    #[error("the server certificate was refused: {reason}")]
    Rejected { reason: String },
}

fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        "no host name at all".to_owned()
    } else {
        names.join(", ")
    }
}

impl CertVerifyError {
    /// Wraps the verdict so it survives inside rustls' error (and gets the
    /// `certificate_unknown` alert sent to the server).
    fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(self))))
    }
}

/// Finds Sumac's certificate verdict in an error from a TLS handshake: a
/// [`CertVerifyError`], a `rustls::Error`, or an `io::Error` from tokio-rustls.
pub fn cert_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a CertVerifyError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<CertVerifyError>() {
            return Some(found);
        }
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
        {
            return other.0.downcast_ref::<CertVerifyError>();
        }
        current = match e.downcast_ref::<io::Error>() {
            // io::Error::source() skips the wrapped error itself; look at it directly.
            Some(io_err) => io_err
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A user-facing message for a failed TLS connection: the certificate verdict
/// when there is one, the error text otherwise.
pub fn describe_tls_error(err: &io::Error) -> String {
    match cert_error(err) {
        Some(verdict) => verdict.to_string(),
        None => err.to_string(),
    }
}

/// The rustls client configuration for SPICE channels: ring, TLS 1.2 and 1.3,
/// and the spice-gtk compatible verifier.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    build_client_config(opts, Path::new(SYSTEM_CA_BUNDLE))
}

fn build_client_config(opts: &TlsOptions, system_bundle: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = load_roots(opts.ca.as_ref(), system_bundle)?;
    let subject = match opts.host_subject.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(Subject::parse(s)?),
        _ => None,
    };
    let verifier = SpiceCertVerifier {
        roots: Arc::new(roots),
        subject,
        provider: Arc::clone(&provider),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The rustls server name for `host`: an IP address or a DNS name. An IPv6
/// zone id (`fe80::1%eth0`) is dropped.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let unzoned = host.split_once('%').map_or(host, |(addr, _)| addr);
    if let Ok(ip) = unzoned.parse::<IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    DnsName::try_from(host.to_owned())
        .map(ServerName::DnsName)
        .map_err(|_| TlsError::InvalidServerName { host: host.to_owned() })
}

/// Like [`server_name`], but a host that is not a valid name is accepted when
/// `opts.host_subject` is set, since the subject check does not use it.
pub fn server_name_for(host: &str, opts: &TlsOptions) -> Result<ServerName<'static>, TlsError> {
    match server_name(host) {
        Ok(name) => Ok(name),
        Err(e) if opts.host_subject.as_deref().is_some_and(|s| !s.trim().is_empty()) => {
            tracing::debug!(
                host,
                "host is not a DNS name; relying on host-subject to verify the certificate"
            );
            DnsName::try_from(PLACEHOLDER_SERVER_NAME)
                .map(|n| ServerName::DnsName(n.to_owned()))
                .map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

fn load_roots(ca: Option<&CaSource>, system_bundle: &Path) -> Result<RootCertStore, TlsError> {
    match ca {
        Some(CaSource::File(path)) => {
            let pem = std::fs::read(path).map_err(|source| TlsError::ReadCa {
                path: path.clone(),
                source,
            })?;
            roots_from_pem(&pem, &path.display().to_string())
        }
        Some(CaSource::Pem(pem)) => roots_from_pem(pem, "the inline `ca` PEM"),
        None => {
            let pem = match std::fs::read(system_bundle) {
                Ok(pem) => pem,
                Err(e) => {
                    tracing::warn!(path = %system_bundle.display(), error = %e, "no system CA bundle");
                    return Err(TlsError::NoTrustAnchors);
                }
            };
            let mut roots = RootCertStore::empty();
            let (added, ignored) =
                roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
            tracing::debug!(added, ignored, path = %system_bundle.display(), "loaded the system CA bundle");
            if roots.is_empty() {
                return Err(TlsError::NoTrustAnchors);
            }
            Ok(roots)
        }
    }
}

fn roots_from_pem(pem: &[u8], origin: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| TlsError::BadCaPem {
            origin: origin.to_owned(),
            detail: e.to_string(),
        })?;
        if let Err(e) = roots.add(cert) {
            tracing::warn!(origin, error = %e, "skipping an unusable CA certificate");
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoCaCertificate {
            origin: origin.to_owned(),
        });
    }
    tracing::debug!(origin, count = roots.len(), "loaded CA certificates");
    Ok(roots)
}
