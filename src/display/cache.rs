//! The image cache ("pixmap cache") of a session.
//!
//! # How the server uses it
//! The client announces a size in DISPLAY_INIT (in pixels). The server keeps
//! its own model of the client's cache: it charges `width × height` pixels
//! (from the image descriptor) per `CACHE_ME` image, evicts its least recently
//! used entries when the announced size would be exceeded, and tells the
//! client what it evicted with INVAL_LIST *before* the message that adds the
//! new image. A later draw then refers to the image by id (FROM_CACHE or
//! FROM_CACHE_LOSSLESS). So the client must hold exactly what the server
//! believes it holds: dropping an entry on its own means a later draw cannot
//! be resolved.
//!
//! # Budget
//! Entries are charged `width × height × 4` bytes, the server's pixel count
//! times the 4 bytes per stored pixel, against [`ImageCache::budget`] (the
//! announced size × 4). A server that follows the protocol never pushes the
//! cache over budget, since its INVAL_LIST arrives first. If a misbehaving
//! (or desynchronised) server does, the least recently used entries are
//! evicted, which is the server's own eviction order, so the entry dropped is
//! the one the server would drop next. An image larger than the whole budget
//! is refused; an entry count cap ([`MAX_CACHED_IMAGES`]) bounds the
//! per-entry overhead of many tiny images. Evictions and refusals are counted
//! in [`ImageStats`]; the draw that carried the image is still applied.
//!
//! # Reference counts and lossy entries
//! As in spice-gtk, adding an id that is already cached replaces the pixels
//! and adds a reference, and INVAL_LIST drops one reference (the entry goes at
//! zero): with several display channels the same id can be added through each
//! of them. `CACHE_REPLACE_ME` replaces the pixels and keeps the count. JPEG
//! images are cached as *lossy*; FROM_CACHE_LOSSLESS only accepts lossless
//! entries, FROM_CACHE accepts both.
//!
//! # Packed entries
//! What the server counts is pixels, not how the client keeps them. The
//! newest entries (up to [`FULL_SIZE_BYTES`], by store or last use) stay at 4
//! bytes per pixel: they are the ones drawn again soon (and a GLZ image's
//! pixels are shared with the GLZ window, which holds the newest images at
//! full size anyway). Older entries with at most 16 colours (a line of
//! terminal text has 2) are packed to 1 or 4 bits per pixel plus a palette
//! ([`super::compact`]), exactly: they draw the same pixels. On the text
//! workload of `benches/e2e/cpu.py` this keeps 53 MB of cached text lines in
//! about 6 MB. [`ImageCache::memory_bytes`] is what the pixels take;
//! budget accounting ([`ImageCache::used_bytes`]) is unchanged.
//!
//! # Encoded entries
//! An aged entry with too many colours to pack (a photo) that came as a
//! QUIC, LZ_RGB or JPEG image, each decodable on its own, keeps only that
//! image when it is less than half the pixels' size, and is decoded again
//! when drawn (the decoders are deterministic: the same pixels). GLZ images
//! are not kept so: they refer to the GLZ window, which moves on.
//!
//! # One cache per session
//! spice-server keeps one pixmap cache per client, shared by all of its
//! display channels (every channel announces the same cache id), so an image
//! cached through one display channel may be drawn FROM_CACHE through another.
//! [`SharedImageCache`] is that cache; each channel's `DisplayState` locks it
//! only to look up, store or invalidate (decoding happens outside the lock,
//! so a GLZ image waiting for another channel never holds it). Pixels are
//! reference counted: a lookup clones an `Arc`, never the pixels.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

mod aging;
mod entry;

pub use entry::CachedImage;
pub(crate) use entry::CachedPixels;

use crate::budget::{MemoryBudget, Meter};
use crate::proto::channel::display::ResourceId;

/// `SPICE_RES_TYPE_PIXMAP`: the only resource type INVAL_LIST names.
pub const RES_TYPE_PIXMAP: u8 = 1;

/// spice-gtk's default image cache size (`IMAGES_CACHE_SIZE_DEFAULT`).
pub const DEFAULT_IMAGE_CACHE_BYTES: u64 = 80 << 20;
/// Most entries the cache holds, whatever their size.
pub const MAX_CACHED_IMAGES: usize = 1 << 18;
/// Bytes of full-size (4 bytes per pixel) pixels kept before the least
/// recently stored or used entries are packed or encoded (see "Packed
/// entries"): a few seconds of text lines, a few frames of video.
pub const FULL_SIZE_BYTES: u64 = 4 << 20;

