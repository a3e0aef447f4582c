//! The sound device back-end (feature `audio`): cpal's default host (ALSA
//! on Linux; PulseAudio and PipeWire are reached through their ALSA
//! plugins), default output and input devices.
//!
//! Each sink and source owns a thread (`sumac-audio-out`,
//! `sumac-audio-in`) that opens the device when a stream starts and closes
//! it when it stops; cpal's callback runs on the device's own thread. The
//! channel thread only pushes samples into (or pops them from) a bounded
//! lock-free ring (`rtrb`) and sends commands over a channel: it never
//! waits for the device. Underruns play silence (and are counted); when the
//! ring is full the newest samples are dropped (and counted).
//!
//! The device is asked for about 100 ms of buffer (cpal's period of 50 ms,
//! two buffered; ALSA's PulseAudio plugin makes it three periods of 1600
//! frames), within the range the device reports: fewer callbacks cost less
//! than its own periods of 1024 frames, and a deeper buffer is meant to ride
//! out a loaded machine's stalls (BENCHMARKS.md: not shown yet). `SUMAC_AUDIO_PERIOD_MS` asks for another period (0: the
//! device's own). When the device runs at the stream's rate and channels the
//! samples go from the ring to the device as they are (volume applied),
//! without the converter. A backlog in the ring (the device opened late, or
//! fell behind real time on a loaded machine: PulseAudio then plays the rest
//! later) is cut back once it exceeds 200 ms beyond the server's latency
//! hint, so the latency stays bounded instead of growing to the ring's
//! second; not in a stream's first 5 s (a short sound, or the start of one,
//! is never cut; see `backlog`).
//!
//! The output thread sleeps until a command comes: START, STOP, or an error
//! the device's error callback sends (it reopens the device); it polls only
//! while a stopped stream drains. An underrun of the device itself (an ALSA
//! xrun: the callback came too late) is only counted, cpal recovers from it.
//!
//! The delay the sink reports is what the ring holds plus the device's own
//! output delay, measured in every callback from cpal's timestamps (the
//! time between the callback and the predicted playback of its first
//! frame: ALSA's delay, which counts the whole device buffer, so a larger
//! buffer moves the multimedia clock with it). Without a device (CI,
//! servers, containers) the thread logs one line, the sink reports no delay
//! and plays nowhere; the session goes on.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample};

use super::convert::{Converter, MAX_CHANNELS, to_f32, to_i16};
use crate::channel::audio::{AudioBackend, AudioSink, AudioSource, PcmFormat, SinkStats, apply_volume};

mod backlog;
mod config;
mod input;
use backlog::backlog_cut;
use config::{choose, period_frames};
pub use input::DeviceSource;

/// Ring capacity, in seconds of audio.
const RING_SECONDS: u32 = 1;
/// Audio buffered before the device starts consuming (after a start or an underrun): more
/// than the playback channel's read pause ([`READ_PAUSE`](crate::channel::playback::READ_PAUSE),
/// packets come in bursts of two or three) plus a little jitter.
const PREBUFFER_MS: u32 = 50;
/// Longest a stopped stream drains before its device is closed.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// How often the output thread looks whether a stopped stream has drained.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// The default output and input devices.
#[derive(Debug, Clone, Default)]
pub struct DeviceBackend;

impl DeviceBackend {
    pub fn new() -> Self {
        Self
    }
}

impl AudioBackend for DeviceBackend {
    fn open_sink(&self) -> Option<Box<dyn AudioSink>> {
        DeviceSink::new().map(|s| Box::new(s) as Box<dyn AudioSink>)
    }

    fn open_source(&self) -> Option<Box<dyn AudioSource>> {
        DeviceSource::new().map(|s| Box::new(s) as Box<dyn AudioSource>)
    }
}

/// Volume and mute as the device callbacks read them.
#[derive(Debug)]
struct Gain {
    volume: [AtomicU32; 2],
    mute: AtomicBool,
}

impl Default for Gain {
    fn default() -> Self {
        Self {
            volume: [AtomicU32::new(65535), AtomicU32::new(65535)],
            mute: AtomicBool::new(false),
        }
    }
}

