//! Cursor state (L0, sans-IO): decodes the guest's pointer shapes into RGBA,
//! keeps the cursor cache and turns cursor-channel messages into
//! [`CursorEvent`]s.
//!
//! No threads, sockets or clocks; nothing here panics on server input.
//!
//! # Pixels
//! A decoded [`CursorShape`] holds **straight (non-premultiplied) RGBA**, bytes
//! R, G, B, A in memory, rows top-down and `width * 4` bytes apart (the layout
//! of `GdkMemoryFormat::R8G8B8A8`). ALPHA shapes arrive with premultiplied
//! colour (an X server's cursor images are, and so is what Xspice and the
//! QXL drivers forward: a half-transparent white edge is `4d4b4b4b`), so
//! they are un-premultiplied here; taken as straight alpha (as spice-gtk
//! does) their translucent edges would be shown too dark.
//!
//! # Masks and "invert" pixels
//! MONO shapes carry an AND mask then an XOR mask; COLOR shapes carry their
//! pixels, a palette (COLOR4/COLOR8) then an AND mask. Mask rows are
//! `ceil(width / 8)` bytes, most significant bit first. AND clear: the pixel
//! is drawn (MONO: XOR clear = black, set = white). AND set: transparent,
//! except MONO XOR set or a COLOR pixel that is white, which ask for the
//! screen to be inverted. No GdkCursor can invert, so those pixels are drawn
//! opaque black and every transparent pixel touching one (4-neighbourhood)
//! opaque white: the shape stays visible on dark and light backgrounds alike
//! (spice-gtk highlights such edges the same way).
//!
//! # Cache
//! Shapes sent with CACHE_ME are kept under their unique id (shared through
//! `Arc`, never copied) until INVAL_ONE, INVAL_ALL, RESET or INIT; the cache
//! is bounded by [`CacheLimits`] (oldest entries dropped first). A FROM_CACHE
//! of an unknown id hides the cursor, as spice-gtk does.

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use crate::proto::channel::cursor::{Cursor, CursorHeader, CursorServer, CursorType, MAX_CURSOR_SIDE, flags};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use thiserror::Error;

/// A cursor shape that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CursorError {
    #[error("unknown cursor type {0}")]
    UnknownType(u8),
    #[error("cursor {width}x{height} exceeds the {max}-pixel limit")]
    TooLarge { width: u16, height: u16, max: u16 },
    #[error("cursor data is {received} bytes, its type and size need {expected}")]
    DataSize { expected: usize, received: usize },
    #[error("cursor {0:#x} is not in the cache")]
    CacheMiss(u64),
    #[error("cursor message without a shape header")]
    NoHeader,
}

/// A decoded pointer shape.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorShape {
    /// The server's unique id of the shape.
    pub unique: u64,
    /// The wire type it was decoded from.
    pub kind: CursorType,
    pub width: u16,
    pub height: u16,
    /// Hot spot, within `0..=width` and `0..=height`.
    pub hot_x: u16,
    pub hot_y: u16,
    /// Straight RGBA, `width * height * 4` bytes, rows top-down.
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for CursorShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorShape")
            .field("unique", &self.unique)
            .field("kind", &self.kind)
            .field("size", &(self.width, self.height))
            .field("hot", &(self.hot_x, self.hot_y))
            .finish_non_exhaustive()
    }
}

impl CursorShape {
    /// The RGBA of pixel (x, y), if inside.
    pub fn pixel(&self, x: u16, y: u16) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        let p = self.rgba.get(i..i + 4)?;
        let mut out = [0u8; 4];
        out.copy_from_slice(p);
        Some(out)
    }

    /// Bytes this shape holds (for the cache budget).
    pub fn byte_size(&self) -> usize {
        self.rgba.len() + std::mem::size_of::<Self>()
    }
}

/// What a cursor message changes, for the embedder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CursorEvent {
    /// A new shape, at guest position (x, y); `visible` false means it is
    /// set but hidden until the next SET.
    Set {
        shape: Arc<CursorShape>,
        x: i32,
        y: i32,
        visible: bool,
    },
    /// The guest pointer moved (server mouse mode).
    Move { x: i32, y: i32 },
    /// No cursor is to be shown.
    Hide,
    /// Back to the default cursor; the cache was cleared.
    Reset,
    /// Pointer trails asked for (drawn by no client; reported for completeness).
    Trail { length: u16, frequency: u16 },
}

/// Bounds of the cursor cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        // spice-server keeps at most 64 cursors; room for four times that,
        // and for a handful of the largest (4 MiB) shapes.
        Self {
            max_entries: 256,
            max_bytes: 32 << 20,
        }
    }
}

