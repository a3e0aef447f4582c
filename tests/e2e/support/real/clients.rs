//! Running clients against the servers: Sumac's `sumac-cli`, and spice-gtk's `spicy-screenshot`
//! as a reference client to validate the harness.

use crate::support::image::RgbImage;
use crate::support::process::{describe_status, run_with_timeout};
use crate::support::{HarnessError, Result};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// How long a client may take for one screenshot before the harness kills it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `sumac-cli ARGS` (the binary Cargo built for this test run). Panics if it does not exit
/// within [`CLIENT_TIMEOUT`]; the caller checks the exit status.
pub fn run_sumac_cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sumac-cli"));
    cmd.args(args);
    // The screenshot tool is headless: it must not need a display or a session bus.
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    run_with_timeout(cmd, CLIENT_TIMEOUT).unwrap_or_else(|e| panic!("sumac-cli did not finish: {e}"))
}

/// `sumac-cli screenshot URI -o OUT --timeout 30 EXTRA...`; panics (with sumac-cli's output) unless
/// it exits 0 and wrote a decodable image, which it returns.
pub fn sumac_screenshot(uri: &str, extra: &[&str], out: &Path) -> RgbImage {
    let mut args: Vec<&OsStr> = vec!["screenshot".as_ref(), uri.as_ref(), "-o".as_ref(), out.as_os_str()];
    args.extend(["--timeout", "30"].iter().map(OsStr::new));
    args.extend(extra.iter().map(OsStr::new));
    let output = run_sumac_cli(&args);
    assert!(
        output.status.success(),
        "sumac-cli screenshot {uri} {extra:?} failed ({}): stderr: {} stdout: {}",
        describe_status(output.status),
        String::from_utf8_lossy(&output.stderr).trim(),
        String::from_utf8_lossy(&output.stdout).trim()
    );
    RgbImage::load(out).unwrap_or_else(|e| panic!("sumac-cli exited 0 but its PNG is unusable: {e}"))
}

/// Runs spice-gtk's `spicy-screenshot` (reference client) and returns the frame it wrote.
/// `tls_port` makes it use TLS with `ca_file` as the only trusted CA (it has no CA option, but
/// honours `SSL_CERT_FILE`).
pub fn run_spicy_screenshot(
    port: Option<u16>,
    tls_port: Option<u16>,
    password: Option<&str>,
    ca_file: Option<&Path>,
    out: &Path,
) -> Result<RgbImage> {
    crate::support::assert_not_hermetic("spicy-screenshot");
    let mut cmd = Command::new("spicy-screenshot");
    cmd.args(["-h", "127.0.0.1", "-o"]).arg(out);
    if let Some(port) = port {
        cmd.args(["-p", &port.to_string()]);
    }
    if let Some(tls_port) = tls_port {
        cmd.args(["-s", &tls_port.to_string()]);
    }
    if let Some(password) = password {
        cmd.args(["-w", password]);
    }
    if let Some(ca) = ca_file {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let output = run_with_timeout(cmd, CLIENT_TIMEOUT)?;
    if !output.status.success() {
        return Err(HarnessError::Other(format!(
            "spicy-screenshot failed ({}): {}",
            describe_status(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    RgbImage::load(out)
}

/// The URI for a server on 127.0.0.1: `spice://127.0.0.1:P` (plain only), `spice+tls://127.0.0.1:T`
/// (TLS only), else `spice://127.0.0.1?port=P&tls-port=T&password=PW` with what is present.
pub fn spice_uri(port: Option<u16>, tls_port: Option<u16>, password: Option<&str>) -> String {
    match (port, tls_port, password) {
        (Some(p), None, None) => format!("spice://127.0.0.1:{p}"),
        (None, Some(t), None) => format!("spice+tls://127.0.0.1:{t}"),
        _ => {
            let mut query = Vec::new();
            if let Some(p) = port {
                query.push(format!("port={p}"));
            }
            if let Some(t) = tls_port {
                query.push(format!("tls-port={t}"));
            }
            if let Some(pw) = password {
                query.push(format!("password={pw}"));
            }
            format!("spice://127.0.0.1?{}", query.join("&"))
        }
    }
}
