//! `sumac-cli record` (every message the server sends, into a `.spicerec`
//! file) and `sumac-cli replay` (a recording through the display pipeline).

use crate::connect::{ConnectArgs, build, next_event};
use anyhow::{Context, Result, anyhow};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sumac::client::SessionEvent;
use sumac::client::record::Recorder;
use sumac::client::screenshot::{nth_monitor_image, write_image};
use sumac::display::DisplayState;

pub fn record(args: &ConnectArgs, output: &Path, seconds: u64) -> Result<()> {
    let (cfg, mut opts) = build(args)?;
    let recorder = Arc::new(Recorder::create(output).with_context(|| format!("cannot create {}", output.display()))?);
    opts.recorder = Some(Arc::clone(&recorder));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    let mut error = None;
    while let Some(ev) = next_event(&mut rx, deadline) {
        if let SessionEvent::Disconnected { error: e } = ev {
            error = e;
            break;
        }
    }
    session.disconnect();
    recorder.flush()?;
    eprintln!("recorded {} s into {}", seconds, output.display());
    match error {
        Some(e) => Err(anyhow!("{e}")),
        None => Ok(()),
    }
}

pub fn replay(recording: &Path, screenshot: Option<&Path>, monitor: usize, mark: Option<u64>) -> Result<()> {
    let file = std::fs::File::open(recording).with_context(|| format!("cannot open {}", recording.display()))?;
    let r = sumac::client::replay::replay(std::io::BufReader::new(file), mark)?;
    println!(
        "replayed {} display messages, {} frames (MARK), {} undecodable",
        r.messages, r.marks, r.decode_errors
    );
    for (ch, st) in &r.displays {
        let s = st.stats();
        println!(
            "display {ch}: {} draws applied, {} dropped, {} errors",
            s.draws_applied,
            s.draws_dropped,
            s.total_errors()
        );
    }
    if let Some(path) = screenshot {
        let states: Vec<(u8, &DisplayState)> = r.displays.iter().map(|(ch, s)| (*ch, s)).collect();
        write_image(path, &nth_monitor_image(&states, monitor)?)?;
    }
    Ok(())
}
