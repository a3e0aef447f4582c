//! Launching from a Proxmox-style `.vv` file: the ticket host goes unresolved
//! through an HTTP CONNECT proxy with credentials, TLS is checked against the
//! file's CA and host-subject, the password is the file's, and the file is
//! deleted after reading.

use std::path::{Path, PathBuf};
use std::process::Command;
use sumac::client::vv::{VvFile, VvSource};
use sumac::client::{ClientError, SessionEvent};
use sumac_test_server::proxy::{ProxyConfig, TestProxy};
use sumac_test_server::{ServerConfig, TestServer, TlsIdentity};

const SUMAC_CLI: &str = env!("CARGO_BIN_EXE_sumac-cli");
/// A Proxmox spiceproxy ticket: not a DNS name, only the proxy can resolve it.
pub(crate) const TICKET_HOST: &str = "pvespiceproxy:6571a3c2:100:pve1::3c0e6f4d1a2b";
pub(crate) const PASSWORD: &str = "p4ss-from-the-vv";

/// A TLS + password test server, an authenticating proxy that routes the
/// ticket host to it, and a directory for the `.vv` files (shared with `app.rs`).
pub(crate) struct Setup {
    pub(crate) server: TestServer,
    pub(crate) proxy: TestProxy,
    pub(crate) identity: TlsIdentity,
    pub(crate) scene_rgb: Vec<u8>,
    pub(crate) scene_size: (u32, u32),
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) fn setup() -> Setup {
    let identity = TlsIdentity::generate(false).unwrap();
    let cfg = ServerConfig {
        password: Some(PASSWORD.into()),
        tls: Some(identity.clone()),
        ..Default::default()
    };
    let scene_rgb = cfg.scene.expected_rgb.clone();
    let scene_size = (cfg.scene.width, cfg.scene.height);
    let server = TestServer::start(cfg).unwrap();
    let proxy = TestProxy::start(ProxyConfig {
        credentials: Some(("pveuser".into(), "proxy pw".into())),
        routes: vec![(TICKET_HOST.into(), "127.0.0.1".into())],
    })
    .unwrap();
    Setup {
        server,
        proxy,
        identity,
        scene_rgb,
        scene_size,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// GKeyFile string escaping, as Proxmox writes the CA: one line, `\n` literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
        .replace('\r', "\\r")
}

/// A `.vv` file laid out like Proxmox VE's `remote_viewer_config()` output.
pub(crate) fn write_proxmox_vv(s: &Setup, name: &str, host_subject: &str) -> PathBuf {
    let proxy = format!("http://pveuser:proxy%20pw@127.0.0.1:{}", s.proxy.port());
    let text = format!(
        "[virt-viewer]\n\
         secure-attention=Ctrl+Alt+Ins\n\
         delete-this-file=1\n\
         proxy={proxy}\n\
         type=spice\n\
         toggle-fullscreen=Shift+F11\n\
         title=VM 100 - launch-test\n\
         host={TICKET_HOST}\n\
         password={PASSWORD}\n\
         host-subject={host_subject}\n\
         release-cursor=Ctrl+Alt+R\n\
         tls-port={tls_port}\n\
         ca={ca}\n",
        tls_port = s.server.tls_port().unwrap(),
        ca = escape(&s.identity.ca_pem),
    );
    let path = s.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn proxmox_vv_through_an_authenticating_proxy_with_tls_and_password() {
    let s = setup();
    let vv = write_proxmox_vv(&s, "proxmox.vv", &s.identity.subject);
    let out = s.dir.path().join("shot.png");
    let result = Command::new(SUMAC_CLI)
        .args(["screenshot"])
        .arg(&vv)
        .arg("-o")
        .arg(&out)
        .args(["--timeout", "20"])
        .env_remove("VIRT_VIEWER_KEEP_FILE")
        .env_remove("SPICE_PROXY")
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "sumac-cli failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );

    // The guest area equals the server's framebuffer.
    let (w, h, rgb) = read_png(&out);
    assert_eq!((w, h), s.scene_size);
    assert!(
        rgb == s.scene_rgb,
        "the screenshot differs from the server's framebuffer"
    );

    // delete-this-file=1 removed the file.
    assert!(!vv.exists(), "the .vv file was not deleted");

    // Every channel went through the proxy: CONNECT <ticket, unresolved>:<tls-port>, with credentials.
    let records = s.proxy.records();
    let expected_target = format!("{TICKET_HOST}:{}", s.server.tls_port().unwrap());
    assert!(records.len() >= 2, "expected main + display tunnels, saw {records:?}");
    for r in &records {
        assert_eq!(r.target, expected_target);
        assert_eq!(r.credentials.as_deref(), Some("pveuser:proxy pw"));
        assert_eq!(r.status, 200);
    }
    // ...and every channel the server linked was on TLS.
    s.server.with_record(|rec| {
        assert!(!rec.linked.is_empty());
        assert!(rec.linked.iter().all(|(_, _, tls)| *tls), "{:?}", rec.linked);
    });
}

#[test]
fn wrong_host_subject_is_refused_with_a_clear_message() {
    let s = setup();
    let wrong = "C=XX,O=Someone Else,CN=pve1.example.com";
    let vv = write_proxmox_vv(&s, "wrong-subject.vv", wrong);
    let result = Command::new(SUMAC_CLI)
        .args(["screenshot"])
        .arg(&vv)
        .args(["-o", "/dev/null", "--timeout", "20"])
        .env_remove("VIRT_VIEWER_KEEP_FILE")
        .env_remove("SPICE_PROXY")
        .output()
        .unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    // One error line (warnings from the log may precede it).
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sumac-cli: error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let err = errors[0];
    assert!(err.contains("subject mismatch"), "the refusal does not say why: {err}");
    assert!(
        err.contains(wrong),
        "the refusal does not name the expected subject: {err}"
    );
    assert!(
        err.contains(&s.identity.subject),
        "the refusal does not name the certificate's subject: {err}"
    );
    // The tunnel was opened (the proxy is not the problem) and nothing linked.
    assert!(s.proxy.records().iter().any(|r| r.status == 200));
    s.server
        .with_record(|rec| assert!(rec.linked.is_empty(), "{:?}", rec.linked));
    assert!(
        !vv.exists(),
        "the .vv file must be deleted even when the connection fails"
    );
}

#[test]
fn wrong_proxy_credentials_are_a_407_error() {
    let s = setup();
    let vv = write_proxmox_vv(&s, "bad-proxy-auth.vv", &s.identity.subject);
    // Rewrite the proxy line with a wrong password; keep the file afterwards.
    let text = std::fs::read_to_string(&vv).unwrap().replace("proxy%20pw@", "nope@");
    std::fs::write(&vv, text).unwrap();
    let launch = VvFile::load_with(&VvSource::Path(vv.clone()), true).unwrap();
    assert!(vv.exists(), "kept: the caller asked to keep it");
    let (session, mut rx) = sumac::client::connect(launch.connection, Default::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let error = rt.block_on(async {
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv()).await {
                Ok(Some(SessionEvent::Disconnected { error })) => return error,
                Ok(Some(_)) => continue,
                _ => panic!("no disconnect"),
            }
        }
    });
    drop(session);
    let error = error.expect("an error");
    assert!(matches!(&*error, ClientError::Proxy { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("407") && text.contains("refused the user name and password"),
        "{text}"
    );
    assert_eq!(s.proxy.records().first().map(|r| r.status), Some(407));
}

#[test]
fn vv_from_stdin_and_keep_file_env() {
    let s = setup();
    let vv = write_proxmox_vv(&s, "kept.vv", &s.identity.subject);
    let out = s.dir.path().join("stdin.png");
    let mut child = Command::new(SUMAC_CLI)
        .args(["screenshot", "-", "-o"])
        .arg(&out)
        .args(["--timeout", "20"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .env_remove("SPICE_PROXY")
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&std::fs::read(&vv).unwrap()).unwrap();
    }
    let result = child.wait_with_output().unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert_eq!(read_png(&out).2, s.scene_rgb);
    assert!(vv.exists(), "reading stdin never deletes anything");

    // VIRT_VIEWER_KEEP_FILE keeps a delete-this-file=1 file.
    let out = s.dir.path().join("kept.png");
    let result = Command::new(SUMAC_CLI)
        .args(["screenshot"])
        .arg(&vv)
        .arg("-o")
        .arg(&out)
        .args(["--timeout", "20"])
        .env("VIRT_VIEWER_KEEP_FILE", "1")
        .env_remove("SPICE_PROXY")
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(vv.exists(), "VIRT_VIEWER_KEEP_FILE must keep the file");
}

#[test]
fn spice_proxy_env_applies_to_uris() {
    let s = setup();
    let ca = s.dir.path().join("ca.pem");
    std::fs::write(&ca, &s.identity.ca_pem).unwrap();
    let out = s.dir.path().join("env.png");
    // A URI with the ticket host: only the proxy from SPICE_PROXY can reach it.
    let uri = format!(
        "spice+tls://{}:{}?password={PASSWORD}",
        "spice-ticket-host",
        s.server.tls_port().unwrap()
    );
    let mut proxy = TestProxy::start(ProxyConfig {
        credentials: None,
        routes: vec![("spice-ticket-host".into(), "127.0.0.1".into())],
    })
    .unwrap();
    let result = Command::new(SUMAC_CLI)
        .args(["screenshot", &uri, "-o"])
        .arg(&out)
        .arg("--spice-ca-file")
        .arg(&ca)
        .args(["--spice-host-subject", &s.identity.subject, "--timeout", "20"])
        .env("SPICE_PROXY", proxy.url())
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert_eq!(read_png(&out).2, s.scene_rgb);
    let records = proxy.records();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r.target.starts_with("spice-ticket-host:")),
        "{records:?}"
    );
    proxy.stop();
}

/// The first event that ends or opens the session: `Ok(())` once the main channel is up
/// (`SessionEvent::Init`, MAIN_INIT), the error of a disconnect otherwise.
fn first_outcome(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<SessionEvent>,
) -> Result<(), std::sync::Arc<ClientError>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv()).await {
                Ok(Some(SessionEvent::Init { .. })) => return Ok(()),
                Ok(Some(SessionEvent::Disconnected { error })) => return Err(error.expect("an error")),
                Ok(Some(_)) => continue,
                _ => panic!("neither connected nor disconnected"),
            }
        }
    })
}

