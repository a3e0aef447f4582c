//! Port channels and the shared folder against the test server: a port's
//! byte stream both ways, `sumac-cli qmp` against a scripted QMP monitor, the
//! WebDAV server through the mux (spice-webdavd's side played by the test
//! server: plain HTTP, read-only, path escapes, litmus), hostile PORT_INIT and
//! mux frames.

use crate::support::session::next_event;
use crate::support::sharing::shared_tree;
use crate::support::tools::{Tool, require_tools};
use crate::support::wait::poll_until;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use sumac::client::sharing::SharedFolder;
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::proto::ChannelType;
use sumac::proto::channel::vmc::{msg as vmc_msg, port_event};
use sumac_test_server::ports::PortSpec;
use sumac_test_server::{ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);
const WEBDAV: (ChannelType, u8) = (ChannelType::WEBDAV, 0);
const WEBDAV_PORT: &str = "org.spice-space.webdav.0";

pub const LITMUS: Tool = Tool {
    binary: "litmus",
    package: "litmus",
};

fn server_with(ports: &[(ChannelType, u8, &str)]) -> TestServer {
    let mut config = ServerConfig::default();
    for (ty, id, name) in ports {
        config.channels.push((*ty, *id));
        config.ports.push(PortSpec::new((*ty, *id), *name));
    }
    TestServer::start(config).unwrap()
}

fn connect(server: &TestServer, options: SessionOptions) -> (SessionHandle, UnboundedReceiver<SessionEvent>) {
    sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), options).unwrap()
}

/// Waits for the PORT_INIT of `name`.
fn wait_port(rx: &mut UnboundedReceiver<SessionEvent>, name: &str) {
    let until = Instant::now() + WAIT;
    loop {
        match next_event(rx, until).unwrap_or_else(|| panic!("no port {name}")) {
            SessionEvent::Port { name: n, .. } if n == name => return,
            SessionEvent::Disconnected { error } => panic!("session ended: {error:?}"),
            _ => {}
        }
    }
}

#[test]
fn a_port_is_a_byte_stream_both_ways() {
    let serial = (ChannelType::PORT, 0);
    let server = server_with(&[(ChannelType::PORT, 0, "org.qemu.console.serial.0")]);
    let (session, mut rx) = connect(&server, SessionOptions::default());
    wait_port(&mut rx, "org.qemu.console.serial.0");
    let stream = session.port("org.qemu.console.serial.0").expect("the port's stream");
    assert!(stream.is_open());
    stream.write(b"ls /\r").unwrap();
    let mut got = Vec::new();
    assert!(poll_until(WAIT, || {
        got.extend(server.port_read(serial, Duration::from_millis(50)));
        got == b"ls /\r"
    }));
    // 1 MiB from the guest arrives whole and in order.
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    server.port_write(serial, &big);
    let mut received = Vec::new();
    assert!(poll_until(WAIT, || {
        received.extend(stream.read());
        received.len() >= big.len()
    }));
    assert_eq!(received, big);
    // PORT_EVENT CLOSED reaches the stream.
    server.port_event(serial, port_event::CLOSED);
    assert!(poll_until(WAIT, || !stream.is_open()));
    session.disconnect();
}

/// A scripted QMP monitor on a port: greeting, capabilities, then `query-status`.
fn fake_qmp(server: &TestServer, port: (ChannelType, u8)) {
    server.port_write(
        port,
        b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n",
    );
    let mut buf = Vec::new();
    let mut answered = 0;
    let until = Instant::now() + WAIT;
    while answered < 2 && Instant::now() < until {
        buf.extend(server.port_read(port, Duration::from_millis(50)));
        while let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            let v: serde_json::Value = serde_json::from_slice(&line[..end]).unwrap();
            let id = v["id"].clone();
            let reply = match v["execute"].as_str() {
                Some("qmp_capabilities") => serde_json::json!({"return": {}, "id": id}),
                Some("query-status") => {
                    serde_json::json!({"return": {"status": "running", "singlestep": false, "running": true}, "id": id})
                }
                _ => serde_json::json!({"error": {"class": "CommandNotFound", "desc": "no"}, "id": id}),
            };
            server.port_write(port, format!("{reply}\r\n").as_bytes());
            answered += 1;
        }
    }
}

#[test]
fn sumac_cli_qmp_runs_commands_over_the_port() {
    let qmp = (ChannelType::PORT, 1);
    let server = server_with(&[
        (ChannelType::PORT, 0, "org.qemu.console.serial.0"),
        (ChannelType::PORT, 1, "org.qemu.monitor.qmp.0"),
    ]);
    let uri = server.uri();
    let cli = std::thread::spawn(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
            .args(["qmp", &uri, r#"{"execute":"query-status"}"#])
            .output()
            .unwrap()
    });
    assert!(poll_until(WAIT, || server.port_linked(qmp)));
    fake_qmp(&server, qmp);
    let out = cli.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["return"]["status"], "running");
}

