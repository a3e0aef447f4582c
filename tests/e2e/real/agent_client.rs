//! A Sumac client for the real-agent tests: connects, waits for the agent's capabilities, and
//! keeps a thread that reads the session's events, answers the guest's clipboard requests from a
//! table (so that a test can block on a guest `xclip -o` meanwhile) and queues the rest with the
//! time they arrived.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sumac::client::agent::{
    AgentEvent, AgentHandle, AgentInfo, AgentOptions, ClipType, Selection, TransferId, TransferOutcome,
};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::display::DisplayEvent;

/// What the event thread keeps for the test.
#[derive(Debug, Clone)]
pub enum Ev {
    Agent(AgentEvent),
    /// Display 0's first head or primary surface is now W×H.
    Display(u32, u32),
    AgentGone,
    Ended,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(Instant, Ev)>>,
    cond: Condvar,
    /// Data served for the guest's pastes.
    serve: Mutex<BTreeMap<(Selection, ClipType), Vec<u8>>>,
    /// When the last paste was served.
    served: Mutex<Vec<Instant>>,
}

pub struct AgentClient {
    pub session: Option<SessionHandle>,
    pub agent: AgentHandle,
    pub info: AgentInfo,
    shared: Arc<Shared>,
    pump: Option<std::thread::JoinHandle<()>>,
}

impl AgentClient {
    /// Connects to `uri` and waits (up to `timeout`) for the agent's capabilities.
    pub fn connect(uri: &str, options: AgentOptions, timeout: Duration) -> Self {
        let opts = SessionOptions {
            agent: options,
            ..SessionOptions::default()
        };
        let (session, mut rx) = sumac::client::connect(ConnectionConfig::from_uri(uri).unwrap(), opts).unwrap();
        let agent = session.agent();
        let shared = Arc::new(Shared::default());
        let (s, a) = (Arc::clone(&shared), agent.clone());
        let pump = std::thread::Builder::new()
            .name("agent-test-events".into())
            .spawn(move || {
                while let Some(e) = rx.blocking_recv() {
                    let ev = match e {
                        SessionEvent::Agent(AgentEvent::ClipboardWanted { selection, clip_type }) => {
                            let data = s.serve.lock().unwrap().get(&(selection, clip_type)).cloned();
                            let _ = match data {
                                Some(d) => a.clipboard_data(selection, clip_type, d),
                                None => a.clipboard_no_data(selection),
                            };
                            s.served.lock().unwrap().push(Instant::now());
                            continue;
                        }
                        SessionEvent::Agent(e) => Ev::Agent(e),
                        SessionEvent::Monitors { channel_id: 0, heads } => match heads.first() {
                            Some(h) => Ev::Display(h.width, h.height),
                            None => continue,
                        },
                        SessionEvent::Display {
                            channel_id: 0,
                            event:
                                DisplayEvent::SurfaceCreated {
                                    width,
                                    height,
                                    primary: true,
                                    ..
                                },
                        } => Ev::Display(width, height),
                        SessionEvent::AgentConnected(false) => Ev::AgentGone,
                        SessionEvent::Disconnected { .. } => Ev::Ended,
                        _ => continue,
                    };
                    s.queue.lock().unwrap().push_back((Instant::now(), ev));
                    s.cond.notify_all();
                }
            })
            .unwrap();
        let mut c = Self {
            session: Some(session),
            agent,
            info: AgentInfo {
                agent_caps: Default::default(),
                negotiated: Default::default(),
                line_end: None,
                max_clipboard: 0,
            },
            shared,
            pump: Some(pump),
        };
        let (_, ready) = c.wait_for(timeout, |e| matches!(e, Ev::Agent(AgentEvent::Ready(_))));
        let Ev::Agent(AgentEvent::Ready(info)) = ready else {
            unreachable!()
        };
        c.info = info;
        c
    }

