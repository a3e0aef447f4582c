//! A TCP fault proxy for tests: it forwards every connection it accepts to
//! an upstream address and can, at any moment,
//!
//! * delay each direction ([`FaultProxy::set_delay`]: half the round trip),
//! * cap each direction's bandwidth ([`FaultProxy::set_bandwidth`]),
//! * blackhole traffic for a while ([`FaultProxy::blackhole`]): nothing is
//!   read nor written in either direction, then the held bytes flow again
//!   in order (a network that stops and comes back; TCP itself stays up
//!   between the client and the proxy, so only the application sees it),
//! * reset every connection ([`FaultProxy::reset_all`]: RST, as a crashed
//!   middlebox),
//! * refuse new connections ([`FaultProxy::set_refusing`]: the server is down),
//! * send new connections elsewhere ([`FaultProxy::set_upstream`]: the server
//!   was restarted on another port).
//!
//! Each connection runs four threads (a reader and a writer per direction);
//! the writer holds each chunk until its delivery time: arrival + delay, then
//! one after the other at the bandwidth cap. Everything is stopped and
//! joined when the proxy is dropped.

use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the proxy does to traffic now.
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    /// One-way delay added to every chunk.
    delay: Duration,
    /// Bytes per second per direction (0: unlimited).
    bandwidth: u64,
    /// Nothing moves before this instant.
    blackhole_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Faults>,
    /// Wakes writers when the faults change.
    changed: Condvar,
    stop: AtomicBool,
    refusing: AtomicBool,
    /// Connections accepted so far.
    accepted: AtomicU64,
    upstream: Mutex<Option<SocketAddr>>,
    /// Sockets of every open connection (both ends), to reset them.
    open: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Blocks while a blackhole lasts (or until stop).
    fn wait_blackhole(&self) {
        let mut f = self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(until) = f.blackhole_until {
            let now = Instant::now();
            if now >= until || self.stopping() {
                break;
            }
            f = self
                .changed
                .wait_timeout(f, (until - now).min(Duration::from_millis(100)))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// A running fault proxy; stops (closing every connection) when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    port: u16,
    /// The listening socket, shut down to wake the accept loop when the
    /// proxy stops (a connection to its address cannot do it once that
    /// address is gone, e.g. a test's namespace link removed first).
    listener: TcpListener,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port)
            .field("faults", &self.shared.faults())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        Self::start_on(0, upstream)
    }

    /// Listens on 127.0.0.1:`port` (0: a free one) and forwards to `upstream`.
    pub fn start_on(port: u16, upstream: SocketAddr) -> Result<Self> {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], port)), upstream)
    }

    /// Listens on `listen` (port 0: a free one) and forwards to `upstream`.
    pub fn start_at(listen: SocketAddr, upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(listen).context("bind the fault proxy")?;
        let port = listener.local_addr()?.port();
        let waker = listener.try_clone().context("clone the fault proxy's listener")?;
        let shared = Arc::new(Shared::default());
        *shared
            .upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(upstream);
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (s, c) = (Arc::clone(&shared), Arc::clone(&conns));
        let accept = std::thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(&s, &c, &listener))?;
        Ok(Self {
            shared,
            port,
            listener: waker,
            accept: Some(accept),
            conns,
        })
    }

    /// New connections go to `upstream` from now on (open ones stay where they are).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(upstream);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    fn update(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self
            .shared
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
        self.shared.changed.notify_all();
    }

    /// Adds `one_way` to each direction (a round trip of twice that).
    pub fn set_delay(&self, one_way: Duration) {
        self.update(|f| f.delay = one_way);
    }

    /// Caps each direction at `bits_per_second` (0: no cap).
    pub fn set_bandwidth(&self, bits_per_second: u64) {
        self.update(|f| f.bandwidth = bits_per_second / 8);
    }

    /// Nothing moves in either direction for `length`, then the held bytes go on.
    pub fn blackhole(&self, length: Duration) {
        self.update(|f| f.blackhole_until = Some(Instant::now() + length));
    }

    /// Ends a blackhole now.
    pub fn end_blackhole(&self) {
        self.update(|f| f.blackhole_until = None);
    }

    /// New connections are accepted and reset at once (the server is down).
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Resets every open connection (RST on both sides).
    pub fn reset_all(&self) {
        let open: Vec<TcpStream> = std::mem::take(
            &mut *self
                .shared
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for s in open {
            reset(&s);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // accept() returns at once on a listening socket shut down (Linux).
        let _ = socket2::SockRef::from(&self.listener).shutdown(Shutdown::Read);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        self.reset_all();
        let conns: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for c in conns {
            let _ = c.join();
        }
    }
}

/// Closes `s` with an RST (linger 0) rather than a FIN.
fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    let _ = s.shutdown(Shutdown::Both);
}

