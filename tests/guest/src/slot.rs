//! Machine-wide guest slots: at most `SUMAC_GUEST_SLOTS` guests (default 1) run at once, whatever
//! the number of test processes. A TCG guest keeps one core busy while it boots and takes ~0.8 GiB:
//! two at once on a 2-core CI machine slow everything down, so test processes queue here instead.
//! A slot is a `flock`ed file in the cache; the kernel releases it when its holder dies.

use crate::error::{Error, Result, io_err};
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A held slot (released on drop).
#[derive(Debug)]
pub(crate) struct Slot {
    _file: File,
}

/// How long a boot waits for a slot before failing (another guest group may run for minutes).
const SLOT_WAIT: Duration = Duration::from_secs(60 * 60);

pub(crate) fn acquire(cache_dir: &Path) -> Result<Slot> {
    let slots = std::env::var("SUMAC_GUEST_SLOTS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let dir = cache_dir.join("slots");
    fs::create_dir_all(&dir).map_err(io_err("create the guest slot directory"))?;
    let start = Instant::now();
    let mut told = false;
    loop {
        for n in 0..slots {
            let path = dir.join(format!("slot-{n}.lock"));
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .read(true)
                .open(&path)
                .map_err(io_err(format!("open {}", path.display())))?;
            if file.try_lock().is_ok() {
                // Who holds it, for the message of those who wait.
                let _ = file.set_len(0);
                let _ = file.rewind();
                let _ = writeln!(file, "{}", std::process::id());
                return Ok(Slot { _file: file });
            }
        }
        if !told {
            let holders: Vec<String> = (0..slots)
                .filter_map(|n| fs::read_to_string(dir.join(format!("slot-{n}.lock"))).ok())
                .map(|s| s.trim().to_string())
                .collect();
            eprintln!(
                "sumac-test-guest: waiting for a guest slot ({slots} in use, by PIDs {}; SUMAC_GUEST_SLOTS raises the limit)",
                holders.join(", ")
            );
            told = true;
        }
        if start.elapsed() > SLOT_WAIT {
            return Err(Error::Other(format!(
                "no guest slot free after {} minutes",
                SLOT_WAIT.as_secs() / 60
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