/// One HTTP/1.1 request with `Connection: close`: (status, headers+body as text, body bytes).
pub fn http(port: u16, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let at = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(reply.len(), |p| p + 4);
    let mut body = reply[at..].to_vec();
    if text.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, text, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

fn webdav_session(folder: &Path, read_only: bool) -> (TestServer, SessionHandle, UnboundedReceiver<SessionEvent>) {
    let server = server_with(&[(ChannelType::WEBDAV, 0, WEBDAV_PORT)]);
    let options = SessionOptions {
        shared_folder: Some(SharedFolder::new(folder, read_only)),
        ..SessionOptions::default()
    };
    let (session, mut rx) = connect(&server, options);
    wait_port(&mut rx, WEBDAV_PORT);
    (server, session, rx)
}

#[test]
fn the_shared_folder_is_served_through_the_mux() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let big = shared_tree(dir.path(), outside.path());
    let (server, session, _rx) = webdav_session(dir.path(), false);
    // The webdav channel has no byte stream for embedders: the folder's server owns it.
    assert!(session.port(WEBDAV_PORT).is_none());
    let guest = server.webdav_guest(WEBDAV).unwrap();
    let port = guest.port();
    let (status, text, _) = http(port, "PROPFIND", "/", &["Depth: 1"], b"");
    assert_eq!(status, 207, "{text}");
    assert!(text.contains("hello.txt") && text.contains("sub/"), "{text}");
    assert!(!text.contains("escape") && !text.contains("secret"), "{text}");
    let (status, _, body) = http(port, "GET", "/sub/data.bin", &[], b"");
    assert_eq!(status, 200);
    assert!(
        body == big,
        "GET returned {} bytes, not the file's {}",
        body.len(),
        big.len()
    );
    // Writes land in the folder.
    assert_eq!(http(port, "PUT", "/sub/new.txt", &[], b"written by the guest").0, 201);
    assert_eq!(
        std::fs::read(dir.path().join("sub/new.txt")).unwrap(),
        b"written by the guest"
    );
    assert_eq!(http(port, "MKCOL", "/made", &[], b"").0, 201);
    assert!(dir.path().join("made").is_dir());
    let dest = format!("Destination: http://127.0.0.1:{port}/made/moved.txt");
    assert_eq!(http(port, "MOVE", "/sub/new.txt", &[&dest], b"").0, 201);
    assert!(dir.path().join("made/moved.txt").exists());
    assert_eq!(http(port, "DELETE", "/made", &[], b"").0, 204);
    assert!(!dir.path().join("made").exists());
    // Nothing outside the folder, however asked.
    let name = outside.path().file_name().unwrap().to_string_lossy().into_owned();
    for path in [
        "/escape/secret".to_owned(),
        "/secret-link".to_owned(),
        "/../secret".to_owned(),
        format!("/sub/../../{name}/secret"),
        format!("/..%2f{name}%2fsecret"),
        format!("/%2e%2e/{name}/secret"),
    ] {
        let (status, text, _) = http(port, "GET", &path, &[], b"");
        assert!(status >= 400 && !text.contains("top secret"), "{path}: {text}");
    }
    assert!(http(port, "PUT", "/escape/planted", &[], b"x").0 >= 400);
    assert!(!outside.path().join("planted").exists());
    drop(guest);
    session.disconnect();
}

#[test]
fn a_read_only_shared_folder_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    shared_tree(dir.path(), outside.path());
    let (server, session, _rx) = webdav_session(dir.path(), true);
    let guest = server.webdav_guest(WEBDAV).unwrap();
    let port = guest.port();
    assert_eq!(http(port, "GET", "/hello.txt", &[], b"").2, b"hello from the host\n");
    let dest = format!("Destination: http://127.0.0.1:{port}/moved.txt");
    for (method, path, headers) in [
        ("PUT", "/new.txt", vec![]),
        ("DELETE", "/hello.txt", vec![]),
        ("MOVE", "/hello.txt", vec![dest.as_str()]),
        ("COPY", "/hello.txt", vec![dest.as_str()]),
        ("MKCOL", "/dir", vec![]),
        ("PROPPATCH", "/hello.txt", vec![]),
    ] {
        let (status, text, _) = http(port, method, path, &headers, b"");
        assert!(status >= 400, "{method} {path}: {text}");
    }
    assert!(dir.path().join("hello.txt").exists());
    assert!(!dir.path().join("new.txt").exists() && !dir.path().join("moved.txt").exists());
    assert!(!dir.path().join("dir").exists());
    drop(guest);
    session.disconnect();
}

