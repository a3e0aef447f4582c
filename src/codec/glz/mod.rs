//! GLZ decoder and the global dictionary window shared by every display channel of a session.
//!
//! # Format
//!
//! Header (big-endian): magic and version as in LZ, one byte `type | top_down << 4`, width,
//! height and stride (`u32`), the image id (`u64`, counted by the server's dictionary across all
//! display channels) and `win_head_dist` (`u32`): the image `id - win_head_dist` is the oldest
//! one this image, and every later one, may reference.
//!
//! The token stream is the LZ one with a different match encoding: after the control byte
//! (length field in bits 7..5, "long offset" flag in bit 4, offset bits 3..0) and the length
//! extension come the offset bits 11..4, then a byte whose bits 7..6 count the image-distance
//! bytes that follow. A short offset (12 bits) keeps 6 image-distance bits in that byte; a
//! long one keeps 5 more offset bits and a "very long" flag (one more offset byte). Image
//! distance 0 is a back-reference in the current image (distance biased by one); otherwise
//! the offset counts pixels from the start of image `id - image distance`.
//!
//! Only RGB types reach the client as GLZ_RGB (RGB16, RGB24, RGB32 and RGBA, whose alpha stream
//! follows the colour stream); palette types would need a palette the message does not carry.
//!
//! # Memory accounting
//!
//! Every image in the window is kept as B,G,R,A bytes in stream order: `width * height * 4`
//! bytes, which is the unit the client announces (`glz_dictionary_window_size` counts pixels:
//! announce `max_bytes / 4`). The window holds at most `max_bytes` of such pixels; a new image
//! evicts the oldest ones first (references to an evicted image then fail at once). Beyond
//! that, memory is the image being decoded (its buffer, plus a 1-byte plane for RGBA), images
//! still borrowed by a concurrent decode (`Arc`), one spare buffer kept for reuse, and a few
//! bytes of bookkeeping per image id in flight (at most [`MAX_PENDING`] ids).
//! The images held are also counted against the session's memory budget
//! when one is attached ([`GlzWindow::attach_budget`]).
//!
//! Releasing follows spice-gtk's `glz_decoder_window_release`: once every id up to the newest
//! *contiguous* one has arrived, images older than that image's `id - win_head_dist` can never
//! be referenced again and are dropped. Images that arrive out of order (one display channel
//! running ahead of another, hostile-inputs row 23) are kept until the gap closes, still under
//! the `max_bytes` cap; announcing a little less than `max_bytes / 4` pixels leaves room for them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::lz::{
    ByteUnit, LzType, MAX_COPY, Reader, Rgb16Unit, Rgb32Unit, Unit, check_fillable, copy_back, literal_run,
};
use super::{CodecError, ImageBuf, MAX_BYTES};
use crate::budget::{MemoryBudget, Meter};

#[doc(hidden)]
pub mod encode;
mod header;

use header::read_header;
pub use header::{Header, header};

const CODEC: &str = "glz";

/// Most images kept in the window whatever their size.
pub const MAX_IMAGES: usize = 1 << 16;
/// Most out-of-order ids remembered while waiting for a gap to close.
pub const MAX_PENDING: usize = 4096;

/// A decoded image kept for references: B,G,R,A in stream order. The
/// pixels of a top-down image are the very buffer [`GlzWindow::decode_shared`]
/// hands out (and the image cache may keep): one copy for both.
#[derive(Debug, Clone)]
struct WinImage {
    has_alpha: bool,
    data: Arc<Vec<u8>>,
}

/// A decoded GLZ image: top-down B,G,R,A rows, `width × 4` bytes each.
/// Without alpha (`has_alpha` false) every alpha byte is 255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    pub pixels: Arc<Vec<u8>>,
}