/// Image decoding and cache counters (part of [`super::DisplayStats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageStats {
    /// Images decoded by a codec (QUIC, LZ, GLZ, JPEG, LZ4, ...).
    pub decoded: u64,
    /// Images stored by `CACHE_ME`.
    pub cache_inserts: u64,
    /// Images stored by `CACHE_REPLACE_ME`.
    pub cache_replaces: u64,
    pub cache_hits: u64,
    /// FROM_CACHE / FROM_CACHE_LOSSLESS lookups that failed (id unknown, or
    /// only a lossy entry for a lossless lookup).
    pub cache_misses: u64,
    /// Entries dropped to stay within the budget or the entry cap.
    pub cache_evictions: u64,
    /// Images not stored: larger than the whole budget, or allocation failed.
    pub cache_refused: u64,
    /// INVAL_LIST references dropped.
    pub cache_invalidated: u64,
    /// INVAL_LIST ids that were not cached.
    pub cache_inval_unknown: u64,
    /// INVAL_ALL_PIXMAPS messages.
    pub cache_clears: u64,
}

/// How a store treats an id that is already cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMode {
    /// `CACHE_ME`: one more reference.
    Add,
    /// `CACHE_REPLACE_ME`: same references, new (lossless) pixels.
    Replace,
}

/// What a store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    Yes,
    /// Not stored (too large or out of memory); an older entry with the same id is gone too.
    Refused,
}

/// Result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Hit,
    Missing,
    /// A lossless entry was asked for and only a lossy one is cached.
    Lossy,
}

/// The pixmap cache: id → decoded image, with a byte budget and LRU order.
#[derive(Debug)]
pub struct ImageCache {
    budget: u64,
    used: u64,
    /// Most bytes held at once.
    peak: u64,
    /// Bytes of memory the entries' pixels take (packed entries are smaller).
    held: u64,
    /// Bytes of `Full` entries, and the ticks they were stored or last
    /// packed-checked at, oldest first (stale slots are skipped).
    full: u64,
    full_order: VecDeque<(u64, u64)>,
    /// Entries packed since the cache was made.
    packed: u64,
    /// Entries turned into their encoded image since the cache was made.
    encoded: u64,
    /// [`FULL_SIZE_BYTES`], lower in tests.
    full_limit: u64,
    tick: u64,
    entries: HashMap<u64, CachedImage>,
    /// Last-use tick → id, oldest first.
    lru: BTreeMap<u64, u64>,
    /// `held`, counted against the session's memory budget.
    meter: Meter,
}

impl Default for ImageCache {
    fn default() -> Self {
        Self::new(DEFAULT_IMAGE_CACHE_BYTES)
    }
}