/// Straight colour from a premultiplied `c` at alpha `a` (rounded; a colour
/// above its alpha, invalid premultiplied data, saturates).
fn unpremultiply(c: u8, a: u8) -> u8 {
    match a {
        0 => 0,
        255 => c,
        _ => {
            let v = (u32::from(c) * 255 + u32::from(a) / 2) / u32::from(a);
            u8::try_from(v.min(255)).unwrap_or(u8::MAX)
        }
    }
}

/// Decodes a shape carried inline (not FROM_CACHE).
pub fn decode_shape(header: &CursorHeader, data: &[u8]) -> Result<CursorShape, CursorError> {
    let kind = CursorType::from_wire(header.cursor_type).ok_or(CursorError::UnknownType(header.cursor_type))?;
    let (w, h) = (header.width, header.height);
    if w > MAX_CURSOR_SIDE || h > MAX_CURSOR_SIDE {
        return Err(CursorError::TooLarge {
            width: w,
            height: h,
            max: MAX_CURSOR_SIDE,
        });
    }
    let expected = kind.data_size(w, h);
    if data.len() != expected {
        return Err(CursorError::DataSize {
            expected,
            received: data.len(),
        });
    }
    let (wu, hu) = (usize::from(w), usize::from(h));
    let pixels = wu * hu;
    let mut rgba = vec![0u8; pixels * 4];
    // Pixels that ask for an inversion (drawn after the main pass).
    let mut invert = vec![false; if kind == CursorType::Alpha { 0 } else { pixels }];
    let mask_row = wu.div_ceil(8);
    let mask_bit = |mask: &[u8], x: usize, y: usize| -> bool {
        mask.get(y * mask_row + x / 8)
            .is_some_and(|b| b & (0x80 >> (x % 8)) != 0)
    };
    let pixel_bytes = kind.pixel_row_bytes(w) * hu;
    let (pix, rest) = data.split_at(pixel_bytes.min(data.len()));
    match kind {
        CursorType::Alpha => {
            for (dst, src) in rgba.chunks_exact_mut(4).zip(data.chunks_exact(4)) {
                if let ([r, g, b, a], [sb, sg, sr, sa]) = (dst, src) {
                    (*r, *g, *b, *a) = (
                        unpremultiply(*sr, *sa),
                        unpremultiply(*sg, *sa),
                        unpremultiply(*sb, *sa),
                        *sa,
                    );
                }
            }
        }
        CursorType::Mono => {
            let (and, xor) = data.split_at(mask_row * hu);
            for y in 0..hu {
                for x in 0..wu {
                    let i = y * wu + x;
                    let px = match (mask_bit(and, x, y), mask_bit(xor, x, y)) {
                        (false, false) => [0, 0, 0, 0xff],
                        (false, true) => [0xff, 0xff, 0xff, 0xff],
                        (true, false) => [0, 0, 0, 0],
                        (true, true) => {
                            if let Some(f) = invert.get_mut(i) {
                                *f = true;
                            }
                            [0, 0, 0, 0]
                        }
                    };
                    put(&mut rgba, i, px);
                }
            }
        }
        _ => {
            let palette_len = kind.palette_entries() * 4;
            let (palette, and) = rest.split_at(palette_len.min(rest.len()));
            let row = kind.pixel_row_bytes(w);
            for y in 0..hu {
                for x in 0..wu {
                    let i = y * wu + x;
                    let rgb = color_at(kind, pix, palette, row, x, y);
                    let white = rgb == [0xff, 0xff, 0xff];
                    let px = if !mask_bit(and, x, y) {
                        [rgb[0], rgb[1], rgb[2], 0xff]
                    } else {
                        if white && let Some(f) = invert.get_mut(i) {
                            *f = true;
                        }
                        [0, 0, 0, 0]
                    };
                    put(&mut rgba, i, px);
                }
            }
        }
    }
    highlight_inverted(&mut rgba, &invert, wu, hu);
    Ok(CursorShape {
        unique: header.unique,
        kind,
        width: w,
        height: h,
        hot_x: header.hot_spot_x.min(w),
        hot_y: header.hot_spot_y.min(h),
        rgba,
    })
}

