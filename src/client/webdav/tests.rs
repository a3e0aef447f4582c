//! The WebDAV endpoint driven as the channel's thread drives it, with the
//! guest's side of the mux played by the test: real HTTP through dav-server.

use std::time::{Duration, Instant};

use super::*;
use crate::channel::webdav::encode_data;
use crate::client::sharing::SharedFolder;
use crate::proto::ChannelType;

struct Guest {
    ep: WebdavEndpoint,
    share: FolderShare,
    inbox: Arc<tokio::sync::Notify>,
    replies: Mux,
    out: Outputs,
}

/// What the guest received on one connection.
#[derive(Debug, Default)]
struct Reply {
    bytes: Vec<u8>,
    closed: bool,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    fn status(&self) -> u16 {
        self.text().split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
    fn body(&self) -> &[u8] {
        let at = self
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4);
        &self.bytes[at..]
    }
}

impl Guest {
    fn new(folder: &std::path::Path, read_only: bool) -> Self {
        let inbox = Arc::new(tokio::sync::Notify::new());
        let key = ChannelKey::new(ChannelType::WEBDAV, 0);
        let share = FolderShare::new(Some(SharedFolder::new(folder, read_only)));
        let mut ep = WebdavEndpoint::new(key, &share, Arc::clone(&inbox)).unwrap();
        let mut out = Outputs::new();
        ep.port(
            PortEvent::Init {
                name: b"org.spice-space.webdav.0".to_vec(),
                opened: true,
            },
            &mut out,
        );
        Self {
            ep,
            share,
            inbox,
            replies: Mux::new(usize::MAX),
            out,
        }
    }

    /// The frames the endpoint has to send now, which must all be close
    /// frames: their client ids.
    fn closes(&mut self) -> Vec<i64> {
        let mut ids = Vec::new();
        for o in self.ep.outgoing(&Ctx::new(Instant::now(), 0), &mut self.out) {
            let VmcOut::Data(d) = o else { continue };
            for frame in d.chunks(crate::channel::webdav::HEADER_LEN) {
                let (id, size) = frame.split_at(8);
                assert_eq!(size, [0, 0], "only close frames: {d:?}");
                ids.push(i64::from_le_bytes(id.try_into().unwrap()));
            }
        }
        ids
    }

    fn send(&mut self, client: i64, bytes: &[u8]) {
        let mut frames = Vec::new();
        encode_data(client, bytes, &mut frames);
        assert_eq!(self.ep.received(&frames, &mut self.out), Accept::Taken);
    }

    /// Sends one request on a new connection and collects the reply until
    /// the server closes it (every request says `Connection: close`).
    fn request(&mut self, client: i64, request: &str) -> Reply {
        self.request_bytes(client, request.as_bytes())
    }

