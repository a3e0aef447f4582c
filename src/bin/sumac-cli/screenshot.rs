//! `sumac-cli screenshot`: the first complete frame of a monitor, as PNG.

use crate::connect::{ConnectArgs, build, next_event, with_states};
use anyhow::{Result, anyhow, bail};
use std::path::Path;
use std::time::{Duration, Instant};
use sumac::client::SessionEvent;
use sumac::client::screenshot::{nth_monitor_image, write_image};
use sumac::display::DisplayEvent;

pub fn screenshot(args: &ConnectArgs, output: &Path, monitor: usize, timeout: u64) -> Result<()> {
    let (cfg, opts) = build(args)?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    loop {
        let Some(ev) = next_event(&mut rx, deadline) else {
            bail!("no complete frame of monitor {monitor} within {timeout} s");
        };
        match ev {
            SessionEvent::Display {
                event: DisplayEvent::Mark,
                ..
            } => {
                // Not ready yet (monitor not configured or surface missing): wait for the next MARK.
                if let Ok(image) = with_states(&session, |st| nth_monitor_image(st, monitor))? {
                    write_image(output, &image)?;
                    session.disconnect();
                    return Ok(());
                }
            }
            SessionEvent::Disconnected { error } => {
                return Err(match error {
                    Some(e) => anyhow!("{e}"),
                    None => anyhow!("the session ended before a frame arrived"),
                });
            }
            // Any channel failing makes the screenshot fail: a picture
            // without its inputs or cursor channel is not a healthy session.
            SessionEvent::ChannelDown { error: Some(e), .. } => {
                session.disconnect();
                return Err(anyhow!("{e}"));
            }
            _ => {}
        }
    }
}