#[derive(Debug, Default)]
struct State {
    /// Decoded images by id.
    images: BTreeMap<u64, WinImage>,
    /// Bytes of `images`.
    bytes: u64,
    /// Ids below this were released or evicted: references to them fail at once.
    oldest: u64,
    /// Smallest id not arrived yet, counting from the first id seen after a reset.
    next_missing: Option<u64>,
    /// Ids at or above `next_missing` that arrived (decoded or failed), with their head.
    ahead: BTreeMap<u64, u64>,
    /// Bumped by `clear`: decodes started before it neither wait on nor add to the new window.
    generation: u64,
    /// One evicted buffer kept for the next image.
    spare: Option<Vec<u8>>,
    /// `bytes`, counted against the session's memory budget.
    meter: Meter,
}

impl State {
    /// Whether `id` arrived already (decoded or not).
    fn arrived(&self, id: u64) -> bool {
        self.ahead.contains_key(&id) || self.next_missing.is_some_and(|n| id < n)
    }

    fn recycle(&mut self, img: WinImage) {
        self.bytes = self.bytes.saturating_sub(img.data.len() as u64);
        let _ = self.meter.set(self.bytes);
        // Reused only when nobody else (a decode, the image cache) holds it.
        if let Ok(data) = Arc::try_unwrap(img.data)
            && self.spare.as_ref().is_none_or(|s| s.capacity() < data.capacity())
        {
            self.spare = Some(data);
        }
    }

    /// Drops every image below `id`.
    fn release_below(&mut self, id: u64) {
        if id <= self.oldest {
            return;
        }
        self.oldest = id;
        let kept = self.images.split_off(&id);
        let gone = std::mem::replace(&mut self.images, kept);
        for img in gone.into_values() {
            self.recycle(img);
        }
    }

    /// Records that `id` (with window head `head`) arrived; releases what no later image can use.
    fn note_arrival(&mut self, id: u64, head: u64) {
        let next = *self.next_missing.get_or_insert(id);
        if id < next {
            return;
        }
        self.ahead.insert(id, head);
        let mut release_to = 0;
        let mut n = next;
        loop {
            while let Some(h) = self.ahead.remove(&n) {
                release_to = release_to.max(h);
                n = n.saturating_add(1);
            }
            if self.ahead.len() <= MAX_PENDING {
                break;
            }
            // Too many ids in flight: give up on the gap.
            match self.ahead.keys().next() {
                Some(&first) => n = first,
                None => break,
            }
        }
        self.next_missing = Some(n);
        self.release_below(release_to);
    }

    /// Adds a decoded image, evicting the oldest ones beyond `max_bytes` / [`MAX_IMAGES`].
    fn insert(&mut self, id: u64, img: WinImage, max_bytes: u64) {
        let size = img.data.len() as u64;
        if id < self.oldest {
            return;
        }
        if size > max_bytes {
            // Larger than the whole window: nothing older can stay, and it cannot either.
            self.release_below(id.saturating_add(1));
            return;
        }
        loop {
            let fits = self.bytes.saturating_add(size) <= max_bytes && self.images.len() < MAX_IMAGES;
            // The session's budget is asked last: it then holds the new image.
            if fits && self.meter.set(self.bytes.saturating_add(size)).is_ok() {
                break;
            }
            let Some((&first, _)) = self.images.iter().next() else {
                // Only the budget refuses it (nothing older to evict): not kept.
                return;
            };
            if first > id {
                // The new image is the oldest: it is the one that does not fit.
                self.oldest = self.oldest.max(id.saturating_add(1));
                return;
            }
            if let Some(old) = self.images.remove(&first) {
                self.recycle(old);
            }
            self.oldest = self.oldest.max(first.saturating_add(1));
        }
        self.bytes = self.bytes.saturating_add(size);
        if let Some(old) = self.images.insert(id, img) {
            self.recycle(old);
        }
    }
}

/// Called after an image arrived in a window (decoded or failed) or the window was cleared.
pub type ArrivalListener = Arc<dyn Fn() + Send + Sync>;