fn put(rgba: &mut [u8], i: usize, px: [u8; 4]) {
    if let Some(d) = rgba.get_mut(i * 4..i * 4 + 4) {
        d.copy_from_slice(&px);
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn xrgb(v: u32) -> [u8; 3] {
    let [b, g, r, _] = v.to_le_bytes();
    [r, g, b]
}

/// 5-bit channel widened to 8 bits.
fn widen5(v: u16) -> u8 {
    let v = u8::try_from(v & 0x1f).unwrap_or(0);
    (v << 3) | (v >> 2)
}

/// The RGB of pixel (x, y) of a COLOR shape.
fn color_at(kind: CursorType, pix: &[u8], palette: &[u8], row: usize, x: usize, y: usize) -> [u8; 3] {
    let line = y * row;
    match kind {
        CursorType::Color4 => {
            let byte = pix.get(line + x / 2).copied().unwrap_or(0);
            let idx = if x.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f };
            xrgb(le32(palette, usize::from(idx) * 4))
        }
        CursorType::Color8 => {
            let idx = pix.get(line + x).copied().unwrap_or(0);
            xrgb(le32(palette, usize::from(idx) * 4))
        }
        CursorType::Color16 => {
            let at = line + x * 2;
            let v = match pix.get(at..at + 2) {
                Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
                _ => 0,
            };
            [widen5(v >> 10), widen5(v >> 5), widen5(v)]
        }
        CursorType::Color24 => {
            let at = line + x * 3;
            match pix.get(at..at + 3) {
                Some(&[b, g, r]) => [r, g, b],
                _ => [0, 0, 0],
            }
        }
        CursorType::Color32 => xrgb(le32(pix, line + x * 4)),
        CursorType::Alpha | CursorType::Mono => [0, 0, 0],
    }
}

/// Inverting pixels become opaque black, their transparent neighbours opaque white.
fn highlight_inverted(rgba: &mut [u8], invert: &[bool], w: usize, h: usize) {
    if !invert.contains(&true) {
        return;
    }
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if invert.get(i) != Some(&true) {
                continue;
            }
            put(rgba, i, [0, 0, 0, 0xff]);
            let neighbours = [
                (x.checked_sub(1), Some(y)),
                (Some(x + 1).filter(|&v| v < w), Some(y)),
                (Some(x), y.checked_sub(1)),
                (Some(x), Some(y + 1).filter(|&v| v < h)),
            ];
            for (nx, ny) in neighbours {
                let (Some(nx), Some(ny)) = (nx, ny) else { continue };
                let n = ny * w + nx;
                let transparent = rgba.get(n * 4 + 3) == Some(&0);
                if transparent && invert.get(n) != Some(&true) {
                    put(rgba, n, [0xff, 0xff, 0xff, 0xff]);
                }
            }
        }
    }
}

/// The cursor cache: shapes by unique id, bounded by count and bytes.
#[derive(Debug, Default)]
pub struct CursorCache {
    limits: CacheLimits,
    shapes: HashMap<u64, Arc<CursorShape>>,
    /// Insertion order, oldest first (ids may repeat after a replace; stale
    /// entries are skipped when evicting).
    order: VecDeque<u64>,
    bytes: usize,
    /// `bytes`, counted against the session's memory budget.
    meter: crate::budget::Meter,
}

