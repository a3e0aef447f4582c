//! The guest side of the WebDAV channel, as `spice-webdavd` plays it: a TCP
//! listener on 127.0.0.1 whose connections are multiplexed over the test
//! server's webdav channel (`{i64 client, u16 size, data}` frames, size 0
//! closes). Lets real HTTP clients (curl, litmus, davfs2) talk to the SPICE
//! client's WebDAV server without a guest.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use sumac::channel::webdav::{HEADER_LEN, encode_close, encode_data};
use sumac::proto::ChannelType;
use sumac::proto::channel::vmc::VmcServer;

use crate::ports::PortOut;
use crate::{Inner, TestServer};

/// A running guest-side mux; stops when dropped.
pub struct WebdavGuest {
    port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    clients: Arc<Mutex<HashMap<i64, TcpStream>>>,
}

impl std::fmt::Debug for WebdavGuest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebdavGuest")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts spice-webdavd's role on `channel` (a webdav channel): HTTP on
    /// `http://127.0.0.1:{WebdavGuest::port}/` reaches the client's folder.
    pub fn webdav_guest(&self, channel: (ChannelType, u8)) -> Result<WebdavGuest> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("bind the webdav guest port")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Arc<Mutex<HashMap<i64, TcpStream>>> = Arc::default();
        let next_id = Arc::new(AtomicI64::new(1));
        let mut threads = Vec::new();
        {
            let (inner, stop, clients) = (Arc::clone(&self.inner), Arc::clone(&stop), Arc::clone(&clients));
            threads.push(
                std::thread::Builder::new()
                    .name("webdav-guest-accept".into())
                    .spawn(move || accept(&inner, channel, &listener, &stop, &clients, &next_id))?,
            );
        }
        {
            let (inner, stop, clients) = (Arc::clone(&self.inner), Arc::clone(&stop), Arc::clone(&clients));
            threads.push(
                std::thread::Builder::new()
                    .name("webdav-guest-demux".into())
                    .spawn(move || demux(&inner, channel, &stop, &clients))?,
            );
        }
        Ok(WebdavGuest {
            port,
            stop,
            threads,
            clients,
        })
    }
}

impl WebdavGuest {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        lock(&self.clients).len()
    }
}

impl Drop for WebdavGuest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for (_, s) in lock(&self.clients).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn send_frame(inner: &Inner, channel: (ChannelType, u8), frame: Vec<u8>) {
    inner.ports.queue(channel, PortOut::Message(VmcServer::Data(frame)));
}

fn accept(
    inner: &Arc<Inner>,
    channel: (ChannelType, u8),
    listener: &TcpListener,
    stop: &Arc<AtomicBool>,
    clients: &Arc<Mutex<HashMap<i64, TcpStream>>>,
    next_id: &AtomicI64,
) {
    let mut readers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => break,
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        let id = next_id.fetch_add(1, Ordering::SeqCst);
        let Ok(writer) = stream.try_clone() else { continue };
        lock(clients).insert(id, writer);
        let (inner, clients) = (Arc::clone(inner), Arc::clone(clients));
        readers.push(std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = vec![0u8; u16::MAX as usize];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut frame = Vec::with_capacity(n + HEADER_LEN);
                        encode_data(id, &buf[..n], &mut frame);
                        send_frame(&inner, channel, frame);
                    }
                }
            }
            // Closed by the HTTP client (or by the demux, which removed it first).
            if lock(&clients).remove(&id).is_some() {
                send_frame(&inner, channel, encode_close(id).to_vec());
            }
        }));
        readers.retain(|r: &JoinHandle<()>| !r.is_finished());
    }
    for (_, s) in lock(clients).drain() {
        let _ = s.shutdown(Shutdown::Both);
    }
    for r in readers {
        let _ = r.join();
    }
}

fn demux(
    inner: &Arc<Inner>,
    channel: (ChannelType, u8),
    stop: &Arc<AtomicBool>,
    clients: &Arc<Mutex<HashMap<i64, TcpStream>>>,
) {
    let mut buf: Vec<u8> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let bytes = inner.ports.take_received(channel, Duration::from_millis(50));
        buf.extend_from_slice(&bytes);
        let mut at = 0;
        while buf.len() - at >= HEADER_LEN {
            let id = i64::from_le_bytes(buf[at..at + 8].try_into().unwrap_or_default());
            let size = usize::from(u16::from_le_bytes([buf[at + 8], buf[at + 9]]));
            if buf.len() - at < HEADER_LEN + size {
                break;
            }
            let data = &buf[at + HEADER_LEN..at + HEADER_LEN + size];
            at += HEADER_LEN + size;
            let mut clients = lock(clients);
            if size == 0 {
                // The client's server closed this connection.
                if let Some(s) = clients.remove(&id) {
                    let _ = s.shutdown(Shutdown::Both);
                }
            } else if let Some(s) = clients.get_mut(&id)
                && s.write_all(data).is_err()
            {
                clients.remove(&id);
                send_frame(inner, channel, encode_close(id).to_vec());
            }
        }
        buf.drain(..at);
    }
}
