//! Certificate subjects: the `host-subject` syntax (`C=XX,O=org,CN=name`,
//! `\,` escapes, short or long attribute names or dotted OIDs), the subject
//! read from a certificate, and OpenSSL-like comparison of the two.

use std::fmt;

use thiserror::Error;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

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
pub(super) fn attribute_text(atv: &AttributeTypeAndValue<'_>) -> String {
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