impl Gain {
    fn set_volume(&self, v: &[u16]) {
        for (i, slot) in self.volume.iter().enumerate() {
            let val = v.get(i).or(v.last()).copied().unwrap_or(u16::MAX);
            slot.store(u32::from(val), Ordering::Relaxed);
        }
    }

    fn volume(&self) -> [u16; 2] {
        self.volume
            .each_ref()
            .map(|a| u16::try_from(a.load(Ordering::Relaxed)).unwrap_or(u16::MAX))
    }
}

/// What the output thread and callback share with the sink.
#[derive(Debug, Default)]
struct OutShared {
    gain: Gain,
    /// The device is open and playing.
    open: AtomicBool,
    /// The stream stopped: play what is left without prebuffering.
    draining: AtomicBool,
    /// The callback found the ring empty after draining.
    drained: AtomicBool,
    /// The device reported an error: the output thread reopens it.
    failed: AtomicBool,
    /// Device output delay, µs.
    device_delay_us: AtomicU64,
    /// The server's PLAYBACK LATENCY hint, ms: never cut the backlog below it.
    latency_hint_ms: AtomicU32,
    underruns: AtomicU64,
    /// Underruns of the device (ALSA xruns), which cpal recovers from.
    xruns: AtomicU64,
    /// Times a backlog was cut (its samples count as overflow).
    skipped: AtomicU64,
    played: AtomicU64,
    overflow: AtomicU64,
}

enum OutCmd {
    Start {
        format: PcmFormat,
        ring: rtrb::Consumer<i16>,
    },
    Stop,
    /// The device reported an error (sent by its error callback).
    Failed,
    /// The sink is dropped.
    Quit,
}

/// Plays on the default output device.
pub struct DeviceSink {
    cmd: Option<mpsc::Sender<OutCmd>>,
    shared: Arc<OutShared>,
    ring: Option<rtrb::Producer<i16>>,
    format: Option<PcmFormat>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DeviceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSink")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl DeviceSink {
    /// Starts the output thread (the device is opened at the first START).
    pub fn new() -> Option<Self> {
        let shared = Arc::new(OutShared::default());
        let (tx, rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let wake = tx.clone();
        let thread = std::thread::Builder::new()
            .name("sumac-audio-out".into())
            .spawn(move || output_thread(&rx, &wake, &thread_shared))
            .map_err(|e| tracing::warn!(error = %e, "cannot start the audio output thread"))
            .ok()?;
        Some(Self {
            cmd: Some(tx),
            shared,
            ring: None,
            format: None,
            thread: Some(thread),
        })
    }

    fn send(&self, c: OutCmd) {
        if let Some(tx) = &self.cmd {
            let _ = tx.send(c);
        }
    }
}

impl AudioSink for DeviceSink {
    fn start(&mut self, format: PcmFormat) {
        let samples = format
            .rate
            .saturating_mul(RING_SECONDS)
            .saturating_mul(u32::from(format.channels.max(1)));
        let (producer, consumer) = rtrb::RingBuffer::new(usize::try_from(samples).unwrap_or(96_000));
        self.ring = Some(producer);
        self.format = Some(format);
        self.shared.draining.store(false, Ordering::Relaxed);
        self.shared.drained.store(false, Ordering::Relaxed);
        self.send(OutCmd::Start { format, ring: consumer });
    }

    fn play(&mut self, samples: &[i16]) {
        let Some(ring) = self.ring.as_mut() else { return };
        let n = samples.len().min(ring.slots());
        if n < samples.len() {
            self.shared
                .overflow
                .fetch_add((samples.len() - n) as u64, Ordering::Relaxed);
        }
        if let Ok(chunk) = ring.write_chunk_uninit(n) {
            chunk.fill_from_iter(samples.iter().copied());
        }
    }

    fn stop(&mut self) {
        self.shared.draining.store(true, Ordering::Relaxed);
        self.ring = None;
        self.format = None;
        self.send(OutCmd::Stop);
    }

    fn set_volume(&mut self, volume: &[u16]) {
        self.shared.gain.set_volume(volume);
    }

