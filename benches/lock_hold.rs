//! How long a display channel holds its `DisplayState` lock (the one the
//! widget takes to copy pixels every frame), replaying the committed
//! recordings the way the live channel machine runs each message: prepared
//! by the channel's decoder outside the lock, then applied under it, then
//! the video streams ticked (decoded outside, drawn under the lock only when
//! the tick has frames or counters for the state). Each hold is timed from
//! the moment the lock is acquired to its release.
//!
//! `cargo bench --bench lock_hold` (prints one table row per recording;
//! `LOCK_HOLD_RUNS=n` replays each recording n times, 3 by default).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sumac::client::record::{RecordEntry, RecordReader};
use sumac::codec::glz::{Absent, GlzWindow};
use sumac::display::{
    DEFAULT_GLZ_WINDOW_BYTES, DEFAULT_IMAGE_CACHE_BYTES, DisplayDecoder, DisplayState, Limits, Prepared,
    SharedImageCache,
};
use sumac::proto::channel::display::{DisplayServer, image_type};
use sumac::proto::{ChannelType, Message};

/// One display channel as the machine runs it.
struct Channel {
    decoder: DisplayDecoder,
    state: Arc<Mutex<DisplayState>>,
    prepared: Prepared,
}

impl Channel {
    /// Applies `m` as `DisplayMachine::prepare_and_apply` does, timing the lock holds.
    fn run(&mut self, m: &DisplayServer, mm_time: u32, holds: &mut Vec<(Duration, bool, u16)>) {
        let image = compressed_copy(m);
        self.decoder.prepare(m, &mut self.prepared, Absent::Missing);
        let events = {
            let mut state = self.state.lock().expect("state");
            let t = Instant::now();
            let events = state.apply(m, &mut self.prepared);
            drop(state);
            holds.push((t.elapsed(), image, m.msg_type()));
            events
        };
        self.decoder.observe(&events);
        self.decoder.recycle(&mut self.prepared);
        let mut video = self.decoder.stream_tick(mm_time);
        if video.needs_state() {
            let mut state = self.state.lock().expect("state");
            let t = Instant::now();
            state.draw_frames(&mut video);
            drop(state);
            holds.push((t.elapsed(), false, 0));
        }
        self.decoder.recycle_frames(&mut video);
        self.decoder.drain_stream_reports().for_each(drop);
    }
}

fn replay(path: &Path, holds: &mut Vec<(Duration, bool, u16)>) {
    let file = std::fs::File::open(path).expect("recording");
    let mut rec = RecordReader::new(std::io::BufReader::new(file)).expect("a recording");
    let glz = Arc::new(GlzWindow::new(DEFAULT_GLZ_WINDOW_BYTES));
    let cache = SharedImageCache::new(DEFAULT_IMAGE_CACHE_BYTES);
    let mut channels: BTreeMap<u8, Channel> = BTreeMap::new();
    while let Some(entry) = rec.next_entry().expect("a record") {
        let RecordEntry::Message {
            channel,
            micros,
            msg_type,
            body,
        } = entry
        else {
            continue;
        };
        if channel.channel_type != ChannelType::DISPLAY {
            continue;
        }
        let Ok(m) = DisplayServer::decode(msg_type, &body) else {
            continue;
        };
        let ch = channels.entry(channel.id).or_insert_with(|| {
            let limits = Limits::default();
            Channel {
                decoder: DisplayDecoder::new(limits, cache.clone(), Arc::clone(&glz)),
                state: Arc::new(Mutex::new(DisplayState::with_cache(limits, cache.clone()))),
                prepared: Prepared::default(),
            }
        });
        let mm_time = u32::try_from(micros / 1000 % (1 << 32)).unwrap_or(0).wrapping_add(1);
        ch.run(&m, mm_time, holds);
    }
}

/// A DRAW_COPY of a compressed image (QUIC, LZ, GLZ, LZ4, JPEG...): the
/// messages whose decoding the lock may cover.
fn compressed_copy(m: &DisplayServer) -> bool {
    let DisplayServer::DrawCopy { copy, .. } = m else {
        return false;
    };
    copy.src_bitmap.as_ref().is_some_and(|i| {
        !matches!(
            i.descriptor.image_type,
            image_type::BITMAP | image_type::SURFACE | image_type::FROM_CACHE | image_type::FROM_CACHE_LOSSLESS
        )
    })
}

/// p50, p99, max of `holds` (sorted here) in µs, and their total in ms per run.
fn row(holds: &mut [Duration], runs: usize) -> String {
    holds.sort_unstable();
    let total: Duration = holds.iter().sum();
    format!(
        "{} | {} | {} | {} | {:.1}",
        holds.len() / runs.max(1),
        us(percentile(holds, 0.5)),
        us(percentile(holds, 0.99)),
        us(holds.last().copied().unwrap_or_default()),
        total.as_secs_f64() * 1e3 / runs.max(1) as f64,
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    let runs: usize = std::env::var("LOCK_HOLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("recordings")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "spicerec"))
        .collect();
    files.sort();
    println!(
        "| recording | lock holds | p50 µs | p99 µs | max µs | total ms | compressed DRAW_COPY holds | p50 µs | p99 µs | max µs | total ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all = Vec::new();
    for path in &files {
        let mut holds = Vec::new();
        for _ in 0..runs {
            replay(path, &mut holds);
        }
        let mut every: Vec<Duration> = holds.iter().map(|h| h.0).collect();
        let mut images: Vec<Duration> = holds.iter().filter(|h| h.1).map(|h| h.0).collect();
        println!(
            "| {} | {} | {} |",
            path.file_name().unwrap_or_default().to_string_lossy(),
            row(&mut every, runs),
            row(&mut images, runs)
        );
        all.extend(holds);
    }
    let mut every: Vec<Duration> = all.iter().map(|h| h.0).collect();
    let mut images: Vec<Duration> = all.iter().filter(|h| h.1).map(|h| h.0).collect();
    println!("| all | {} | {} |", row(&mut every, runs), row(&mut images, runs));
    // LOCK_HOLD_TOP=n: the n longest holds and their message types (0: a video tick).
    let top: usize = std::env::var("LOCK_HOLD_TOP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    all.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    for (d, _, t) in all.iter().take(top) {
        println!("{} µs: message type {t}", us(*d));
    }
}
