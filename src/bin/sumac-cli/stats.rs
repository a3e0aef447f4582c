//! `sumac-cli stats`: bytes and messages per channel, and what the display
//! channels drew, after N seconds (or when the server ends the session).

use crate::connect::{ConnectArgs, build, video_decoders, with_states};
use anyhow::{Context, Result, anyhow};
use std::time::Duration;
use sumac::client::SessionEvent;

/// How long `stats` lets session events gather between two wakeups. The GTK
/// session does the same with a longer batch (8 ms, `gtk::session`'s
/// `EVENT_BATCH`, tuned for the main loop); the benchmarks in BENCHMARKS.md
/// were measured with this one.
const EVENT_BATCH: Duration = Duration::from_millis(2);

pub fn stats(args: &ConnectArgs, seconds: u64, until_eof: bool) -> Result<()> {
    let (cfg, opts) = build(args)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    // One runtime for the whole run: the loop wakes for every display event.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("tokio runtime")?;
    let (eof_tx, mut eof_rx) = tokio::sync::oneshot::channel::<()>();
    // Without --until-eof the sender is kept here, unused, so `eof_rx` never fires.
    let _unused_eof_tx = if until_eof {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = eof_tx.send(());
        });
        None
    } else {
        Some(eof_tx)
    };
    // Channels that ended with an error, and automatic reconnects, in order.
    let mut failures: Vec<String> = Vec::new();
    // Progress on stderr, one line each (scripts and tests follow it).
    let mut note = |ev: &SessionEvent| match ev {
        SessionEvent::ChannelDown { error: Some(e), .. } => {
            eprintln!("channel failed: {e}");
            failures.push(e.to_string());
        }
        SessionEvent::Reconnecting { attempt, error, .. } => {
            eprintln!("reconnecting (attempt {attempt}): {error}");
        }
        SessionEvent::State(state) => eprintln!("state: {state:?}"),
        SessionEvent::Migrated { kind } => eprintln!("migrated: {kind:?}"),
        _ => {}
    };
    // Every decoder a video stream used during the run (streams end before the summary).
    let mut decoders: Vec<String> = Vec::new();
    let mut looked = std::time::Instant::now();
    let error = rt.block_on(async {
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(SessionEvent::Disconnected { error }) => return error,
                    Some(ev) => note(&ev),
                    None => return None,
                },
                () = &mut sleep => return None,
                _ = &mut eof_rx => return None,
            }
            // Consume as the GTK session does: everything queued in one
            // wakeup, then let the next events gather for EVENT_BATCH, so a
            // burst of draws costs one wakeup of this thread, not one each.
            loop {
                match rx.try_recv() {
                    Ok(SessionEvent::Disconnected { error }) => return error,
                    Ok(ev) => note(&ev),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return None,
                }
            }
            if looked.elapsed() >= Duration::from_millis(250) {
                looked = std::time::Instant::now();
                for d in video_decoders() {
                    if !decoders.contains(&d) {
                        decoders.push(d);
                    }
                }
            }
            tokio::time::sleep(EVENT_BATCH).await;
        }
    });
    print_channels(&session.stats());
    print_audio(&session);
    let budget = session.memory_budget();
    println!(
        "memory budget: {} bytes, {} in use, peak {}, {} refused",
        budget.limit(),
        budget.used(),
        budget.peak(),
        budget.refused()
    );
    with_states(&session, print_displays)?;
    for d in &decoders {
        println!("video: {d}");
    }
    session.disconnect();
    for f in &failures {
        println!("channel failed: {f}");
    }
    match (error, failures.first()) {
        (Some(e), _) => Err(anyhow!("{e}")),
        (None, Some(f)) => Err(anyhow!("{} channel failure(s), first: {f}", failures.len())),
        (None, None) => Ok(()),
    }
}

fn print_channels(snapshot: &[sumac::client::stats::StatsSnapshot]) {
    println!(
        "{:<12} {:>3} {:>4} {:>14} {:>10} {:>14} {:>10} {:>8}",
        "channel", "id", "tls", "bytes-read", "msgs-read", "bytes-written", "msgs-sent", "skipped"
    );
    for s in snapshot {
        println!(
            "{:<12} {:>3} {:>4} {:>14} {:>10} {:>14} {:>10} {:>8}",
            s.key.channel_type.to_string(),
            s.key.id,
            if s.tls { "yes" } else { "no" },
            s.bytes_read,
            s.messages_read,
            s.bytes_written,
            s.messages_written,
            s.messages_skipped
        );
    }
}

fn print_displays(states: &[(u8, &sumac::display::DisplayState)]) {
    for (ch, st) in states {
        let d = st.stats();
        let v = st.stream_stats();
        println!(
            "display {ch}: {} messages, {} draws applied, {} dropped, {} images decoded, {} errors; \
             streams {} created, frames {} received, {} rendered, {} late, {} overflow, {} failed",
            d.messages,
            d.draws_applied,
            d.draws_dropped,
            d.images.decoded,
            d.total_errors(),
            v.created,
            v.frames_received,
            v.frames_rendered,
            v.frames_late,
            v.frames_overflow,
            v.frames_failed
        );
    }
    // One image cache per session: print it once.
    if let Some((_, st)) = states.first() {
        let i = &st.stats().images;
        let cache = st.image_cache();
        println!(
            "image cache: {} entries, {} bytes held (peak {}, budget {}), {} bytes of memory ({} packed, {} encoded); \
             {} stored, {} replaced, {} hits, {} misses, {} invalidated, {} evicted",
            cache.len(),
            cache.used_bytes(),
            cache.peak_bytes(),
            cache.budget(),
            cache.memory_bytes(),
            cache.packed_count(),
            cache.encoded_count(),
            i.cache_inserts,
            i.cache_replaces,
            i.cache_hits,
            i.cache_misses,
            i.cache_invalidated,
            i.cache_evictions
        );
    }
}

fn print_audio(session: &sumac::client::SessionHandle) {
    let a = session.audio().stats();
    if a.playback_packets > 0 || a.record_frames > 0 {
        println!(
            "audio: playback {} packets, {} bytes, {} samples, {} dropped, {} underruns, {} overflow samples, \
             sink delay {} ms; record {} frames, {} samples",
            a.playback_packets,
            a.playback_bytes,
            a.playback_samples,
            a.playback_dropped,
            a.underruns,
            a.overflow_samples,
            a.sink_delay_ms,
            a.record_frames,
            a.record_samples
        );
    }
}