impl ImageCache {
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            used: 0,
            peak: 0,
            held: 0,
            full: 0,
            full_order: VecDeque::new(),
            packed: 0,
            encoded: 0,
            full_limit: FULL_SIZE_BYTES,
            tick: 0,
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            meter: Meter::default(),
        }
    }

    /// Counts the pixels held against the session's memory `budget`: an
    /// image the budget cannot hold evicts the least recently used entries
    /// until it fits, or is not stored (counted in `cache_refused`). The
    /// cache is shared by the session's display channels: the first budget
    /// attached stays.
    pub fn attach_budget(&mut self, budget: &Arc<MemoryBudget>) {
        if !self.meter.is_attached() {
            self.meter.attach(budget, self.held);
        }
    }

    /// Reserves `extra` bytes beyond those held, evicting least recently
    /// used entries while the budget cannot hold them; false when it cannot.
    fn charge(&mut self, extra: u64, stats: &mut ImageStats) -> bool {
        if extra > self.meter.room() {
            // Not even an empty cache could hold it: keep what is there.
            return false;
        }
        while self.meter.set(self.held.saturating_add(extra)).is_err() {
            let Some((_, id)) = self.lru.pop_first() else {
                return false;
            };
            if let Some(e) = self.entries.remove(&id) {
                self.forget(&e);
                stats.cache_evictions = stats.cache_evictions.saturating_add(1);
            }
        }
        true
    }

    /// Gives back what is no longer held.
    fn sync_meter(&mut self) {
        let _ = self.meter.set(self.held);
    }

    /// Bytes the cache may hold (the announced pixel count × 4).
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes of pixels held.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// Most bytes of pixels held at once since the cache was made.
    pub fn peak_bytes(&self) -> u64 {
        self.peak
    }

    /// Bytes of memory the pixels take now (packed entries count their packed size).
    pub fn memory_bytes(&self) -> u64 {
        self.held
    }

    /// How many entries were packed since the cache was made.
    pub fn packed_count(&self) -> u64 {
        self.packed
    }

    /// Sets how many bytes of full-size pixels are kept before the oldest
    /// are packed ([`FULL_SIZE_BYTES`] by default).
    pub fn set_full_size_limit(&mut self, bytes: u64) {
        self.full_limit = bytes;
        self.pack_old_entries();
        self.sync_meter();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// The entry for `id` without touching the LRU order.
    pub fn peek(&self, id: u64) -> Option<&CachedImage> {
        self.entries.get(&id)
    }

    /// Changes the budget, evicting least recently used entries to fit.
    pub fn set_budget(&mut self, budget: u64, stats: &mut ImageStats) {
        self.budget = budget;
        self.make_room(0, 0, stats);
    }

    /// Looks `id` up (FROM_CACHE, or FROM_CACHE_LOSSLESS with `lossless`)
    /// and marks it as recently used.
    pub(crate) fn lookup(&mut self, id: u64, lossless: bool) -> Lookup {
        let tick = self.next_tick();
        let Some(e) = self.entries.get_mut(&id) else {
            return Lookup::Missing;
        };
        if lossless && e.lossy {
            return Lookup::Lossy;
        }
        self.lru.remove(&e.tick);
        e.tick = tick;
        self.lru.insert(tick, id);
        Lookup::Hit
    }

    /// Stores a `width`×`height` image under `id`; `fill` writes its
    /// `width × height × 4` bytes (top-down B,G,R,A rows). An older entry
    /// with the same id is replaced (its allocation reused when the size
    /// matches).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store(
        &mut self,
        id: u64,
        (width, height): (u32, u32),
        has_alpha: bool,
        lossy: bool,
        mode: StoreMode,
        stats: &mut ImageStats,
        fill: impl FnOnce(&mut [u8]),
    ) -> Stored {
        let (refs, mut data) = match self.take(id) {
            Some(old) => {
                let refs = match mode {
                    StoreMode::Add => old.refs.saturating_add(1),
                    StoreMode::Replace => old.refs,
                };
                // Reuse the allocation unless a reader still holds it.
                let data = match old.pixels {
                    CachedPixels::Full(d) => Arc::try_unwrap(d).unwrap_or_default(),
                    CachedPixels::Packed(_) | CachedPixels::Encoded(_) => Vec::new(),
                };
                (refs, data)
            }
            None => (1, Vec::new()),
        };
        let bytes = u64::from(width)
            .checked_mul(u64::from(height))
            .and_then(|px| px.checked_mul(4))
            .filter(|&b| b <= self.budget);
        let Some(len) = bytes.and_then(|b| usize::try_from(b).ok()) else {
            stats.cache_refused = stats.cache_refused.saturating_add(1);
            return Stored::Refused;
        };
        self.make_room(bytes.unwrap_or(0), 1, stats);
        if !self.charge(len as u64, stats) {
            stats.cache_refused = stats.cache_refused.saturating_add(1);
            return Stored::Refused;
        }
        data.clear();
        if data.capacity() > len.saturating_mul(2) {
            // Do not keep a much larger allocation alive in the cache.
            data = Vec::new();
        }
        if data.try_reserve_exact(len).is_err() {
            stats.cache_refused = stats.cache_refused.saturating_add(1);
            self.sync_meter();
            return Stored::Refused;
        }
        data.resize(len, 0);
        fill(&mut data);
        self.commit(id, (width, height), has_alpha, lossy, mode, refs, Arc::new(data), stats)
    }

    /// Stores pixels someone else holds too (a GLZ image, shared with the
    /// GLZ window): no copy. `data` must be `width × height × 4` bytes of
    /// top-down B,G,R,A rows; otherwise nothing is stored. References and
    /// replacement as in [`Self::store`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_shared(
        &mut self,
        id: u64,
        (width, height): (u32, u32),
        has_alpha: bool,
        lossy: bool,
        mode: StoreMode,
        stats: &mut ImageStats,
        data: Arc<Vec<u8>>,
    ) -> Stored {
        let refs = match (self.take(id), mode) {
            (Some(old), StoreMode::Add) => old.refs.saturating_add(1),
            (Some(old), StoreMode::Replace) => old.refs,
            (None, _) => 1,
        };
        let bytes = u64::from(width)
            .checked_mul(u64::from(height))
            .and_then(|px| px.checked_mul(4))
            .filter(|&b| b <= self.budget && usize::try_from(b).ok() == Some(data.len()));
        let Some(bytes) = bytes else {
            stats.cache_refused = stats.cache_refused.saturating_add(1);
            return Stored::Refused;
        };
        self.make_room(bytes, 1, stats);
        if !self.charge(bytes, stats) {
            stats.cache_refused = stats.cache_refused.saturating_add(1);
            return Stored::Refused;
        }
        self.commit(id, (width, height), has_alpha, lossy, mode, refs, data, stats)
    }

    /// The end of [`Self::store`] and [`Self::store_shared`]: the entry goes
    /// in (marked lossy only when added) and is counted.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        id: u64,
        (width, height): (u32, u32),
        has_alpha: bool,
        lossy: bool,
        mode: StoreMode,
        refs: u32,
        data: Arc<Vec<u8>>,
        stats: &mut ImageStats,
    ) -> Stored {
        self.insert(
            id,
            width,
            height,
            has_alpha,
            lossy && mode == StoreMode::Add,
            refs,
            data,
        );
        match mode {
            StoreMode::Add => stats.cache_inserts = stats.cache_inserts.saturating_add(1),
            StoreMode::Replace => stats.cache_replaces = stats.cache_replaces.saturating_add(1),
        }
        Stored::Yes
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        id: u64,
        width: u32,
        height: u32,
        has_alpha: bool,
        lossy: bool,
        refs: u32,
        data: Arc<Vec<u8>>,
    ) {
        let tick = self.next_tick();
        let entry = CachedImage {
            width,
            height,
            has_alpha,
            lossy,
            pixels: CachedPixels::Full(data),
            encoded: None,
            unpackable: false,
            refs,
            tick,
        };
        self.used = self.used.saturating_add(entry.bytes());
        self.peak = self.peak.max(self.used);
        self.held = self.held.saturating_add(entry.held());
        self.full = self.full.saturating_add(entry.held());
        self.full_order.push_back((tick, id));
        self.lru.insert(tick, id);
        self.entries.insert(id, entry);
        self.pack_old_entries();
        self.sync_meter();
    }

    /// Bookkeeping of an entry leaving the cache.
    fn forget(&mut self, e: &CachedImage) {
        self.used = self.used.saturating_sub(e.bytes());
        self.held = self.held.saturating_sub(e.held());
        if !e.unpackable {
            self.full = self.full.saturating_sub(e.full_bytes());
        }
        self.sync_meter();
    }

    /// INVAL_LIST: drops one reference to `id`; false if it was not cached.
    pub fn invalidate(&mut self, id: u64) -> bool {
        let Some(e) = self.entries.get_mut(&id) else {
            return false;
        };
        e.refs = e.refs.saturating_sub(1);
        if e.refs == 0 {
            self.take(id);
        }
        true
    }

    /// INVAL_LIST: drops one reference to every pixmap id of `list`;
    /// resources of other types are skipped.
    pub fn inval_list(&mut self, list: &[ResourceId], stats: &mut ImageStats) {
        for r in list {
            if r.resource_type != RES_TYPE_PIXMAP {
                tracing::debug!(
                    resource_type = r.resource_type,
                    id = r.id,
                    "inval_list: not a pixmap; skipped"
                );
                continue;
            }
            if self.invalidate(r.id) {
                stats.cache_invalidated = stats.cache_invalidated.saturating_add(1);
            } else {
                stats.cache_inval_unknown = stats.cache_inval_unknown.saturating_add(1);
            }
        }
    }

    /// INVAL_ALL_PIXMAPS. Its wait list (messages of other display channels
    /// that must be processed first) is the runtime's to honour before
    /// handing the message over.
    pub fn inval_all(&mut self, stats: &mut ImageStats) {
        stats.cache_clears = stats.cache_clears.saturating_add(1);
        self.clear();
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.lru.clear();
        self.full_order.clear();
        self.used = 0;
        self.held = 0;
        self.full = 0;
        self.sync_meter();
    }

    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    /// Removes `id` whatever its reference count.
    fn take(&mut self, id: u64) -> Option<CachedImage> {
        let e = self.entries.remove(&id)?;
        self.lru.remove(&e.tick);
        self.forget(&e);
        Some(e)
    }

    /// Evicts least recently used entries until `extra` more bytes and
    /// `more` more entries fit.
    fn make_room(&mut self, extra: u64, more: usize, stats: &mut ImageStats) {
        while self.used.saturating_add(extra) > self.budget
            || self.entries.len().saturating_add(more) > MAX_CACHED_IMAGES
        {
            let Some((_, id)) = self.lru.pop_first() else {
                // Cannot happen (every entry has an LRU slot); resynchronise.
                self.clear();
                return;
            };
            if let Some(e) = self.entries.remove(&id) {
                self.forget(&e);
                stats.cache_evictions = stats.cache_evictions.saturating_add(1);
            }
        }
    }
}

/// The image cache of a session, shared by its display channels.
#[derive(Debug, Clone)]
pub struct SharedImageCache(Arc<Mutex<ImageCache>>);

impl SharedImageCache {
    pub fn new(budget: u64) -> Self {
        Self(Arc::new(Mutex::new(ImageCache::new(budget))))
    }

    /// Locks the cache (a panic elsewhere while it was locked leaves it usable:
    /// every operation keeps it consistent before it can panic).
    pub fn lock(&self) -> MutexGuard<'_, ImageCache> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `self` and `other` are the same cache.
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for SharedImageCache {
    fn default() -> Self {
        Self::new(DEFAULT_IMAGE_CACHE_BYTES)
    }
}
