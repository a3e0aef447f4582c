//! Test certificates made with the `openssl` CLI, laid out the way QEMU's and Xspice's `x509-dir`
//! expect: `ca-cert.pem`, `server-cert.pem`, `server-key.pem`.

use crate::support::{HarnessError, Result, io_err};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The subject of every server certificate made here, in the order the certificate holds it,
/// written the way `--spice-host-subject` (spice-gtk, remote-viewer, .vv files) takes it.
pub const HOST_SUBJECT: &str = "O=Sumac Test,CN=127.0.0.1";

/// A temp directory with a CA and a server certificate signed by it (RSA 2048, SHA-256, X.509 v3).
/// Cheap to clone (the directory lives until the last clone is dropped).
#[derive(Debug, Clone)]
pub struct TlsDir {
    dir: Arc<tempfile::TempDir>,
    san: bool,
}

impl TlsDir {
    /// Server certificate with CN=127.0.0.1 and subjectAltName IP:127.0.0.1 (what a browser-grade
    /// verifier wants).
    pub fn generate() -> Result<TlsDir> {
        Self::make(true)
    }

    /// Server certificate with CN=127.0.0.1 and NO subjectAltName, like many QEMU/libvirt
    /// certificates: verifiers that ignore the CN need `--spice-host-subject` [`HOST_SUBJECT`].
    pub fn generate_cn_only() -> Result<TlsDir> {
        Self::make(false)
    }

    fn make(san: bool) -> Result<TlsDir> {
        let dir = tempfile::Builder::new()
            .prefix("sumac-tls-")
            .tempdir()
            .map_err(io_err("create a TLS temp dir"))?;
        let d = dir.path();
        let mut ext = String::from(
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n",
        );
        if san {
            ext.push_str("subjectAltName=IP:127.0.0.1\n");
        }
        fs::write(d.join("server-ext.cnf"), ext).map_err(io_err("write server-ext.cnf"))?;
        let subject = format!("/{}", HOST_SUBJECT.replace(',', "/"));
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "3650",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca-cert.pem",
                "-subj",
                "/O=Sumac Test/CN=Sumac Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server-key.pem",
                "-out",
                "server.csr",
                "-subj",
                &subject,
            ],
        )?;
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca-cert.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-sha256",
                "-days",
                "3650",
                "-extfile",
                "server-ext.cnf",
                "-out",
                "server-cert.pem",
            ],
        )?;
        Ok(TlsDir {
            dir: Arc::new(dir),
            san,
        })
    }

    /// The directory to pass as `x509-dir`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate, for `--spice-ca-file`.
    pub fn ca_cert(&self) -> PathBuf {
        self.path().join("ca-cert.pem")
    }

    /// The server certificate's subject for `--spice-host-subject`.
    pub fn host_subject(&self) -> &'static str {
        HOST_SUBJECT
    }

    /// Whether the server certificate carries subjectAltName IP:127.0.0.1.
    pub fn has_san(&self) -> bool {
        self.san
    }
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(io_err("run openssl"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Other(format!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