fn accept_loop(shared: &Arc<Shared>, conns: &Mutex<Vec<JoinHandle<()>>>, listener: &TcpListener) {
    for client in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.refusing.load(Ordering::SeqCst) {
            reset(&client);
            continue;
        }
        let upstream = *shared
            .upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(Ok(server)) = upstream.map(|u| TcpStream::connect_timeout(&u, Duration::from_secs(5))) else {
            // The server is down: the client sees a reset.
            reset(&client);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        {
            let mut open = shared.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for s in [&client, &server] {
                if let Ok(c) = s.try_clone() {
                    open.push(c);
                }
            }
        }
        let mut handles = Vec::new();
        for (from, to, name) in [(&client, &server, "up"), (&server, &client, "down")] {
            let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                continue;
            };
            handles.extend(pump(Arc::clone(shared), from, to, name));
        }
        conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(handles);
    }
}

/// Chunks waiting for their delivery time, and the writer's wake-up.
type Queue = Arc<(Mutex<VecDeque<(Instant, Vec<u8>)>>, Condvar)>;

/// One direction: a reader queueing chunks, a writer delivering them on time.
fn pump(shared: Arc<Shared>, mut from: TcpStream, mut to: TcpStream, name: &str) -> Vec<JoinHandle<()>> {
    let queue: Queue = Arc::default();
    let closed = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let (s, q, c) = (Arc::clone(&shared), Arc::clone(&queue), Arc::clone(&closed));
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    if let Ok(h) = std::thread::Builder::new()
        .name(format!("fault-{name}-read"))
        .spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            let mut next_free = Instant::now();
            loop {
                s.wait_blackhole();
                if s.stopping() {
                    break;
                }
                match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let f = s.faults();
                        let arrival = Instant::now() + f.delay;
                        // Serialised at the bandwidth cap after the delay.
                        let start = arrival.max(next_free);
                        let tx = if f.bandwidth > 0 {
                            Duration::from_secs_f64(n as f64 / f.bandwidth as f64)
                        } else {
                            Duration::ZERO
                        };
                        next_free = start + tx;
                        let (lock, cv) = &*q;
                        lock.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push_back((next_free, buf[..n].to_vec()));
                        cv.notify_all();
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            c.store(true, Ordering::SeqCst);
            q.1.notify_all();
        })
    {
        handles.push(h);
    }
    let (s, q, c) = (shared, queue, closed);
    if let Ok(h) = std::thread::Builder::new()
        .name(format!("fault-{name}-write"))
        .spawn(move || {
            loop {
                let item = {
                    let (lock, cv) = &*q;
                    let mut items = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    loop {
                        if s.stopping() {
                            return;
                        }
                        if let Some(i) = items.pop_front() {
                            break Some(i);
                        }
                        if c.load(Ordering::SeqCst) {
                            break None;
                        }
                        items = cv
                            .wait_timeout(items, Duration::from_millis(50))
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0;
                    }
                };
                let Some((at, bytes)) = item else {
                    // The other side closed and everything was delivered.
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                };
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                s.wait_blackhole();
                if s.stopping() || to.write_all(&bytes).is_err() {
                    return;
                }
            }
        })
    {
        handles.push(h);
    }
    handles
}
