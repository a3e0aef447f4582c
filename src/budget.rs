//! One memory budget per session: everything the server can make Sumac
//! allocate (message buffers of every channel, surfaces, decoded images,
//! video queues) is counted against it, so that no combination of hostile
//! messages on any number of channels takes the process past it.
//!
//! A [`Reservation`] holds bytes of the budget and gives them back when it
//! is dropped or shrunk. Reserving never blocks: when the bytes are not
//! there the allocation is refused, and the caller fails that one draw or
//! closes that one channel with a clear error. Plain atomics, no I/O: usable
//! from L0 code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The default budget, 512 MiB: four 4K monitors (about 130 MiB of primary
/// surfaces), the caches (the image cache and the GLZ window, about 100 MiB),
/// off-screen surfaces, decoded images, video queues and message buffers
/// with room to spare. A single surface near 1 GiB (16384×16000) does not
/// fit: no real monitor needs one.
pub const DEFAULT_SESSION_BUDGET: u64 = 512 << 20;

/// Bytes a session may hold.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
    peak: AtomicU64,
    refused: AtomicU64,
}

/// Why bytes could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{requested} bytes would take the session past its memory budget ({used} of {limit} bytes in use)")]
pub struct OverBudget {
    pub requested: u64,
    pub used: u64,
    pub limit: u64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// A budget that refuses nothing (tools and tests that replay trusted data).
    pub fn unlimited() -> Arc<Self> {
        Self::new(u64::MAX)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Most bytes ever reserved at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Bytes that may still be reserved.
    pub fn available(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }

    /// Reservations refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: u64) -> Result<(), OverBudget> {
        if bytes == 0 {
            return Ok(());
        }
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(bytes).filter(|&n| n <= self.limit) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(OverBudget {
                    requested: bytes,
                    used,
                    limit: self.limit,
                });
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }

    fn give(&self, bytes: u64) {
        if bytes > 0 {
            let _ = self
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| Some(u.saturating_sub(bytes)));
        }
    }

    /// Reserves `bytes`, or refuses.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, OverBudget> {
        self.take(bytes)?;
        Ok(Reservation {
            budget: Arc::clone(self),
            bytes,
        })
    }

    /// An empty reservation to grow later.
    pub fn empty(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: Arc::clone(self),
            bytes: 0,
        }
    }
}

/// Bytes held from a [`MemoryBudget`]; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Most bytes the reservation could grow to now.
    pub fn room(&self) -> u64 {
        self.bytes.saturating_add(self.budget.available())
    }

    /// Changes the reservation to `bytes` (growing may be refused; the
    /// reservation is then unchanged).
    pub fn resize(&mut self, bytes: u64) -> Result<(), OverBudget> {
        if bytes > self.bytes {
            self.budget.take(bytes - self.bytes)?;
        } else {
            self.budget.give(self.bytes - bytes);
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// The bytes a cache or a queue holds, as one reservation that follows its
/// own count (`None` until a budget is attached: a cache made for a tool or
/// a test counts nothing). Growing may be refused; shrinking never is.
#[derive(Debug, Default)]
pub struct Meter(Option<Reservation>);

impl Meter {
    /// Counts against `budget` from now on, starting at `held` bytes (when
    /// those do not fit, at what the budget has room for: the next
    /// [`Self::set`] asks again).
    pub fn attach(&mut self, budget: &Arc<MemoryBudget>, held: u64) {
        let mut r = budget.empty();
        if r.resize(held).is_err() {
            let _ = r.resize(held.min(budget.available()));
        }
        self.0 = Some(r);
    }

    /// Whether a budget is attached.
    pub fn is_attached(&self) -> bool {
        self.0.is_some()
    }

    /// Sets the count to `bytes` (refused when growing past the budget: the
    /// count is then unchanged).
    pub fn set(&mut self, bytes: u64) -> Result<(), OverBudget> {
        match &mut self.0 {
            Some(r) => r.resize(bytes),
            None => Ok(()),
        }
    }

    /// Most bytes the count could grow to now: what it holds plus what the
    /// budget has left (unbounded when no budget is attached).
    pub fn room(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(u64::MAX, |r| r.bytes.saturating_add(r.budget.available()))
    }

    /// Bytes counted now (0 when no budget is attached).
    pub fn bytes(&self) -> u64 {
        self.0.as_ref().map_or(0, Reservation::bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_counted_and_given_back() {
        let b = MemoryBudget::new(100);
        let r1 = b.reserve(60).unwrap();
        let mut r2 = b.reserve(30).unwrap();
        assert_eq!(b.used(), 90);
        let e = b.reserve(20).unwrap_err();
        assert_eq!((e.requested, e.used, e.limit), (20, 90, 100));
        assert_eq!(b.refused(), 1);
        assert!(r2.resize(50).is_err());
        assert_eq!(r2.bytes(), 30);
        r2.resize(10).unwrap();
        assert_eq!(b.used(), 70);
        drop(r1);
        assert_eq!(b.used(), 10);
        r2.resize(100).unwrap();
        assert_eq!(b.peak(), 100);
        drop(r2);
        assert_eq!(b.used(), 0);
        // Overflowing sizes are refused, not wrapped.
        assert!(b.reserve(u64::MAX).is_err());
        let mut e = b.empty();
        e.resize(100).unwrap();
        assert!(MemoryBudget::unlimited().reserve(u64::MAX).is_ok());
    }

    #[test]
    fn a_meter_follows_its_count_within_the_budget() {
        let b = MemoryBudget::new(100);
        let mut m = Meter::default();
        assert!(m.set(1000).is_ok(), "nothing counted without a budget");
        m.attach(&b, 150);
        assert_eq!((m.bytes(), b.used()), (100, 100), "only what fits");
        m.set(40).unwrap();
        assert_eq!(m.room(), 100);
        assert!(m.set(101).is_err());
        assert_eq!(b.used(), 40);
        drop(m);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_limit() {
        let b = MemoryBudget::new(1000);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..2000u64 {
                        if let Ok(r) = b.reserve(1 + i % 37) {
                            held.push(r);
                        }
                        if held.len() > 10 {
                            held.remove(0);
                        }
                        assert!(b.used() <= 1000);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.used(), 0);
        assert!(b.peak() <= 1000);
    }
}
