//! Which message serial every channel has fully processed, for
//! WAIT_FOR_CHANNELS and INVAL_ALL_PIXMAPS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::proto::ChannelKey;
use crate::proto::base::WaitForChannel;

#[derive(Debug, Default)]
pub(crate) struct SerialBoard {
    /// Last serial processed, by (channel type, id).
    done: Mutex<HashMap<(u8, u8), u64>>,
    /// Futures in [`wait`](Self::wait): only then is a change announced.
    waiters: AtomicUsize,
    changed: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Decrements the waiter count however the wait ends (cancelled too).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SerialBoard {
    /// `key` has processed every message up to `serial`. A closed channel
    /// publishes `u64::MAX`: nobody waits for a channel that is gone.
    pub(crate) fn processed(&self, key: ChannelKey, serial: u64) {
        lock(&self.done).insert((key.channel_type.0, key.id), serial);
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// Forgets every channel's serial (the session relinks: serials start over).
    pub(crate) fn clear(&self) {
        lock(&self.done).clear();
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn all_done(&self, list: &[WaitForChannel]) -> bool {
        let done = lock(&self.done);
        list.iter().all(|w| {
            done.get(&(w.channel_type, w.channel_id))
                .is_some_and(|&s| s >= w.message_serial)
        })
    }

    /// Returns once every listed channel has processed its listed serial.
    /// Channels never opened count as not there yet. The caller bounds it.
    pub(crate) async fn wait(&self, list: &[WaitForChannel]) {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiters);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.all_done(list) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ChannelType;
    use std::sync::Arc;
    use std::time::Duration;

    fn key(id: u8) -> ChannelKey {
        ChannelKey::new(ChannelType::DISPLAY, id)
    }

    fn wait(id: u8, serial: u64) -> WaitForChannel {
        WaitForChannel {
            channel_type: ChannelType::DISPLAY.0,
            channel_id: id,
            message_serial: serial,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn wait_for_channels_returns_once_the_serial_is_processed() {
        let s = Arc::new(SerialBoard::default());
        s.processed(key(1), 4);
        let s2 = Arc::clone(&s);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s2.processed(key(1), 5);
        });
        let start = std::time::Instant::now();
        let ok = rt().block_on(async { tokio::time::timeout(Duration::from_secs(5), s.wait(&[wait(1, 5)])).await });
        assert!(ok.is_ok());
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
        assert_eq!(s.waiters.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn wait_for_channels_is_bounded_by_its_caller() {
        let s = SerialBoard::default();
        let start = std::time::Instant::now();
        let r = rt().block_on(async { tokio::time::timeout(Duration::from_millis(100), s.wait(&[wait(2, 1)])).await });
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(1));
        // A cancelled wait is no longer counted.
        assert_eq!(s.waiters.load(Ordering::Relaxed), 0);
        // A closed channel (serial MAX) never blocks anyone.
        s.processed(key(2), u64::MAX);
        let r =
            rt().block_on(async { tokio::time::timeout(Duration::from_millis(100), s.wait(&[wait(2, 1000)])).await });
        assert!(r.is_ok());
    }
}
