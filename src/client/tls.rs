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

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName, ServerName, UnixTime};
use thiserror::Error;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::config::{CaSource, ConnectionConfig};

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

// ---------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------

/// Why a `host-subject` string cannot be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectError {
    #[error("it is empty; expected the form C=XX,L=city,O=org,CN=name")]
    Empty,
    #[error("`{entry}` has no `=`; each entry is KEY=value, as in CN=server.example")]
    MissingEquals { entry: String },
    #[error("`{key}=` has an empty value")]
    EmptyValue { key: String },
    #[error("an entry has an empty key; each entry is KEY=value")]
    EmptyKey,
    #[error("it has an empty entry (two commas in a row, or a leading comma)")]
    EmptyEntry,
    #[error("unknown attribute `{key}`; use C, ST, L, O, OU, CN, emailAddress, DC, UID or a dotted OID")]
    UnknownAttribute { key: String },
    #[error("`\\{found}` is not a valid escape; only `\\,` and `\\\\` are allowed")]
    BadEscape { found: char },
    #[error("the subject ends with a lone `\\`")]
    TrailingBackslash,
}

/// (short name, long name, OID) of the attributes a subject may name.
const ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("C", "countryName", "2.5.4.6"),
    ("ST", "stateOrProvinceName", "2.5.4.8"),
    ("L", "localityName", "2.5.4.7"),
    ("O", "organizationName", "2.5.4.10"),
    ("OU", "organizationalUnitName", "2.5.4.11"),
    ("CN", "commonName", "2.5.4.3"),
    ("SN", "surname", "2.5.4.4"),
    ("GN", "givenName", "2.5.4.42"),
    ("serialNumber", "serialNumber", "2.5.4.5"),
    ("street", "streetAddress", "2.5.4.9"),
    ("title", "title", "2.5.4.12"),
    ("postalCode", "postalCode", "2.5.4.17"),
    ("name", "name", "2.5.4.41"),
    ("initials", "initials", "2.5.4.43"),
    ("generationQualifier", "generationQualifier", "2.5.4.44"),
    ("dnQualifier", "dnQualifier", "2.5.4.46"),
    ("pseudonym", "pseudonym", "2.5.4.65"),
    ("DC", "domainComponent", "0.9.2342.19200300.100.1.25"),
    ("UID", "userId", "0.9.2342.19200300.100.1.1"),
    ("emailAddress", "emailAddress", "1.2.840.113549.1.9.1"),
];

fn oid_for_key(key: &str) -> Option<String> {
    // `S` and `E` are common aliases of ST and emailAddress.
    let key = match key {
        "S" | "s" => "ST",
        "E" | "e" => "emailAddress",
        k => k,
    };
    if let Some((_, _, oid)) = ATTRIBUTES
        .iter()
        .find(|(short, long, _)| short.eq_ignore_ascii_case(key) || long.eq_ignore_ascii_case(key))
    {
        return Some((*oid).to_owned());
    }
    let dotted = key.split('.').count() >= 2
        && key
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    dotted.then(|| key.to_owned())
}

fn key_for_oid(oid: &str) -> String {
    ATTRIBUTES
        .iter()
        .find(|(_, _, o)| *o == oid)
        .map_or_else(|| oid.to_owned(), |(short, _, _)| (*short).to_owned())
}

/// One `KEY=value` entry of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectEntry {
    /// The attribute name as it is displayed (`CN`, or a dotted OID).
    pub key: String,
    /// The attribute type as a dotted OID.
    pub oid: String,
    pub value: String,
}

/// A certificate subject as written in `host-subject`, or read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub entries: Vec<SubjectEntry>,
}

impl Subject {
    /// Parses `C=XX,L=city,O=org,CN=name`: entries are separated by `,`, `\,`
    /// is a literal comma and `\\` a backslash; blanks around keys are ignored
    /// and values are kept as written.
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        let mut entries = Vec::new();
        let parts = split_escaped(text)?;
        let last = parts.len().saturating_sub(1);
        for (i, raw) in parts.into_iter().enumerate() {
            if raw.trim().is_empty() {
                // A trailing `,` is tolerated; an empty entry elsewhere is not.
                if i == last {
                    continue;
                }
                return Err(SubjectError::EmptyEntry);
            }
            let (key, value) = raw
                .split_once('=')
                .ok_or_else(|| SubjectError::MissingEquals { entry: raw.clone() })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(SubjectError::EmptyKey);
            }
            if value.is_empty() {
                return Err(SubjectError::EmptyValue { key: key.to_owned() });
            }
            let oid = oid_for_key(key).ok_or_else(|| SubjectError::UnknownAttribute { key: key.to_owned() })?;
            entries.push(SubjectEntry {
                key: key_for_oid(&oid),
                oid,
                value: value.to_owned(),
            });
        }
        if entries.is_empty() {
            return Err(SubjectError::Empty);
        }
        Ok(Self { entries })
    }

    /// The subject of a certificate, one entry per attribute in order.
    pub fn from_x509_name(name: &X509Name<'_>) -> Self {
        let entries = name
            .iter()
            .flat_map(x509_parser::x509::RelativeDistinguishedName::iter)
            .map(|atv| {
                let oid = atv.attr_type().to_id_string();
                SubjectEntry {
                    key: key_for_oid(&oid),
                    oid,
                    value: attribute_text(atv),
                }
            })
            .collect();
        Self { entries }
    }

    /// Same entries in the same order, compared like OpenSSL's `X509_NAME_cmp`:
    /// values ignore ASCII case, leading and trailing blanks and runs of blanks.
    pub fn matches(&self, other: &Subject) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.oid == b.oid && canonical(&a.value) == canonical(&b.value))
    }
}

impl fmt::Display for Subject {
    /// The `host-subject` form, so a user can paste it into a config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}=", entry.key)?;
            for c in entry.value.chars() {
                if c == ',' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Splits on unescaped commas and resolves `\,` and `\\`.
fn split_escaped(text: &str) -> Result<Vec<String>, SubjectError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ (',' | '\\')) => current.push(e),
                Some(found) => return Err(SubjectError::BadEscape { found }),
                None => return Err(SubjectError::TrailingBackslash),
            },
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    Ok(parts)
}

fn canonical(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// The text of a name attribute, whatever ASN.1 string type carries it.
fn attribute_text(atv: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = atv.as_str() {
        return s.to_owned();
    }
    let data = atv.as_slice();
    match atv.attr_value().tag().0 {
        // BMPString: UTF-16BE.
        30 => {
            let units = data
                .chunks_exact(2)
                .filter_map(|p| <[u8; 2]>::try_from(p).ok())
                .map(u16::from_be_bytes);
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        // UniversalString: UTF-32BE.
        28 => data
            .chunks_exact(4)
            .filter_map(|q| <[u8; 4]>::try_from(q).ok())
            .map(|q| char::from_u32(u32::from_be_bytes(q)).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
        // TeletexString, VisibleString and others: treat as Latin-1.
        _ => data.iter().map(|&b| char::from(b)).collect(),
    }
}

// ---------------------------------------------------------------------------
// Host names
// ---------------------------------------------------------------------------

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
fn dns_name_matches(pattern: &str, host: &str) -> bool {
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

// ---------------------------------------------------------------------------
// The verifier
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct SpiceCertVerifier {
    roots: Arc<RootCertStore>,
    subject: Option<Subject>,
    provider: Arc<CryptoProvider>,
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

#[cfg(test)]
mod tests;
