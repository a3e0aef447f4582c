//! Smartcards (feature `smartcard`): libcacard (through the `sumac-cacard`
//! FFI crate) behind the smartcard channel's machine
//! ([`crate::channel::smartcard`]), as spice-gtk's smartcard manager.
//!
//! libcacard is process-wide: one emulator ([`init`], once per process, the
//! first session's options win), one reader list, one event queue. A thread
//! of its own (`sumac-cacard`, started with the emulator, living as long as
//! the process, as libcacard's own NSS thread does) waits for its events and
//! hands them to the smartcard channel of the session that links last, whose
//! thread it wakes. The embedder inserts and removes the software card with
//! [`insert_card`] / [`remove_card`] (the GUI's smartcard actions); the
//! channel then sends the ATR or CARD_REMOVE.
//!
//! A software card needs certificates of an NSS database
//! (`--spice-smartcard-db`, `--spice-smartcard-certificates`, three for a
//! CAC card as spice-gtk); without certificates the physical readers NSS
//! finds through its PKCS#11 modules are shared.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use sumac_cacard as cacard;

use crate::channel::smartcard::{CardBackend, CardEvent, ReaderHandle};
use crate::client::sharing::SmartcardConfig;

/// The software reader's name (the guest sees it as the CCID reader's slot name).
pub const SOFTWARE_READER: &str = "Sumac Software Smartcard";
/// Events kept for a channel that does not take them (bounded).
const MAX_EVENTS: usize = 1024;

/// Why smartcards are not available.
pub type SmartcardError = cacard::Error;

/// Where events go: the channel linked last.
#[derive(Debug)]
struct Subscriber {
    events: Mutex<VecDeque<cacard::Event>>,
    notify: Arc<tokio::sync::Notify>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

static SUBSCRIBER: Mutex<Option<Arc<Subscriber>>> = Mutex::new(None);
static EVENT_THREAD: OnceLock<()> = OnceLock::new();

/// Starts libcacard with `config` (once per process) and its event thread.
pub fn init(config: &SmartcardConfig) -> Result<(), SmartcardError> {
    cacard::init(&cacard::Options {
        database: config.database.clone(),
        certificates: config.certificates.clone(),
        reader_name: SOFTWARE_READER.into(),
        hardware: config.certificates.is_empty(),
    })?;
    EVENT_THREAD.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("sumac-cacard".into()).spawn(|| {
            loop {
                let event = cacard::wait_event();
                if matches!(event, cacard::Event::Wakeup) {
                    continue;
                }
                let sub = lock(&SUBSCRIBER).clone();
                if let Some(sub) = sub {
                    let mut q = lock(&sub.events);
                    if q.len() < MAX_EVENTS {
                        q.push_back(event);
                    }
                    drop(q);
                    sub.notify.notify_one();
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no smartcard event thread");
        }
    });
    Ok(())
}

/// The readers libcacard knows (software and physical), with whether a card is in.
pub fn readers() -> Vec<(String, bool)> {
    cacard::readers().iter().map(|r| (r.name(), r.card_present())).collect()
}

fn software_reader() -> Option<cacard::Reader> {
    cacard::readers().into_iter().find(|r| r.name() == SOFTWARE_READER)
}

/// Inserts the software card; false without a software reader (or if it is in).
pub fn insert_card() -> bool {
    software_reader().is_some_and(|r| r.insert_card())
}

/// Removes the software card; false without a software reader (or if it is out).
pub fn remove_card() -> bool {
    software_reader().is_some_and(|r| r.remove_card())
}

/// Whether the software card is in its reader.
pub fn card_inserted() -> bool {
    software_reader().is_some_and(|r| r.card_present())
}

/// The channel's card backend over libcacard.
pub(crate) struct CacardBackend {
    sub: Arc<Subscriber>,
    readers: HashMap<ReaderHandle, cacard::Reader>,
}

impl std::fmt::Debug for CacardBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacardBackend")
            .field("readers", &self.readers.len())
            .finish_non_exhaustive()
    }
}

impl CacardBackend {
    /// Takes libcacard's events from now on; `notify` wakes the channel's thread.
    pub(crate) fn new(notify: Arc<tokio::sync::Notify>) -> Self {
        let sub = Arc::new(Subscriber {
            events: Mutex::new(VecDeque::new()),
            notify,
        });
        *lock(&SUBSCRIBER) = Some(Arc::clone(&sub));
        Self {
            sub,
            readers: HashMap::new(),
        }
    }

    fn handle(&mut self, r: cacard::Reader) -> ReaderHandle {
        let h = r.key() as u64;
        self.readers.entry(h).or_insert(r);
        h
    }
}

impl CardBackend for CacardBackend {
    fn readers(&mut self) -> Vec<(ReaderHandle, String, bool)> {
        lock(&self.sub.events).clear();
        cacard::readers()
            .into_iter()
            .map(|r| {
                let (name, card) = (r.name(), r.card_present());
                (self.handle(r), name, card)
            })
            .collect()
    }

    fn events(&mut self) -> Vec<CardEvent> {
        let taken: Vec<cacard::Event> = lock(&self.sub.events).drain(..).collect();
        let mut out = Vec::with_capacity(taken.len());
        for e in taken {
            out.push(match e {
                cacard::Event::ReaderInsert(r) => {
                    let name = r.name();
                    CardEvent::ReaderAdded {
                        reader: self.handle(r),
                        name,
                    }
                }
                cacard::Event::ReaderRemove(r) => {
                    let reader = r.key() as u64;
                    // The machine forgets it now; so do we (the reader stays alive while `r` does).
                    self.readers.remove(&reader);
                    CardEvent::ReaderRemoved { reader }
                }
                cacard::Event::CardInsert(r) => CardEvent::CardInserted { reader: self.handle(r) },
                cacard::Event::CardRemove(r) => CardEvent::CardRemoved { reader: self.handle(r) },
                cacard::Event::Wakeup => continue,
            });
        }
        out
    }

    fn power_on(&mut self, reader: ReaderHandle) -> Option<Vec<u8>> {
        self.readers.get(&reader)?.power_on()
    }

    fn transfer(&mut self, reader: ReaderHandle, apdu: &[u8]) -> Result<Vec<u8>, u32> {
        match self.readers.get(&reader) {
            Some(r) => r.transfer(apdu),
            None => Err(1),
        }
    }

    fn closed(&mut self) {
        let mut sub = lock(&SUBSCRIBER);
        if sub.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.sub)) {
            *sub = None;
        }
        self.readers.clear();
    }
}