/// The GLZ dictionary window (thread-safe; share it with `Arc`).
///
/// Decoding never waits: a reference to an image that has not arrived yet
/// (another display channel is still decoding it) is reported as
/// [`CodecError::GlzPending`] when the caller may wait for it, and the caller
/// retries after the window's [arrival listener](GlzWindow::set_arrival_listener)
/// fired (the runtime does this asynchronously, bounded and cancellable).
pub struct GlzWindow {
    max_bytes: u64,
    state: Mutex<State>,
    listener: OnceLock<ArrivalListener>,
}

impl std::fmt::Debug for GlzWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlzWindow")
            .field("max_bytes", &self.max_bytes)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What a reference to an image that has not arrived yet means to a decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {
    /// The image may still come (another display channel is on it): the decode
    /// fails with [`CodecError::GlzPending`], changes nothing, and can be retried.
    Pending,
    /// Nobody will send it (one display channel, or the wait is over): the
    /// decode fails with [`CodecError::GlzMissing`] and the image counts as arrived.
    Missing,
}

impl Default for GlzWindow {
    fn default() -> Self {
        Self::new(0)
    }
}

impl GlzWindow {
    /// A window holding at most `max_bytes` of decoded images (4 bytes per pixel).
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            state: Mutex::new(State::default()),
            listener: OnceLock::new(),
        }
    }

    /// Sets the function called after every arrival (and clear); once per window.
    /// Returns false when a listener was set already.
    pub fn set_arrival_listener(&self, listener: ArrivalListener) -> bool {
        self.listener.set(listener).is_ok()
    }

    fn notify_arrival(&self) {
        if let Some(l) = self.listener.get() {
            l();
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Counts the images held against the session's memory `budget` (the
    /// first budget attached stays): an image it cannot hold evicts the
    /// oldest ones, or is not kept (later references to it fail).
    pub fn attach_budget(&self, budget: &Arc<MemoryBudget>) {
        let mut st = self.lock();
        if !st.meter.is_attached() {
            let held = st.bytes;
            st.meter.attach(budget, held);
        }
    }

    /// Locks the state; a panic elsewhere while holding the lock cannot leave it inconsistent
    /// in a way that matters (worst case a missing image), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bumped by every [`clear`](Self::clear): a decode retried after a
    /// pending reference gives up (uses [`Absent::Missing`]) when it changed.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Bytes of decoded images held now.
    pub fn held_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Ids of the images held now, oldest first.
    pub fn ids(&self) -> Vec<u64> {
        self.lock().images.keys().copied().collect()
    }

    /// Forgets every image (display channel reset). Decodes that were waiting
    /// for an image fail when retried.
    pub fn clear(&self) {
        let mut st = self.lock();
        let generation = st.generation.wrapping_add(1);
        let spare = st.spare.take();
        let mut meter = std::mem::take(&mut st.meter);
        let _ = meter.set(0);
        *st = State {
            generation,
            spare,
            meter,
            ..State::default()
        };
        drop(st);
        self.notify_arrival();
    }

    /// Decodes a GLZ_RGB image into `out`; `absent` says what a reference to
    /// an image that has not arrived yet means.
    pub fn decode(&self, data: &[u8], out: &mut ImageBuf, absent: Absent) -> Result<(), CodecError> {
        let d = self.decode_shared(data, absent)?;
        out.reset(CODEC, d.width, d.height)?;
        out.data.copy_from_slice(&d.pixels);
        out.has_alpha = d.has_alpha;
        Ok(())
    }

    /// Decodes a GLZ_RGB image like [`Self::decode`], into pixels shared with
    /// the window: a top-down image is not copied out of it (a bottom-up one
    /// is, flipped).
    pub fn decode_shared(&self, data: &[u8], absent: Absent) -> Result<Decoded, CodecError> {
        let mut r = Reader::new(data, CODEC);
        let h = read_header(&mut r)?;
        let pixels = u64::from(h.width) * u64::from(h.height);
        let units = if h.ty == LzType::Rgba { pixels * 2 } else { pixels };
        check_fillable(CODEC, units, r.remaining())?;
        // Same limits as `ImageBuf::reset` (the header checked them already).
        let len = pixels
            .checked_mul(4)
            .filter(|&b| b <= MAX_BYTES)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or(CodecError::TooLarge {
                codec: CODEC,
                width: u64::from(h.width),
                height: u64::from(h.height),
            })?;
        let (generation, spare) = {
            let mut st = self.lock();
            (st.generation, st.spare.take())
        };
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        let mut refs = Refs {
            window: self,
            by: h.id,
            head: h.head(),
            generation,
            absent,
            cache: Vec::new(),
        };
        let result = decode_body(&h, &mut r, &mut buf, &mut refs);
        drop(refs);
        if let Err(e) = result {
            let pending = matches!(e, CodecError::GlzPending { .. });
            let mut st = self.lock();
            // A pending decode will be retried: it has not arrived.
            if st.generation == generation && !pending {
                st.note_arrival(h.id, h.head());
            }
            if st.spare.is_none() {
                st.spare = Some(buf);
            }
            drop(st);
            if !pending {
                self.notify_arrival();
            }
            return Err(e);
        }
        let has_alpha = h.ty == LzType::Rgba;
        let data = Arc::new(buf);
        let pixels = if h.top_down {
            Arc::clone(&data)
        } else {
            let stride = usize::try_from(h.width).unwrap_or(usize::MAX).saturating_mul(4);
            let mut flipped = Vec::with_capacity(data.len());
            for row in data.chunks_exact(stride).rev() {
                flipped.extend_from_slice(row);
            }
            Arc::new(flipped)
        };
        let mut st = self.lock();
        if st.generation == generation {
            // Insert first: releasing by this image's head must not drop the image itself.
            st.insert(h.id, WinImage { has_alpha, data }, self.max_bytes);
            st.note_arrival(h.id, h.head());
        }
        drop(st);
        self.notify_arrival();
        Ok(Decoded {
            width: h.width,
            height: h.height,
            has_alpha,
            pixels,
        })
    }

    /// The image `id` for a reference by image `by`: pending when it has not
    /// arrived yet and the decode may wait, missing when it never will.
    fn get(&self, refs: &Refs<'_>, id: u64) -> Result<WinImage, CodecError> {
        let missing = CodecError::GlzMissing { id, by: refs.by };
        let st = self.lock();
        if st.generation != refs.generation {
            return Err(missing);
        }
        if let Some(img) = st.images.get(&id) {
            return Ok(img.clone());
        }
        if id < st.oldest || st.arrived(id) || refs.absent == Absent::Missing {
            return Err(missing);
        }
        Err(CodecError::GlzPending { id, by: refs.by })
    }
}

/// Resolves references to other images during one decode.
struct Refs<'w> {
    window: &'w GlzWindow,
    by: u64,
    head: u64,
    generation: u64,
    absent: Absent,
    cache: Vec<(u64, WinImage)>,
}