    fn request_bytes(&mut self, client: i64, request: &[u8]) -> Reply {
        self.send(client, request);
        let mut reply = Reply::default();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reply.closed {
            assert!(Instant::now() < deadline, "no complete reply: {}", reply.text());
            let ctx = Ctx::new(Instant::now(), 0);
            for o in self.ep.outgoing(&ctx, &mut self.out) {
                let VmcOut::Data(d) = o else { continue };
                let mut actions = Vec::new();
                self.replies.feed(&d, &mut actions);
                for a in actions {
                    match a {
                        MuxAction::Data(c, b) if c == client => reply.bytes.extend_from_slice(&b),
                        MuxAction::Close(c) if c == client => reply.closed = true,
                        _ => {}
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        reply
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello from the host\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(dir.path().join("sub/big.bin"), big).unwrap();
    dir
}

#[test]
fn propfind_and_get_through_the_mux() {
    let dir = folder();
    let mut g = Guest::new(dir.path(), false);
    let r = g.request(
        1,
        "PROPFIND / HTTP/1.1\r\nHost: localhost\r\nDepth: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status(), 207, "{}", r.text());
    assert!(
        r.text().contains("hello.txt") && r.text().contains("sub/"),
        "{}",
        r.text()
    );
    let r = g.request(2, &get("/hello.txt"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), b"hello from the host\n");
    let r = g.request(3, &get("/sub/big.bin"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), std::fs::read(dir.path().join("sub/big.bin")).unwrap());
    // PUT writes; the connections are gone and nothing stays counted.
    let r = g.request(
        4,
        "PUT /new.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde",
    );
    assert_eq!(r.status(), 201, "{}", r.text());
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"abcde");
    g.ep.forget_ended();
    assert!(g.ep.clients.is_empty());
    assert_eq!(g.ep.link.inbound_bytes(), 0);
    g.ep.closed();
}

#[test]
fn read_only_refuses_writes() {
    let dir = folder();
    let mut g = Guest::new(dir.path(), true);
    let put = "PUT /new.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde";
    let del = "DELETE /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mv = "MOVE /hello.txt HTTP/1.1\r\nHost: localhost\r\nDestination: http://localhost/moved.txt\r\nConnection: close\r\n\r\n";
    let mkcol = "MKCOL /dir HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for (i, req) in [put, del, mv, mkcol].into_iter().enumerate() {
        let r = g.request(i as i64 + 1, req);
        assert!(r.status() >= 400, "{req}: {}", r.text());
    }
    assert!(!dir.path().join("new.txt").exists());
    assert!(dir.path().join("hello.txt").exists());
    assert!(!dir.path().join("moved.txt").exists() && !dir.path().join("dir").exists());
    assert_eq!(g.request(9, &get("/hello.txt")).status(), 200);
}

#[test]
fn nothing_outside_the_folder_is_served() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"top secret").unwrap();
    let dir = folder();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("secret-link")).unwrap();
    let mut g = Guest::new(dir.path(), false);
    let name = outside.path().file_name().unwrap().to_string_lossy().into_owned();
    let attempts = [
        get("/escape/secret"),
        get("/secret-link"),
        get("/../secret"),
        get(&format!("/sub/../../{name}/secret")),
        get(&format!("/..%2f{name}%2fsecret")),
        get(&format!("/%2e%2e/{name}/secret")),
        get("/sub%2f..%2f..%2fetc%2fpasswd"),
        "PUT /escape/planted HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx".to_owned(),
    ];
    for (i, req) in attempts.iter().enumerate() {
        let r = g.request(100 + i as i64, req);
        assert!(r.status() >= 400, "{req}: {}", r.text());
        assert!(!r.text().contains("top secret"), "{req}");
    }
    assert!(!outside.path().join("planted").exists());
    for (id, dir) in [(200, "/"), (201, "/sub/")] {
        let r = g.request(
            id,
            &format!("PROPFIND {dir} HTTP/1.1\r\nHost: localhost\r\nDepth: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(r.status(), 207);
        assert!(
            !r.text().contains("escape") && !r.text().contains("secret"),
            "{}",
            r.text()
        );
    }
    assert_eq!(g.request(202, &get("/escape/")).status(), 404);
}

#[test]
fn a_flood_of_guest_bytes_is_refused_until_drained() {
    let dir = folder();
    let mut g = Guest::new(dir.path(), false);
    // A PUT whose body arrives faster than the server takes it: the endpoint
    // refuses past its bound, and takes more once the connection drained.
    let size = 8 << 20;
    let head =
        format!("PUT /flood.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
    g.send(1, head.as_bytes());
    let chunk = vec![0x5au8; 60_000];
    let mut frames = Vec::new();
    encode_data(1, &chunk, &mut frames);
    let mut sent = 0usize;
    let mut refused = 0u32;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent < size {
        assert!(Instant::now() < deadline);
        let n = chunk.len().min(size - sent);
        let mut f = Vec::new();
        encode_data(1, &chunk[..n], &mut f);
        match g.ep.received(&f, &mut g.out) {
            Accept::Taken => sent += n,
            Accept::Full => {
                refused += 1;
                assert!(g.ep.link.inbound_bytes() <= server::MAX_INBOUND + frames.len());
                // The channel waits for its inbox: the connection's progress wakes it.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(10), g.inbox.notified()).await;
                });
            }
        }
    }
    assert!(refused > 0, "8 MiB never filled the 1 MiB queue");
    let mut reply = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut closed = false;
    while !closed {
        assert!(Instant::now() < deadline);
        for o in g.ep.outgoing(&Ctx::new(Instant::now(), 0), &mut g.out) {
            let VmcOut::Data(d) = o else { continue };
            let mut actions = Vec::new();
            g.replies.feed(&d, &mut actions);
            for a in actions {
                match a {
                    MuxAction::Data(1, b) => reply.extend_from_slice(&b),
                    MuxAction::Close(1) => closed = true,
                    _ => {}
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 201"));
    assert_eq!(
        std::fs::metadata(dir.path().join("flood.bin")).unwrap().len(),
        size as u64
    );
}

#[test]
fn port_events_drop_every_connection() {
    let dir = folder();
    let mut g = Guest::new(dir.path(), false);
    // An unfinished request keeps its connection open.
    g.send(5, b"GET /hello.txt HTTP/1.1\r\nHost: loc");
    assert_eq!(g.ep.clients.len(), 1);
    g.ep.port(PortEvent::Event(port_event::OPENED), &mut g.out);
    assert!(g.ep.clients.is_empty());
    assert_eq!(g.ep.mux.client_count(), 0);
    // The same id is a new connection afterwards.
    let r = g.request(5, &get("/hello.txt"));
    assert_eq!(r.status(), 200);
}

fn propfind(depth: u8) -> String {
    format!(
        "PROPFIND / HTTP/1.1\r\nHost: localhost\r\nDepth: {depth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

#[test]
fn the_shared_folder_changes_while_connected() {
    let first = folder();
    let second = tempfile::tempdir().unwrap();
    std::fs::write(second.path().join("other.txt"), b"the second folder\n").unwrap();
    let mut g = Guest::new(first.path(), false);
    let r = g.request(1, &propfind(1));
    assert!(r.text().contains("hello.txt"), "{}", r.text());
    // A connection in the middle of a request when the folder changes.
    g.send(7, b"GET /hello.txt HTTP/1.1\r\nHost: loc");
    assert_eq!(g.ep.clients.len(), 1);

    g.share.set(Some(SharedFolder::new(second.path(), false)));
    // The change wakes the channel, whose next turn drops the connection with a close frame.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), g.inbox.notified())
            .await
            .expect("the channel woken by the change")
    });
    assert_eq!(g.closes(), [7], "the open connection is closed");
    assert!(g.ep.clients.is_empty() && g.ep.mux.client_count() == 0);
    // The next PROPFIND lists the new folder, not the old one.
    let r = g.request(2, &propfind(1));
    assert_eq!(r.status(), 207, "{}", r.text());
    assert!(
        r.text().contains("other.txt") && !r.text().contains("hello.txt"),
        "{}",
        r.text()
    );
    assert_eq!(g.request(3, &get("/other.txt")).body(), b"the second folder\n");
    assert_eq!(g.request(4, &get("/hello.txt")).status(), 404);

    // Read-only turned on: PUT fails, GET still works; off again: PUT works.
    let put = |name: &str| {
        format!("PUT /{name} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    };
    g.share.set(Some(SharedFolder::new(second.path(), true)));
    let r = g.request(5, &put("ro.txt"));
    assert!(r.status() >= 400, "{}", r.text());
    assert!(!second.path().join("ro.txt").exists());
    assert_eq!(g.request(6, &get("/other.txt")).status(), 200);
    g.share.set(Some(SharedFolder::new(second.path(), false)));
    assert_eq!(g.request(8, &put("rw.txt")).status(), 201);
    assert_eq!(std::fs::read(second.path().join("rw.txt")).unwrap(), b"ok");

    // Sharing off: every request fails, the connection closed without a byte.
    g.share.set(None);
    for (id, req) in [(9, propfind(1)), (10, get("/other.txt"))] {
        let r = g.request(id, &req);
        assert!(r.closed && r.status() == 503 && r.body().is_empty(), "{}", r.text());
    }
    assert!(g.ep.clients.is_empty());
    // And on again, with the first folder.
    g.share.set(Some(SharedFolder::new(first.path(), false)));
    let r = g.request(11, &propfind(1));
    assert!(r.text().contains("hello.txt"), "{}", r.text());
    g.ep.closed();
}

#[test]
fn a_folder_that_cannot_be_opened_serves_nothing() {
    let dir = folder();
    let mut g = Guest::new(dir.path(), false);
    g.share
        .set(Some(SharedFolder::new(dir.path().join("no-such-folder"), false)));
    let r = g.request(1, &propfind(1));
    assert!(r.closed && r.status() == 503, "{}", r.text());
}
