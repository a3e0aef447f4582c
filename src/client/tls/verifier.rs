//! The server certificate verifier: webpki checks the chain, then the name is
//! checked with spice-gtk's rules (exact `host-subject`, or SAN DNS/IP names
//! with the CN as a fallback when there is no SAN).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::CertVerifyError;
use super::subject::{Subject, attribute_text};

// Host names

enum HostRef<'a> {
    Dns(&'a str),
    Ip(IpAddr),
}

impl fmt::Display for HostRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// RFC 6125 style match of one certificate DNS name against the host: exact
/// (ignoring case and a trailing dot), or `*.rest` covering one non-empty label,
/// with at least two labels after the wildcard.
pub(super) fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            suffix.contains('.')
                && !suffix.contains('*')
                && host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
        }
        None => !pattern.contains('*') && pattern == host,
    }
}

fn ip_from_san(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// spice-gtk's host check: SAN dNSName and IP entries; the subject CN only
/// when the certificate has neither.
fn check_host(cert: &X509Certificate<'_>, host: &HostRef<'_>) -> Result<(), CertVerifyError> {
    let mut dns_names = Vec::new();
    let mut ips = Vec::new();
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns_names.push(*d),
                    GeneralName::IPAddress(b) => ips.extend(ip_from_san(b)),
                    _ => {}
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            return Err(CertVerifyError::Unparsable {
                detail: format!("subject alternative name: {e}"),
            });
        }
    }
    let has_san = !dns_names.is_empty() || !ips.is_empty();
    let common_names: Vec<String> = if has_san {
        Vec::new()
    } else {
        cert.subject()
            .iter_common_name()
            .map(|atv| attribute_text(atv))
            .collect()
    };

    let matched = match host {
        HostRef::Dns(name) => {
            dns_names.iter().any(|d| dns_name_matches(d, name))
                || common_names.iter().any(|cn| dns_name_matches(cn, name))
        }
        HostRef::Ip(ip) => {
            let text = ip.to_string();
            ips.contains(ip)
                // Some certificates put the address in a dNSName or the CN; accept
                // an exact textual match, never a wildcard.
                || dns_names.iter().any(|d| d.parse::<IpAddr>().ok() == Some(*ip) || *d == text)
                || common_names.iter().any(|cn| cn.trim().parse::<IpAddr>().ok() == Some(*ip))
        }
    };
    if matched {
        return Ok(());
    }
    let presented = dns_names
        .iter()
        .map(|d| (*d).to_owned())
        .chain(ips.iter().map(IpAddr::to_string))
        .chain(common_names)
        .collect();
    Err(CertVerifyError::HostnameMismatch {
        host: host.to_string(),
        presented,
    })
}

// The verifier

#[derive(Debug)]
pub(super) struct SpiceCertVerifier {
    pub(super) roots: Arc<RootCertStore>,
    pub(super) subject: Option<Subject>,
    pub(super) provider: Arc<CryptoProvider>,
}

impl SpiceCertVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), CertVerifyError> {
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity.as_ref())
            .map_err(|e| CertVerifyError::Unparsable { detail: e.to_string() })?;

        let parsed = ParsedCertificate::try_from(end_entity).map_err(|e| chain_error(e, &cert))?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(|e| chain_error(e, &cert))?;

        if let Some(expected) = &self.subject {
            let actual = Subject::from_x509_name(cert.subject());
            if !expected.matches(&actual) {
                return Err(CertVerifyError::SubjectMismatch {
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
            tracing::debug!(subject = %actual, "server certificate subject matches host-subject");
            return Ok(());
        }

        let host = match server_name {
            ServerName::DnsName(name) => HostRef::Dns(name.as_ref()),
            ServerName::IpAddress(ip) => HostRef::Ip(IpAddr::from(*ip)),
            other => {
                return Err(CertVerifyError::Rejected {
                    reason: format!("unsupported server name {other:?}"),
                });
            }
        };
        check_host(&cert, &host)?;
        tracing::debug!(host = %host, "server certificate matches the host name");
        Ok(())
    }
}

/// Turns webpki's verdict on the chain into a reason the user can act on.
fn chain_error(err: rustls::Error, cert: &X509Certificate<'_>) -> CertVerifyError {
    let validity = cert.validity();
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => CertVerifyError::UnknownCa {
            issuer: Subject::from_x509_name(cert.issuer()).to_string(),
        },
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            CertVerifyError::Expired {
                not_after: validity.not_after.to_string(),
            }
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => CertVerifyError::NotYetValid {
            not_before: validity.not_before.to_string(),
        },
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => CertVerifyError::BadSignature,
        rustls::Error::InvalidCertificate(CertificateError::BadEncoding) => CertVerifyError::Unparsable {
            detail: "bad DER encoding".to_owned(),
        },
        other => CertVerifyError::Rejected {
            reason: other.to_string(),
        },
    }
}

impl ServerCertVerifier for SpiceCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.check(end_entity, intermediates, server_name, now) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(verdict) => {
                tracing::warn!(reason = %verdict, "refusing the server certificate");
                Err(verdict.into_rustls())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