/// What the app does after a 407: the proxy address has no credentials, the proxy asks for them
/// (407, none sent); the user's wrong ones are refused (407, sent); the right ones, given apart
/// from the address (`ConnectionConfig::proxy_credentials`), open the tunnel and the session.
#[test]
fn proxy_407_then_typed_credentials() {
    use sumac::client::config::{ConnectionConfig, Password};
    use sumac::client::proxy::{ProxyCredentials, ProxyError};
    let server = TestServer::start(ServerConfig::default()).unwrap();
    let proxy = TestProxy::start(ProxyConfig {
        credentials: Some(("alice".into(), "proxy pw".into())),
        routes: Vec::new(),
    })
    .unwrap();
    let mut config = ConnectionConfig::from_uri(&server.uri()).unwrap();
    config.proxy = Some(format!("http://127.0.0.1:{}", proxy.port()));
    let attempt = |config: &ConnectionConfig| {
        let (session, mut rx) = sumac::client::connect(config.clone(), Default::default()).unwrap();
        let outcome = first_outcome(&mut rx);
        drop(session);
        outcome
    };
    let auth_required = |outcome: Result<(), std::sync::Arc<ClientError>>| match outcome.as_ref().map_err(|e| &**e) {
        Err(ClientError::Proxy {
            source: ProxyError::AuthRequired { sent_credentials, .. },
            ..
        }) => *sent_credentials,
        other => panic!("not a 407: {other:?}"),
    };
    assert!(!auth_required(attempt(&config)), "no credentials were sent");
    config.proxy_credentials = Some(ProxyCredentials {
        user: "alice".into(),
        password: Password::new("wrong"),
    });
    assert!(auth_required(attempt(&config)), "the wrong ones were sent");
    config.proxy_credentials = Some(ProxyCredentials {
        user: "alice".into(),
        password: Password::new("proxy pw"),
    });
    attempt(&config).expect("connected through the proxy");
    let records = proxy.records();
    let seen: Vec<(Option<&str>, u16)> = records.iter().map(|r| (r.credentials.as_deref(), r.status)).collect();
    assert_eq!(
        seen.get(..3),
        Some(&[(None, 407), (Some("alice:wrong"), 407), (Some("alice:proxy pw"), 200)][..]),
        "{records:?}"
    );
}