    /// The next queued event matching `f` (earlier non-matching ones are dropped), with its
    /// arrival time; panics after `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, f: impl Fn(&Ev) -> bool) -> (Instant, Ev) {
        self.try_wait_for(timeout, f)
            .unwrap_or_else(|| panic!("no matching event within {timeout:?}"))
    }

    pub fn try_wait_for(&mut self, timeout: Duration, f: impl Fn(&Ev) -> bool) -> Option<(Instant, Ev)> {
        let until = Instant::now() + timeout;
        let mut q = self.shared.queue.lock().unwrap();
        loop {
            while let Some((at, e)) = q.pop_front() {
                if let Ev::Ended = e {
                    panic!("the session ended");
                }
                if f(&e) {
                    return Some((at, e));
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            q = self.shared.cond.wait_timeout(q, left).unwrap().0;
        }
    }

    /// Waits for the guest's grab of `selection` offering `clip_type`.
    pub fn wait_grab(&mut self, selection: Selection, clip_type: ClipType, timeout: Duration) -> Instant {
        self.wait_for(timeout, |e| {
            matches!(e, Ev::Agent(AgentEvent::ClipboardGrab { selection: s, types }) if *s == selection && types.contains(&clip_type))
        })
        .0
    }

    /// Asks for the guest's data; returns it and how long the answer took.
    pub fn paste(&mut self, selection: Selection, clip_type: ClipType, timeout: Duration) -> (Vec<u8>, Duration) {
        let start = Instant::now();
        let id = self.agent.clipboard_request(selection, clip_type).unwrap();
        let (at, e) = self.wait_for(timeout, |e| {
            matches!(e, Ev::Agent(AgentEvent::ClipboardData { request, .. } | AgentEvent::ClipboardFailed { request, .. }) if *request == id)
        });
        match e {
            Ev::Agent(AgentEvent::ClipboardData { data, .. }) => (data, at - start),
            other => panic!("clipboard request failed: {other:?}"),
        }
    }

    /// Asks for the guest's data and returns the failure it must end with.
    pub fn paste_fails(&mut self, selection: Selection, clip_type: ClipType, timeout: Duration) -> AgentEvent {
        let id = self.agent.clipboard_request(selection, clip_type).unwrap();
        let (_, e) = self.wait_for(timeout, |e| {
            matches!(e, Ev::Agent(AgentEvent::ClipboardData { request, .. } | AgentEvent::ClipboardFailed { request, .. }) if *request == id)
        });
        match e {
            Ev::Agent(e @ AgentEvent::ClipboardFailed { .. }) => e,
            other => panic!("the request should have failed: {other:?}"),
        }
    }

    /// Grabs `selection` with one type and serves `data` for the guest's pastes.
    pub fn copy(&mut self, selection: Selection, clip_type: ClipType, data: Vec<u8>) {
        self.shared.serve.lock().unwrap().insert((selection, clip_type), data);
        self.shared.served.lock().unwrap().clear();
        self.agent.clipboard_grab(selection, &[clip_type]).unwrap();
    }

    /// Pastes served so far since the last [`copy`](Self::copy).
    pub fn served(&self) -> Vec<Instant> {
        self.shared.served.lock().unwrap().clone()
    }

    /// Sends files and waits for each outcome; returns them in order, with the total time.
    pub fn send_files(&mut self, paths: &[&Path], timeout: Duration) -> (Vec<TransferOutcome>, Duration) {
        let start = Instant::now();
        let ids: Vec<TransferId> = paths.iter().map(|p| self.agent.send_file(p).unwrap()).collect();
        let mut outcomes: BTreeMap<TransferId, TransferOutcome> = BTreeMap::new();
        while outcomes.len() < ids.len() {
            let (_, e) = self.wait_for(timeout, |e| matches!(e, Ev::Agent(AgentEvent::FileDone { .. })));
            if let Ev::Agent(AgentEvent::FileDone { id, outcome }) = e {
                outcomes.insert(id, outcome);
            }
        }
        let took = start.elapsed();
        (ids.iter().map(|id| outcomes[id].clone()).collect(), took)
    }

    /// Waits until display 0 is `w`×`h` (a new primary surface or monitors config).
    pub fn wait_display(&mut self, w: u32, h: u32, timeout: Duration) -> bool {
        self.try_wait_for(timeout, |e| matches!(e, Ev::Display(a, b) if (*a, *b) == (w, h)))
            .is_some()
    }
}

impl Drop for AgentClient {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            s.disconnect();
        }
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

/// `n` bytes of text with LF line ends (80-column lines of printable ASCII).
pub fn text(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            if i % 81 == 80 {
                b'\n'
            } else {
                b' ' + (i % 81 % 95) as u8
            }
        })
        .collect()
}

/// A `w`×`h` RGB test pattern encoded as PNG, and its pixels.
pub fn png_pattern(w: u32, h: u32) -> (Vec<u8>, Vec<u8>) {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&[(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&rgb).unwrap();
    }
    (out, rgb)
}

/// The RGB pixels of a PNG (alpha dropped), with its size.
pub fn png_pixels(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = info.color_type.samples();
    let mut rgb = Vec::new();
    for row in buf.chunks(info.line_size).take(info.height as usize) {
        for px in row[..info.width as usize * channels].chunks_exact(channels) {
            match channels {
                1 | 2 => rgb.extend_from_slice(&[px[0]; 3]),
                _ => rgb.extend_from_slice(&px[..3]),
            }
        }
    }
    (info.width, info.height, rgb)
}

/// The SHA-256 of a host file (`sha256sum`).
pub fn sha256_host(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `size` pseudo-random bytes (a fixed xorshift sequence).
pub fn random_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}
