//! Arrivals in the session's GLZ window, awaitable.
//!
//! A display channel whose GLZ image references an image another display
//! channel has not decoded yet waits for the window's next arrival and tries
//! again ([`crate::codec::glz::Absent::Pending`]). The window calls its
//! listener after every arrival; this turns that into a counter and a
//! wake-up of every waiting future.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::glz::GlzWindow;

#[derive(Debug, Default)]
pub(crate) struct GlzArrivals {
    count: AtomicU64,
    notify: tokio::sync::Notify,
}

impl GlzArrivals {
    /// Arrivals counted on `window` from now on.
    pub(crate) fn attach(window: &GlzWindow) -> Arc<Self> {
        let a = Arc::new(Self::default());
        let listener = Arc::clone(&a);
        if !window.set_arrival_listener(Arc::new(move || listener.arrived())) {
            tracing::warn!("GLZ window already has an arrival listener");
        }
        a
    }

    fn arrived(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Arrivals so far: read it before an attempt, wait on it after.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Returns once there was an arrival after `since` (a [`count`](Self::count)).
    pub(crate) async fn changed_since(&self, since: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() != since {
                return;
            }
            notified.await;
        }
    }
}