impl Refs<'_> {
    fn image(&mut self, image_dist: u32) -> Result<WinImage, CodecError> {
        let id = self
            .by
            .checked_sub(u64::from(image_dist))
            .ok_or(CodecError::invalid(CODEC, "reference before image 0"))?;
        if id < self.head {
            return Err(CodecError::invalid(CODEC, "reference before the window head"));
        }
        if let Some((_, img)) = self.cache.iter().find(|(i, _)| *i == id) {
            return Ok(img.clone());
        }
        let img = self.window.get(self, id)?;
        self.cache.push((id, img.clone()));
        Ok(img)
    }

    /// The `len` pixels at `offset` of the image `image_dist` back, as B,G,R,A bytes.
    fn pixels(&mut self, image_dist: u32, offset: usize, len: usize) -> Result<(WinImage, usize, usize), CodecError> {
        let img = self.image(image_dist)?;
        let start = offset
            .checked_mul(4)
            .ok_or(CodecError::invalid(CODEC, "offset overflows"))?;
        let end = offset
            .checked_add(len)
            .and_then(|e| e.checked_mul(4))
            .filter(|&e| e <= img.data.len())
            .ok_or(CodecError::invalid(CODEC, "reference beyond the referenced image"))?;
        Ok((img, start, end))
    }
}