impl CursorCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub fn get(&self, id: u64) -> Option<Arc<CursorShape>> {
        self.shapes.get(&id).cloned()
    }

    /// Adds (or replaces) a shape, evicting the oldest ones over budget. A
    /// shape larger than the whole byte budget is not kept.
    pub fn insert(&mut self, id: u64, shape: Arc<CursorShape>) {
        self.remove(id);
        let size = shape.byte_size();
        if size > self.limits.max_bytes || self.limits.max_entries == 0 {
            return;
        }
        while self.shapes.len() >= self.limits.max_entries
            || self.bytes + size > self.limits.max_bytes
            || self.meter.set((self.bytes + size) as u64).is_err()
        {
            // Nothing left to evict: only the session's budget refuses it; not kept.
            let Some(old) = self.order.pop_front() else { return };
            self.remove(old);
        }
        self.bytes += size;
        self.shapes.insert(id, shape);
        self.order.push_back(id);
    }

    pub fn remove(&mut self, id: u64) -> bool {
        match self.shapes.remove(&id) {
            Some(s) => {
                self.bytes = self.bytes.saturating_sub(s.byte_size());
                let _ = self.meter.set(self.bytes as u64);
                self.order.retain(|&o| o != id);
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        self.shapes.clear();
        self.order.clear();
        self.bytes = 0;
        let _ = self.meter.set(0);
    }

    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Bytes held (shapes and their headers).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Counters of a cursor channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CursorStats {
    pub shapes_decoded: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Shapes that could not be decoded (the cursor was hidden instead).
    pub bad_shapes: u64,
}

/// The state of one cursor channel.
#[derive(Debug, Default)]
pub struct CursorState {
    cache: CursorCache,
    current: Option<Arc<CursorShape>>,
    position: (i32, i32),
    visible: bool,
    stats: CursorStats,
}

impl CursorState {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            cache: CursorCache::new(limits),
            ..Self::default()
        }
    }

    /// Counts the cached shapes against the session's memory `budget`: a
    /// shape it cannot hold evicts older ones, or is shown but not kept.
    pub fn attach_budget(&mut self, budget: &std::sync::Arc<crate::budget::MemoryBudget>) {
        self.cache.meter.attach(budget, self.cache.bytes as u64);
    }

    pub fn cache(&self) -> &CursorCache {
        &self.cache
    }

    /// The shape last set, if any.
    pub fn current(&self) -> Option<&Arc<CursorShape>> {
        self.current.as_ref()
    }

    /// Guest position of the pointer and whether the cursor is shown.
    pub fn position(&self) -> (i32, i32) {
        self.position
    }

    pub fn visible(&self) -> bool {
        self.visible
    }

    pub fn stats(&self) -> CursorStats {
        self.stats
    }

    /// Resolves a `SpiceCursor` into a shape (decoding and caching it, or
    /// taking it from the cache). `Ok(None)` for the NONE cursor.
    pub fn resolve(&mut self, cursor: &Cursor) -> Result<Option<Arc<CursorShape>>, CursorError> {
        if cursor.flags & flags::NONE != 0 {
            return Ok(None);
        }
        let header = cursor.header.as_ref().ok_or(CursorError::NoHeader)?;
        if cursor.flags & flags::FROM_CACHE != 0 {
            return match self.cache.get(header.unique) {
                Some(s) => {
                    self.stats.cache_hits += 1;
                    Ok(Some(s))
                }
                None => {
                    self.stats.cache_misses += 1;
                    Err(CursorError::CacheMiss(header.unique))
                }
            };
        }
        let shape = Arc::new(decode_shape(header, &cursor.data)?);
        self.stats.shapes_decoded += 1;
        if cursor.flags & flags::CACHE_ME != 0 {
            self.cache.insert(header.unique, Arc::clone(&shape));
        }
        Ok(Some(shape))
    }

    /// A shape (or none) with its position and visibility.
    fn set(&mut self, cursor: &Cursor, x: i32, y: i32, visible: bool, out: &mut Vec<CursorEvent>) {
        self.position = (x, y);
        match self.resolve(cursor) {
            Ok(Some(shape)) => {
                self.current = Some(Arc::clone(&shape));
                self.visible = visible;
                out.push(CursorEvent::Set { shape, x, y, visible });
            }
            Ok(None) => {
                self.visible = false;
                out.push(CursorEvent::Hide);
            }
            Err(e) => {
                if !matches!(e, CursorError::CacheMiss(_)) {
                    self.stats.bad_shapes += 1;
                }
                tracing::warn!(error = %e, "cursor shape unusable; hiding the cursor");
                self.visible = false;
                out.push(CursorEvent::Hide);
            }
        }
    }

    /// Applies one message; returns what the embedder must know.
    pub fn handle(&mut self, msg: &CursorServer) -> Vec<CursorEvent> {
        let mut out = Vec::new();
        match msg {
            CursorServer::Init(i) => {
                self.cache.clear();
                self.set(
                    &i.cursor,
                    i32::from(i.position.x),
                    i32::from(i.position.y),
                    i.visible != 0,
                    &mut out,
                );
                if i.trail_length != 0 {
                    out.push(CursorEvent::Trail {
                        length: i.trail_length,
                        frequency: i.trail_frequency,
                    });
                }
            }
            CursorServer::Set(s) => self.set(
                &s.cursor,
                i32::from(s.position.x),
                i32::from(s.position.y),
                s.visible != 0,
                &mut out,
            ),
            CursorServer::Reset => {
                self.cache.clear();
                self.current = None;
                self.visible = false;
                out.push(CursorEvent::Reset);
            }
            CursorServer::Move { position } => {
                self.position = (i32::from(position.x), i32::from(position.y));
                out.push(CursorEvent::Move {
                    x: self.position.0,
                    y: self.position.1,
                });
            }
            CursorServer::Hide => {
                self.visible = false;
                out.push(CursorEvent::Hide);
            }
            CursorServer::Trail { length, frequency } => out.push(CursorEvent::Trail {
                length: *length,
                frequency: *frequency,
            }),
            CursorServer::InvalOne { id } => {
                self.cache.remove(*id);
            }
            CursorServer::InvalAll => self.cache.clear(),
            CursorServer::Base(_) | CursorServer::Unknown { .. } => {}
        }
        out
    }
}

#[cfg(test)]
mod tests;