#[test]
fn the_shared_folder_changes_while_connected() {
    let first = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    shared_tree(first.path(), outside.path());
    let second = tempfile::tempdir().unwrap();
    std::fs::write(second.path().join("other.txt"), b"the second folder").unwrap();
    let (server, session, _rx) = webdav_session(first.path(), false);
    let guest = server.webdav_guest(WEBDAV).unwrap();
    let port = guest.port();
    let (status, text, _) = http(port, "PROPFIND", "/", &["Depth: 1"], b"");
    assert!(status == 207 && text.contains("hello.txt"), "{text}");

    // Another folder: the next PROPFIND lists it, and only it.
    let folder = SharedFolder::new(second.path(), false);
    session.set_shared_folder(Some(folder.clone()));
    assert_eq!(session.shared_folder(), Some(folder));
    let (status, text, _) = http(port, "PROPFIND", "/", &["Depth: 1"], b"");
    assert_eq!(status, 207, "{text}");
    assert!(text.contains("other.txt") && !text.contains("hello.txt"), "{text}");
    assert_eq!(http(port, "GET", "/other.txt", &[], b"").2, b"the second folder");

    // Read-only turned on: PUT fails; off again: it works.
    session.set_shared_folder(Some(SharedFolder::new(second.path(), true)));
    let (status, text, _) = http(port, "PUT", "/new.txt", &[], b"x");
    assert!(status >= 400, "{text}");
    assert!(!second.path().join("new.txt").exists());
    session.set_shared_folder(Some(SharedFolder::new(second.path(), false)));
    assert_eq!(http(port, "PUT", "/new.txt", &[], b"x").0, 201);

    // Sharing off: every request fails (503, the connection closed).
    session.set_shared_folder(None);
    for method in ["PROPFIND", "GET"] {
        let (status, text, _) = http(port, method, "/other.txt", &[], b"");
        assert_eq!(status, 503, "{method}: {text}");
    }
    drop(guest);
    session.disconnect();
}

#[test]
fn sharing_turned_on_after_connecting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("late.txt"), b"shared later").unwrap();
    let server = server_with(&[(ChannelType::WEBDAV, 0, WEBDAV_PORT)]);
    let options = SessionOptions {
        webdav_server: true,
        ..SessionOptions::default()
    };
    let (session, mut rx) = connect(&server, options);
    wait_port(&mut rx, WEBDAV_PORT);
    assert!(
        session.port(WEBDAV_PORT).is_none(),
        "the folder server owns the channel"
    );
    let guest = server.webdav_guest(WEBDAV).unwrap();
    let port = guest.port();
    assert_eq!(http(port, "GET", "/late.txt", &[], b"").0, 503, "nothing shared yet");
    session.set_shared_folder(Some(SharedFolder::new(dir.path(), true)));
    assert_eq!(http(port, "GET", "/late.txt", &[], b"").2, b"shared later");
    drop(guest);
    session.disconnect();
}

/// litmus's summary lines: `<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%`.
fn litmus_summary(output: &str) -> Vec<(String, u32, u32)> {
    output
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("<- summary for `")?;
            let (group, rest) = rest.split_once('\'')?;
            let n = |key: &str| -> Option<u32> {
                let before = rest.split(key).next()?;
                before.split_whitespace().last()?.trim_end_matches(',').parse().ok()
            };
            Some((group.to_owned(), n(" passed")?, n(" failed")?))
        })
        .collect()
}

