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
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use rustls::{ClientConnection, ServerConfig, ServerConnection};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    const NO_SYSTEM_STORE: &str = "/nonexistent/sumac-test/ca-certificates.crt";

    struct TestCa {
        pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    fn test_ca(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "Sumac Tests");
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    struct Leaf {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    }

    fn leaf(ca: &TestCa, sans: &[&str], dn: &[(DnType, &str)], expired: bool) -> Leaf {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        for (ty, value) in dn {
            params.distinguished_name.push(ty.clone(), *value);
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    fn server_config(leaf: &Leaf, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ServerConfig> {
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap();
        Arc::new(config)
    }

    fn options(ca: &TestCa, subject: Option<&str>) -> TlsOptions {
        TlsOptions {
            ca: Some(CaSource::Pem(ca.pem.as_bytes().to_vec())),
            host_subject: subject.map(str::to_owned),
        }
    }

    /// Runs a full handshake in memory; returns the client's error, if any.
    fn handshake_with(
        opts: &TlsOptions,
        host: &str,
        leaf: &Leaf,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<rustls::ProtocolVersion, rustls::Error> {
        let config = build_client_config(opts, Path::new(NO_SYSTEM_STORE)).unwrap();
        let mut client = ClientConnection::new(config, server_name_for(host, opts).unwrap()).unwrap();
        let mut server = ServerConnection::new(server_config(leaf, versions)).unwrap();
        let mut buf = Vec::new();
        for _ in 0..16 {
            buf.clear();
            while client.wants_write() {
                client.write_tls(&mut buf).unwrap();
            }
            let mut pending = &buf[..];
            while !pending.is_empty() {
                server.read_tls(&mut pending).unwrap();
            }
            server.process_new_packets().expect("server side of the handshake");

            buf.clear();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
            let mut pending = &buf[..];
            while !pending.is_empty() {
                client.read_tls(&mut pending).unwrap();
            }
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(client.protocol_version().unwrap());
            }
        }
        panic!("the handshake did not finish");
    }

    fn handshake(opts: &TlsOptions, host: &str, leaf: &Leaf) -> Result<(), rustls::Error> {
        handshake_with(opts, host, leaf, rustls::DEFAULT_VERSIONS).map(|_| ())
    }

    fn refusal(result: Result<(), rustls::Error>) -> CertVerifyError {
        let err = result.expect_err("the certificate should be refused");
        cert_error(&err)
            .unwrap_or_else(|| panic!("no verdict in {err}"))
            .clone()
    }

    #[test]
    fn good_certificate_accepted_over_tls13_and_tls12() {
        let ca = test_ca("Good CA");
        let cert = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            &[(DnType::CommonName, "localhost")],
            false,
        );
        let opts = options(&ca, None);
        assert_eq!(
            handshake_with(&opts, "localhost", &cert, rustls::ALL_VERSIONS),
            Ok(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(
            handshake_with(&opts, "127.0.0.1", &cert, &[&rustls::version::TLS12]),
            Ok(rustls::ProtocolVersion::TLSv1_2)
        );
        assert_eq!(handshake(&opts, "LOCALHOST.", &cert), Ok(()));
    }

    #[test]
    fn unknown_ca_refused() {
        let ca = test_ca("Server CA");
        let other = test_ca("Unrelated CA");
        let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "localhost")], false);
        let verdict = refusal(handshake(&options(&other, None), "localhost", &cert));
        assert_eq!(
            verdict,
            CertVerifyError::UnknownCa {
                issuer: "O=Sumac Tests,CN=Server CA".into()
            }
        );
        assert!(verdict.to_string().contains("not signed by a trusted CA"), "{verdict}");
    }

    #[test]
    fn cn_only_certificate_checked_by_common_name() {
        let ca = test_ca("CA");
        let cert = leaf(&ca, &[], &[(DnType::CommonName, "spice-cn.test")], false);
        let opts = options(&ca, None);
        assert_eq!(handshake(&opts, "spice-cn.test", &cert), Ok(()));
        assert_eq!(handshake(&opts, "Spice-CN.test", &cert), Ok(()));
        let verdict = refusal(handshake(&opts, "other.test", &cert));
        assert!(matches!(verdict, CertVerifyError::HostnameMismatch { .. }));
        assert!(
            verdict
                .to_string()
                .contains("certificate is for spice-cn.test, not other.test"),
            "{verdict}"
        );
        // An IP address in the CN of a SAN-less certificate.
        let ip_cert = leaf(&ca, &[], &[(DnType::CommonName, "127.0.0.1")], false);
        assert_eq!(handshake(&opts, "127.0.0.1", &ip_cert), Ok(()));
        assert!(matches!(
            refusal(handshake(&opts, "127.0.0.2", &ip_cert)),
            CertVerifyError::HostnameMismatch { .. }
        ));
    }

    #[test]
    fn common_name_ignored_when_san_present() {
        let ca = test_ca("CA");
        let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "legacy.test")], false);
        let opts = options(&ca, None);
        let verdict = refusal(handshake(&opts, "legacy.test", &cert));
        assert_eq!(
            verdict,
            CertVerifyError::HostnameMismatch {
                host: "legacy.test".into(),
                presented: vec!["localhost".into()],
            }
        );
        // An IP host is not matched against a DNS SAN.
        assert!(matches!(
            refusal(handshake(&opts, "127.0.0.1", &cert)),
            CertVerifyError::HostnameMismatch { .. }
        ));
    }

    #[test]
    fn wildcard_san() {
        let ca = test_ca("CA");
        let cert = leaf(&ca, &["*.spice.test"], &[], false);
        let opts = options(&ca, None);
        assert_eq!(handshake(&opts, "vm1.spice.test", &cert), Ok(()));
        assert!(handshake(&opts, "spice.test", &cert).is_err());
        assert!(handshake(&opts, "a.vm1.spice.test", &cert).is_err());
    }

    fn subject_leaf(ca: &TestCa) -> Leaf {
        leaf(
            ca,
            &[],
            &[
                (DnType::CountryName, "CZ"),
                (DnType::LocalityName, "Brno"),
                (DnType::OrganizationName, "Sumac, Test"),
                (DnType::CommonName, "vm.example"),
            ],
            false,
        )
    }

    #[test]
    fn host_subject_exact_match_replaces_the_host_check() {
        let ca = test_ca("CA");
        let cert = subject_leaf(&ca);
        let subject = r"C=CZ,L=Brno,O=Sumac\, Test,CN=vm.example";
        // The host name does not match the certificate, but the subject does.
        assert_eq!(handshake(&options(&ca, Some(subject)), "127.0.0.1", &cert), Ok(()));
        // Blanks around keys, value case and inner blank runs do not matter.
        let loose = r" c=cz, L=BRNO,  O=sumac\,   test, CN=VM.example";
        assert_eq!(handshake(&options(&ca, Some(loose)), "127.0.0.1", &cert), Ok(()));
        // A Proxmox-style host that is no DNS name at all.
        let proxmox_host = "pvespiceproxy:65f9a8b2:100:pve1::0123abcd";
        assert_eq!(handshake(&options(&ca, Some(subject)), proxmox_host, &cert), Ok(()));
    }

    #[test]
    fn host_subject_mismatch_refused_with_both_subjects() {
        let ca = test_ca("CA");
        let cert = subject_leaf(&ca);
        let wrong = "C=CZ,L=Brno,O=Other,CN=vm.example";
        let verdict = refusal(handshake(&options(&ca, Some(wrong)), "vm.example", &cert));
        assert_eq!(
            verdict.to_string(),
            r"subject mismatch: expected subject C=CZ,L=Brno,O=Other,CN=vm.example, certificate has C=CZ,L=Brno,O=Sumac\, Test,CN=vm.example"
        );
        // Fewer entries than the certificate: refused even though all given ones match.
        let partial = r"O=Sumac\, Test,CN=vm.example";
        assert!(matches!(
            refusal(handshake(&options(&ca, Some(partial)), "vm.example", &cert)),
            CertVerifyError::SubjectMismatch { .. }
        ));
        // Same entries, different order.
        let reordered = r"CN=vm.example,C=CZ,L=Brno,O=Sumac\, Test";
        assert!(matches!(
            refusal(handshake(&options(&ca, Some(reordered)), "vm.example", &cert)),
            CertVerifyError::SubjectMismatch { .. }
        ));
    }

    #[test]
    fn expired_certificate_refused() {
        let ca = test_ca("CA");
        let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "localhost")], true);
        let verdict = refusal(handshake(&options(&ca, None), "localhost", &cert));
        assert!(matches!(verdict, CertVerifyError::Expired { .. }), "{verdict:?}");
        assert!(
            verdict.to_string().contains("expired on Jan  1 00:00:00 2001"),
            "{verdict}"
        );
        // The subject mode does not skip the chain checks.
        let subject_opts = options(&ca, Some("CN=localhost"));
        assert!(matches!(
            refusal(handshake(&subject_opts, "localhost", &cert)),
            CertVerifyError::Expired { .. }
        ));
    }

    #[test]
    fn ca_sources() {
        let ca = test_ca("File CA");
        let cert = leaf(&ca, &["localhost"], &[], false);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &ca.pem).unwrap();
        let opts = TlsOptions {
            ca: Some(CaSource::File(path.clone())),
            host_subject: None,
        };
        assert_eq!(handshake(&opts, "localhost", &cert), Ok(()));

        // The system bundle is used when no CA is configured.
        let none = TlsOptions::default();
        assert!(build_client_config(&none, &path).is_ok());
        assert!(matches!(
            build_client_config(&none, Path::new(NO_SYSTEM_STORE)),
            Err(TlsError::NoTrustAnchors)
        ));

        let missing = TlsOptions {
            ca: Some(CaSource::File(dir.path().join("absent.pem"))),
            host_subject: None,
        };
        let err = build_client_config(&missing, Path::new(NO_SYSTEM_STORE)).unwrap_err();
        assert!(matches!(err, TlsError::ReadCa { .. }));
        assert!(err.to_string().contains("absent.pem"), "{err}");

        let garbage = TlsOptions {
            ca: Some(CaSource::Pem(b"not a certificate".to_vec())),
            host_subject: None,
        };
        assert!(matches!(
            build_client_config(&garbage, Path::new(NO_SYSTEM_STORE)),
            Err(TlsError::NoCaCertificate { .. })
        ));

        let bad_subject = options(&ca, Some("CN=a,,O=b"));
        assert!(matches!(
            build_client_config(&bad_subject, Path::new(NO_SYSTEM_STORE)),
            Err(TlsError::BadHostSubject(SubjectError::EmptyEntry))
        ));
        // A blank host-subject means "not set".
        assert!(build_client_config(&options(&ca, Some("  ")), Path::new(NO_SYSTEM_STORE)).is_ok());
    }

    #[test]
    fn options_from_config() {
        let cfg = ConnectionConfig {
            ca: Some(CaSource::File("/ca.pem".into())),
            host_subject: Some("CN=x".into()),
            ..Default::default()
        };
        let opts = TlsOptions::from_config(&cfg);
        assert_eq!(opts.ca, cfg.ca);
        assert_eq!(opts.host_subject.as_deref(), Some("CN=x"));
    }

    #[test]
    fn subject_parsing() {
        let s = Subject::parse(r"C=XX, L=City ,O=Org\, Inc.,CN=host\\name,").unwrap();
        let got: Vec<_> = s.entries.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
        assert_eq!(
            got,
            [("C", "XX"), ("L", "City "), ("O", "Org, Inc."), ("CN", r"host\name")]
        );
        assert_eq!(s.entries[3].oid, "2.5.4.3");
        assert_eq!(s.to_string(), r"C=XX,L=City ,O=Org\, Inc.,CN=host\\name");

        let long = Subject::parse("countryName=XX,commonName=h,ST=Moravia,2.5.4.97=VAT").unwrap();
        let keys: Vec<_> = long.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["C", "CN", "ST", "2.5.4.97"]);
        // A value may contain `=`.
        assert_eq!(Subject::parse("CN=a=b").unwrap().entries[0].value, "a=b");

        assert_eq!(Subject::parse(""), Err(SubjectError::Empty));
        assert_eq!(Subject::parse(" , "), Err(SubjectError::EmptyEntry));
        assert_eq!(
            Subject::parse("CN"),
            Err(SubjectError::MissingEquals { entry: "CN".into() })
        );
        assert_eq!(Subject::parse("=x"), Err(SubjectError::EmptyKey));
        assert_eq!(
            Subject::parse("CN="),
            Err(SubjectError::EmptyValue { key: "CN".into() })
        );
        assert_eq!(
            Subject::parse("XX=1"),
            Err(SubjectError::UnknownAttribute { key: "XX".into() })
        );
        assert_eq!(Subject::parse(r"CN=a\b"), Err(SubjectError::BadEscape { found: 'b' }));
        assert_eq!(Subject::parse(r"CN=a\"), Err(SubjectError::TrailingBackslash));
    }

    #[test]
    fn subject_matching_rules() {
        let a = Subject::parse("C=CZ,O=Red  Hat,CN=vm").unwrap();
        assert!(a.matches(&Subject::parse("C=cz, O= red hat ,CN=VM").unwrap()));
        assert!(!a.matches(&Subject::parse("C=CZ,O=Red Hat").unwrap()));
        assert!(!a.matches(&Subject::parse("C=CZ,OU=Red Hat,CN=vm").unwrap()));
        assert!(!a.matches(&Subject::parse("C=CZ,O=RedHat,CN=vm").unwrap()));
    }

    #[test]
    fn dns_name_matching() {
        assert!(dns_name_matches("host.example", "HOST.example."));
        assert!(dns_name_matches("*.example.org", "vm.example.org"));
        assert!(!dns_name_matches("*.example.org", "example.org"));
        assert!(!dns_name_matches("*.example.org", "a.b.example.org"));
        assert!(!dns_name_matches("*.org", "example.org"));
        assert!(!dns_name_matches("v*.example.org", "vm.example.org"));
        assert!(!dns_name_matches("*.*.org", "a.b.org"));
        assert!(!dns_name_matches("", ""));
    }

    #[test]
    fn server_names() {
        assert!(matches!(server_name("127.0.0.1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("fe80::1%eth0"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("spice.example.org"), Ok(ServerName::DnsName(_))));
        let err = server_name("pve:ticket::x").unwrap_err();
        assert!(matches!(err, TlsError::InvalidServerName { .. }));
        assert!(err.to_string().contains("host-subject"), "{err}");
        let with_subject = TlsOptions {
            ca: None,
            host_subject: Some("CN=x".into()),
        };
        assert!(server_name_for("pve:ticket::x", &with_subject).is_ok());
        assert!(server_name_for("pve:ticket::x", &TlsOptions::default()).is_err());
    }

    #[test]
    fn cert_error_only_finds_verdicts() {
        let io = io::Error::other("connection reset");
        assert!(cert_error(&io).is_none());
        assert_eq!(describe_tls_error(&io), "connection reset");
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, CertVerifyError::BadSignature.into_rustls());
        assert_eq!(cert_error(&wrapped), Some(&CertVerifyError::BadSignature));
        assert_eq!(describe_tls_error(&wrapped), CertVerifyError::BadSignature.to_string());
    }

    /// The path the runtime takes: tokio-rustls over loopback TCP, and the
    /// verdict recovered from the `io::Error` the connector returns.
    #[tokio::test]
    async fn tokio_rustls_over_loopback() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let ca = test_ca("CA");
        let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "localhost")], false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&cert, rustls::DEFAULT_VERSIONS));
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut word = [0u8; 4];
                    tls.read_exact(&mut word).await.unwrap();
                    tls.write_all(&word).await.unwrap();
                    tls.shutdown().await.unwrap();
                }
            }
        });

        let opts = options(&ca, None);
        let connector =
            tokio_rustls::TlsConnector::from(build_client_config(&opts, Path::new(NO_SYSTEM_STORE)).unwrap());
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(server_name("localhost").unwrap(), tcp).await.unwrap();
        tls.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        tls.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");

        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let err = connector
            .connect(server_name("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap_err();
        assert!(matches!(
            cert_error(&err),
            Some(CertVerifyError::HostnameMismatch { .. })
        ));
        assert!(
            describe_tls_error(&err).contains("certificate is for localhost, not 127.0.0.1"),
            "{err}"
        );
        server.await.unwrap();
    }
}