    fn set_mute(&mut self, mute: bool) {
        self.shared.gain.mute.store(mute, Ordering::Relaxed);
    }

    fn set_latency_hint(&mut self, ms: u32) {
        self.shared.latency_hint_ms.store(ms, Ordering::Relaxed);
    }

    fn delay_ms(&self) -> Option<u32> {
        if !self.shared.open.load(Ordering::Relaxed) {
            return None;
        }
        let (f, ring) = (self.format?, self.ring.as_ref()?);
        let buffered = ring.buffer().capacity().saturating_sub(ring.slots()) as u64;
        let ring_ms = f.duration_ms(buffered);
        let device_ms = self.shared.device_delay_us.load(Ordering::Relaxed) / 1000;
        u32::try_from(ring_ms.saturating_add(device_ms)).ok()
    }

    fn stats(&self) -> SinkStats {
        SinkStats {
            underruns: self.shared.underruns.load(Ordering::Relaxed) + self.shared.xruns.load(Ordering::Relaxed),
            overflow_samples: self.shared.overflow.load(Ordering::Relaxed),
            played_samples: self.shared.played.load(Ordering::Relaxed),
        }
    }
}

impl Drop for DeviceSink {
    fn drop(&mut self) {
        // Ends the thread (and the device; its error callback holds a sender, so
        // closing ours would not end the channel).
        self.send(OutCmd::Quit);
        self.cmd = None;
        self.shared.draining.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Logs "no device" once per thread, not at every START.
#[derive(Default)]
struct Once(bool);

impl Once {
    fn warn(&mut self, what: &str, error: &dyn std::fmt::Display) {
        if !self.0 {
            tracing::warn!(%error, "{what}: audio is off");
        }
        self.0 = true;
    }
}

/// The consumer side of a stream's ring, kept across device reopenings
/// (only the current stream's callback locks it, so it never waits).
type SharedRing = Arc<Mutex<rtrb::Consumer<i16>>>;

/// Most times a failing output is reopened within one stream.
const MAX_REOPEN: u32 = 5;

/// The output thread: sleeps until a command comes (the device's error
/// callback sends one), polling only while a stopped stream drains.
fn output_thread(rx: &mpsc::Receiver<OutCmd>, wake: &mpsc::Sender<OutCmd>, shared: &Arc<OutShared>) {
    let mut stream: Option<cpal::Stream> = None;
    // The stream's format and ring, to reopen the device after an error.
    let mut current: Option<(PcmFormat, SharedRing)> = None;
    let mut reopened = 0u32;
    let mut draining_since: Option<Instant> = None;
    let mut once = Once::default();
    loop {
        let cmd = if draining_since.is_some() {
            match rx.recv_timeout(DRAIN_POLL) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => break,
            }
        };
        match cmd {
            Some(OutCmd::Quit) => break,
            Some(OutCmd::Start { format, ring }) => {
                stream = None;
                draining_since = None;
                reopened = 0;
                shared.open.store(false, Ordering::Relaxed);
                shared.failed.store(false, Ordering::Relaxed);
                let ring = Arc::new(Mutex::new(ring));
                match open_output(format, &ring, wake, shared) {
                    Ok(s) => {
                        stream = Some(s);
                        shared.open.store(true, Ordering::Relaxed);
                    }
                    Err(e) => once.warn("no audio output device", &e),
                }
                current = Some((format, ring));
            }
            Some(OutCmd::Stop) => draining_since = Some(Instant::now()),
            Some(OutCmd::Failed) | None => {}
        }
        // A device error (an ALSA xrun it could not recover, a PulseAudio hiccup):
        // open the device again on the same ring, a few times per stream.
        if stream.is_some() && shared.failed.swap(false, Ordering::Relaxed) && draining_since.is_none() {
            stream = None;
            shared.open.store(false, Ordering::Relaxed);
            if let Some((format, ring)) = &current
                && reopened < MAX_REOPEN
            {
                reopened += 1;
                std::thread::sleep(Duration::from_millis(50));
                match open_output(*format, ring, wake, shared) {
                    Ok(s) => {
                        tracing::info!(attempt = reopened, "audio output reopened after an error");
                        stream = Some(s);
                        shared.open.store(true, Ordering::Relaxed);
                    }
                    Err(e) => once.warn("the audio output cannot be reopened", &e),
                }
            }
        }
        if let Some(since) = draining_since
            && (shared.drained.load(Ordering::Relaxed) || since.elapsed() > DRAIN_LIMIT || stream.is_none())
        {
            stream = None;
            current = None;
            shared.open.store(false, Ordering::Relaxed);
            draining_since = None;
            tracing::debug!(
                underruns = shared.underruns.load(Ordering::Relaxed),
                device_xruns = shared.xruns.load(Ordering::Relaxed),
                backlogs_cut = shared.skipped.load(Ordering::Relaxed),
                overflow_samples = shared.overflow.load(Ordering::Relaxed),
                "audio output closed"
            );
        }
    }
    drop(stream);
    shared.open.store(false, Ordering::Relaxed);
}

/// Why a device could not be used.
#[derive(Debug, thiserror::Error)]
enum DeviceError {
    #[error("no default device")]
    NoDevice,
    #[error("{0}")]
    Cpal(#[from] cpal::Error),
    #[error("the device takes neither 16-bit nor float samples")]
    Format,
}

fn open_output(
    format: PcmFormat,
    ring: &SharedRing,
    wake: &mpsc::Sender<OutCmd>,
    shared: &Arc<OutShared>,
) -> Result<cpal::Stream, DeviceError> {
    let host = cpal::default_host();
    let device = host.default_output_device().ok_or(DeviceError::NoDevice)?;
    let default = device.default_output_config()?;
    let ranges: Vec<_> = device.supported_output_configs()?.collect();
    let (mut config, sample_format, sizes) = choose(ranges, default, format);
    let build = |config: cpal::StreamConfig| {
        let conv = Converter::new(
            usize::from(format.channels),
            format.rate,
            usize::from(config.channels),
            config.sample_rate,
        );
        match sample_format {
            SampleFormat::F32 => build_output::<f32>(&device, config, format, conv, Arc::clone(ring), wake, shared),
            SampleFormat::I16 => build_output::<i16>(&device, config, format, conv, Arc::clone(ring), wake, shared),
            _ => Err(DeviceError::Format),
        }
    };
    // A period of our choosing (within the device's range) when the device takes it, else
    // the device's own.
    let period = period_frames(config.sample_rate).map(|f| match sizes {
        cpal::SupportedBufferSize::Range { min, max } => f.clamp(min, max.max(min)),
        cpal::SupportedBufferSize::Unknown => f,
    });
    let stream = match period {
        Some(frames) => {
            config.buffer_size = cpal::BufferSize::Fixed(frames);
            build(config).or_else(|e| {
                tracing::debug!(error = %e, frames, "the device refuses our period: its own then");
                config.buffer_size = cpal::BufferSize::Default;
                build(config)
            })?
        }
        None => build(config)?,
    };
    tracing::info!(
        ?format,
        device_channels = config.channels,
        device_rate = config.sample_rate,
        ?sample_format,
        period_frames = stream.buffer_size().ok(),
        "audio output opened"
    );
    stream.play()?;
    Ok(stream)
}

fn build_output<T: SizedSample + FromSample<f32> + FromSample<i16>>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    format: PcmFormat,
    mut conv: Converter,
    ring: SharedRing,
    wake: &mpsc::Sender<OutCmd>,
    shared: &Arc<OutShared>,
) -> Result<cpal::Stream, DeviceError> {
    let cb_shared = Arc::clone(shared);
    let err_shared = Arc::clone(shared);
    let err_wake = wake.clone();
    let in_ch = usize::from(format.channels.max(1));
    let prebuffer = usize::try_from(format.rate.saturating_mul(PREBUFFER_MS) / 1000).unwrap_or(0) * in_ch;
    let mut primed = false;
    let mut primed_at: Option<Instant> = None;
    let mut scratch: Vec<f32> = Vec::new();
    let mut pcm: Vec<i16> = Vec::new();
    let mut frame_i16 = [0i16; MAX_CHANNELS];
    // Same channels and rate: samples go straight from the ring to the device.
    let passthrough = conv.is_identity();
    let data = move |out: &mut [T], info: &cpal::OutputCallbackInfo| {
        let s = &cb_shared;
        let ts = info.timestamp();
        if let Some(d) = ts.playback.checked_duration_since(ts.callback) {
            s.device_delay_us
                .store(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        let draining = s.draining.load(Ordering::Relaxed);
        // Only this stream's callback locks it: never contended (a stream
        // being replaced is dropped before the next one is built).
        let Ok(mut ring) = ring.try_lock() else {
            out.fill(T::EQUILIBRIUM);
            return;
        };
        if !primed && (ring.slots() >= prebuffer || draining) {
            primed = true;
            // The stream's first start (not a restart after an underrun).
            primed_at.get_or_insert_with(Instant::now);
        }
        // A backlog beyond the server's latency hint is cut (not in a stream's first seconds).
        if primed
            && !draining
            && let Some(t) = primed_at
        {
            let hint = s.latency_hint_ms.load(Ordering::Relaxed);
            let skip = backlog_cut(ring.slots(), t.elapsed(), hint, format.rate, in_ch);
            if skip > 0
                && let Ok(chunk) = ring.read_chunk(skip)
            {
                chunk.commit_all();
                s.overflow.fetch_add(skip as u64, Ordering::Relaxed);
                s.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut written = 0;
        if primed && passthrough {
            let n = out.len().min(ring.slots());
            let n = n - n % in_ch;
            pcm.clear();
            if let Ok(chunk) = ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                pcm.extend_from_slice(a);
                pcm.extend_from_slice(b);
                chunk.commit_all();
            }
            apply_volume(&mut pcm, in_ch, &s.gain.volume(), s.gain.mute.load(Ordering::Relaxed));
            for (o, v) in out.iter_mut().zip(&pcm) {
                *o = T::from_sample(*v);
            }
            written = pcm.len();
        } else if primed {
            scratch.resize(out.len(), 0.0);
            let volume = s.gain.volume();
            let mute = s.gain.mute.load(Ordering::Relaxed);
            let slot = frame_i16.get_mut(..in_ch).unwrap_or_default();
            let frames = conv.produce(&mut scratch, |f| {
                let Ok(chunk) = ring.read_chunk(slot.len()) else {
                    return false;
                };
                for (d, v) in slot.iter_mut().zip(chunk) {
                    *d = v;
                }
                apply_volume(slot, slot.len(), &volume, mute);
                for (d, v) in f.iter_mut().zip(slot.iter()) {
                    *d = to_f32(*v);
                }
                true
            });
            written = frames * conv.out_channels();
            for (o, v) in out.iter_mut().zip(scratch.iter().take(written)) {
                *o = T::from_sample(*v);
            }
        }
        for o in out.iter_mut().skip(written) {
            *o = T::EQUILIBRIUM;
        }
        s.played.fetch_add(written as u64, Ordering::Relaxed);
        if primed && written < out.len() {
            if draining {
                s.drained.store(true, Ordering::Relaxed);
            } else {
                // Ran dry mid-stream: silence until the ring refills.
                s.underruns.fetch_add(1, Ordering::Relaxed);
                primed = false;
            }
        }
    };
    // Errors can come once per period: one line per stream.
    let mut reported = false;
    let error = move |e: cpal::Error| {
        // An underrun of the device itself (the callback came too late): cpal prepares the
        // device again and goes on. Reopening it would turn a click into a second of silence.
        if matches!(e.kind(), cpal::ErrorKind::Xrun | cpal::ErrorKind::RealtimeDenied) {
            err_shared.xruns.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !reported {
            tracing::warn!(error = %e, "audio output error: reopening the device");
            reported = true;
        }
        err_shared.open.store(false, Ordering::Relaxed);
        // The output thread reopens the device (once per error burst).
        if !err_shared.failed.swap(true, Ordering::Relaxed) {
            let _ = err_wake.send(OutCmd::Failed);
        }
    };
    Ok(device.build_output_stream::<T, _, _>(config, data, error, None)?)
}