/// Colour pass of a GLZ stream, or the alpha pass when `U` is [`ByteUnit`] (then `out` is the
/// alpha plane and references to other images read their alpha bytes).
fn decode_stream<U: Unit>(
    r: &mut Reader<'_>,
    out: &mut [u8],
    refs: &mut Refs<'_>,
    opaque: bool,
) -> Result<(), CodecError> {
    let n = out.len() / U::OUT;
    let mut op = 0usize;
    while op < n {
        let ctrl = usize::from(r.u8()?);
        if ctrl >= MAX_COPY {
            let mut len = ctrl >> 5;
            let long_ofs = ctrl & 16 != 0;
            let mut ofs = ctrl & 15;
            if len == 7 {
                loop {
                    let code = r.u8()?;
                    len = len.saturating_add(usize::from(code));
                    if code != 255 {
                        break;
                    }
                }
            }
            ofs += usize::from(r.u8()?) << 4;
            let code = r.u8()?;
            let image_bytes = code >> 6;
            let mut image_dist: u32;
            if !long_ofs {
                image_dist = u32::from(code & 0x3f);
                for i in 0..image_bytes {
                    image_dist += u32::from(r.u8()?) << (6 + 8 * u32::from(i));
                }
            } else {
                ofs += usize::from(code & 0x1f) << 12;
                image_dist = 0;
                for i in 0..image_bytes {
                    image_dist += u32::from(r.u8()?) << (8 * u32::from(i));
                }
                if code & 0x20 != 0 {
                    ofs += usize::from(r.u8()?) << 17;
                }
            }
            let len = len.saturating_add(U::BASE);
            if len > n - op {
                return Err(CodecError::invalid(CODEC, "match runs past the end of the image"));
            }
            if image_dist == 0 {
                let dist = ofs + 1;
                if dist > op {
                    return Err(CodecError::invalid(CODEC, "match starts before the image"));
                }
                copy_back(out, op, dist, len, U::OUT).ok_or(CodecError::invalid(CODEC, "match outside the image"))?;
            } else {
                let (img, start, end) = refs.pixels(image_dist, ofs, len)?;
                let src = img
                    .data
                    .get(start..end)
                    .ok_or(CodecError::invalid(CODEC, "reference outside"))?;
                let dst = out
                    .get_mut(op * U::OUT..(op + len) * U::OUT)
                    .ok_or(CodecError::invalid(CODEC, "match outside the image"))?;
                if U::OUT == 4 {
                    dst.copy_from_slice(src);
                    if opaque && img.has_alpha {
                        dst.chunks_exact_mut(4).for_each(|p| {
                            if let Some(a) = p.get_mut(3) {
                                *a = 255;
                            }
                        });
                    }
                } else {
                    for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                        *d = s.get(3).copied().unwrap_or(255);
                    }
                }
            }
            op += len;
        } else {
            op += literal_run::<U>(CODEC, r, out, ctrl, op, n)?;
        }
    }
    Ok(())
}

fn decode_body(h: &Header, r: &mut Reader<'_>, buf: &mut [u8], refs: &mut Refs<'_>) -> Result<(), CodecError> {
    match h.ty {
        LzType::Rgb16 => decode_stream::<Rgb16Unit>(r, buf, refs, true),
        LzType::Rgba => {
            decode_stream::<Rgb32Unit>(r, buf, refs, false)?;
            let mut alpha = vec![0u8; buf.len() / 4];
            decode_stream::<ByteUnit>(r, &mut alpha, refs, false)?;
            for (px, a) in buf.chunks_exact_mut(4).zip(alpha) {
                if let Some(d) = px.get_mut(3) {
                    *d = a;
                }
            }
            Ok(())
        }
        _ => decode_stream::<Rgb32Unit>(r, buf, refs, true),
    }
}

#[cfg(test)]
mod tests;
