//! What the session shares with the guest besides the screen and the input
//! devices: a folder (the webdav channel) and smartcards (channel 8). Plain
//! configuration, set in [`SessionOptions`](super::SessionOptions); the
//! channels that use it are built only when the matching cargo feature is on.

use std::path::PathBuf;

/// A folder shared over the webdav channel (spice-gtk's `shared-dir` and
/// `share-dir-ro`; `--spice-shared-dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFolder {
    pub path: PathBuf,
    /// Refuse every write (PUT, DELETE, MOVE, COPY, MKCOL, PROPPATCH, LOCK).
    pub read_only: bool,
}

impl SharedFolder {
    pub fn new(path: impl Into<PathBuf>, read_only: bool) -> Self {
        Self {
            path: path.into(),
            read_only,
        }
    }
}

/// Smartcard emulation (spice-gtk's `--spice-smartcard`,
/// `--spice-smartcard-db`, `--spice-smartcard-certificates`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmartcardConfig {
    /// A software card made of these certificates (nicknames in the NSS
    /// database); empty: physical readers only.
    pub certificates: Vec<String>,
    /// The NSS database holding them (e.g. `sql:/path/to/db` or a directory).
    pub database: Option<String>,
}

impl SmartcardConfig {
    /// A software card emulated from `certificates` of `database`.
    pub fn software(database: impl Into<String>, certificates: Vec<String>) -> Self {
        Self {
            certificates,
            database: Some(database.into()),
        }
    }

    /// `--spice-smartcard-certificates` (comma-separated nicknames).
    pub fn parse_certificates(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_lists() {
        assert_eq!(
            SmartcardConfig::parse_certificates("id-cert, sig-cert,,enc"),
            ["id-cert", "sig-cert", "enc"]
        );
        assert!(SmartcardConfig::parse_certificates("").is_empty());
    }
}