#[test]
fn litmus_passes_basic_copymove_and_props_through_the_mux() {
    let Some(()) = require_tools(&[LITMUS]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (server, session, _rx) = webdav_session(dir.path(), false);
    let guest = server.webdav_guest(WEBDAV).unwrap();
    // litmus writes debug.log and child.log in its working directory.
    let logs = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("litmus")
        .arg(guest.url())
        .current_dir(logs.path())
        .env("TESTS", "basic copymove props locks http")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = litmus_summary(&text);
    eprintln!("litmus through the mux:\n{text}");
    for (group, passed, failed) in &summary {
        eprintln!("litmus {group}: {passed} passed, {failed} failed");
    }
    for must in ["basic", "copymove", "props"] {
        let (_, passed, failed) = summary
            .iter()
            .find(|(g, ..)| g == must)
            .unwrap_or_else(|| panic!("litmus ran no `{must}` group:\n{text}"));
        assert!(*passed > 0 && *failed == 0, "litmus `{must}`: {failed} failed:\n{text}");
    }
    drop(guest);
    session.disconnect();
}

#[test]
fn hostile_ports_and_mux_frames_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("still.txt"), b"still here").unwrap();
    let mut config = ServerConfig::default();
    for ch in [(ChannelType::PORT, 0), (ChannelType::PORT, 1), WEBDAV] {
        config.channels.push(ch);
    }
    config.ports.push(PortSpec::new(WEBDAV, WEBDAV_PORT));
    let server = TestServer::start(config).unwrap();
    let options = SessionOptions {
        shared_folder: Some(SharedFolder::new(dir.path(), false)),
        ..SessionOptions::default()
    };
    let (session, mut rx) = connect(&server, options);
    wait_port(&mut rx, WEBDAV_PORT);
    assert!(poll_until(WAIT, || server.port_linked((ChannelType::PORT, 0))
        && server.port_linked((ChannelType::PORT, 1))));
    // PORT_INIT announcing a 4 GiB name: that channel closes, nothing else does.
    server.port_send_raw(
        (ChannelType::PORT, 0),
        vmc_msg::PORT_INIT,
        vec![0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 1, b'x'],
    );
    // A name without its NUL is taken whole (name_size 3, the name at offset 9, opened).
    server.port_send_raw(
        (ChannelType::PORT, 1),
        vmc_msg::PORT_INIT,
        vec![3, 0, 0, 0, 9, 0, 0, 0, 1, b'a', b'b', b'c'],
    );
    let until = Instant::now() + WAIT;
    let (mut down, mut named) = (false, false);
    while !(down && named) {
        match next_event(&mut rx, until).expect("the hostile PORT_INITs were not handled") {
            SessionEvent::ChannelDown { channel, error }
                if channel.channel_type == ChannelType::PORT && channel.id == 0 =>
            {
                assert!(error.is_some());
                down = true;
            }
            SessionEvent::Port { name, .. } if name == "abc" => named = true,
            SessionEvent::Disconnected { error } => panic!("session ended: {error:?}"),
            _ => {}
        }
    }
    // Mux frames from a guest gone mad: a million clients, a frame claiming
    // 65535 bytes that never come, data for refused clients.
    let mut flood = Vec::with_capacity(11 << 20);
    for id in 0..1_000_000i64 {
        sumac::channel::webdav::encode_data(id, b"G", &mut flood);
    }
    flood.extend_from_slice(&77i64.to_le_bytes());
    flood.extend_from_slice(&u16::MAX.to_le_bytes());
    flood.extend_from_slice(b"GET / HTTP/1.1\r\n");
    // Each refused frame is answered with one close frame (64 clients were taken, then
    // 999,936 refused, and the lying frame's client too); the session stays up.
    let refused = (1_000_000 - sumac::channel::webdav::DEFAULT_MAX_CLIENTS + 1) * sumac::channel::webdav::HEADER_LEN;
    let mut back = 0usize;
    // Sent in steps, each one's close frames taken back before the next: the test
    // server's writes block its reads and so do the client's (both block on a full
    // socket), so an 11 MB flood while the client answers can stall both when the
    // loopback buffers are small (seen once under load). The frames are the same.
    const FRAME: usize = 11;
    const STEP: usize = 20_000;
    for start in (0..1_000_000usize).step_by(STEP) {
        let end = (start + STEP).min(1_000_000);
        server.port_write(WEBDAV, &flood[start * FRAME..end * FRAME]);
        let want = end.saturating_sub(sumac::channel::webdav::DEFAULT_MAX_CLIENTS) * sumac::channel::webdav::HEADER_LEN;
        let ok = poll_until(Duration::from_secs(60), || {
            back += server.port_read(WEBDAV, Duration::from_millis(20)).len();
            back >= want
        });
        assert!(ok, "{back} bytes of close frames after {end} clients, not {want}");
    }
    server.port_write(WEBDAV, &flood[1_000_000 * FRAME..]);
    let all_back = poll_until(Duration::from_secs(120), || {
        back += server.port_read(WEBDAV, Duration::from_millis(50)).len();
        back >= refused
    });
    assert!(
        all_back && back == refused,
        "{back} bytes of close frames, not {refused}"
    );
    // The port opens again: every connection is dropped, and the folder is served again.
    server.port_event(WEBDAV, port_event::OPENED);
    let guest = server.webdav_guest(WEBDAV).unwrap();
    let (status, _, body) = http(guest.port(), "GET", "/still.txt", &[], b"");
    assert_eq!((status, body.as_slice()), (200, b"still here".as_slice()));
    // A request with a huge body is streamed, not buffered: 64 MiB in, one file out.
    let mut s = TcpStream::connect(("127.0.0.1", guest.port())).unwrap();
    let size = 64usize << 20;
    write!(
        s,
        "PUT /huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![0xa5u8; 1 << 20];
    for _ in 0..64 {
        s.write_all(&chunk).unwrap();
    }
    let mut reply = String::new();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    assert_eq!(
        std::fs::metadata(dir.path().join("huge.bin")).unwrap().len(),
        size as u64
    );
    assert!(session.running_channel_threads() > 0);
    drop(guest);
    session.disconnect();
}
