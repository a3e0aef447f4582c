//! GLZ encoder with its own dictionary window: exists for tests, benches and the test server
//! (Sumac itself only decodes).
//!
//! It follows the server's `glz-encoder.c` / `glz-encoder-dict.c`: images get consecutive ids;
//! before an image is encoded the window head moves forward until the window plus the new image
//! fit in `window_pixels`, and `win_head_dist` tells the decoder where that head is; matches
//! are searched through one hash table over the window images of the same type and the current
//! image. It is not tuned to produce the server's exact bytes. Inputs are trusted.

#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation)] // trusted test inputs; byte extraction

use std::collections::VecDeque;

use crate::codec::lz::encode::{LitKind, Pass, flush_literals, hash3, keys, match_len, new_table, push_len_ext};
use crate::codec::lz::{LzType, MAGIC, VERSION};

/// Largest pixel offset the format carries (25 bits).
const MAX_PIXEL_OFFSET: usize = (1 << 25) - 1;
/// Largest image distance the server encodes.
const MAX_IMAGE_DIST: u64 = (1 << 24) - 1;

#[derive(Debug)]
struct Stored {
    id: u64,
    ty: LzType,
    pixels: u64,
    colour: Vec<u32>,
    alpha: Vec<u32>,
}

/// A GLZ encoder and the dictionary window it shares between "channels" (calls).
#[derive(Debug)]
pub struct GlzEncoder {
    window_pixels: u64,
    next_id: u64,
    images: VecDeque<Stored>,
}

/// Writes one GLZ match; `ofs` is already biased for in-image references.
fn push_match(image_dist: u64, ofs: usize, enc_len: usize, out: &mut Vec<u8>) {
    let field = enc_len.min(7);
    let short = ofs < 4096;
    out.push(((field << 5) | if short { 0 } else { 16 } | (ofs & 15)) as u8);
    push_len_ext(enc_len, out);
    out.push((ofs >> 4) as u8);
    let d = image_dist;
    if short {
        if d < 64 {
            out.push(d as u8);
        } else if d < 1 << 14 {
            out.extend_from_slice(&[64 | (d & 63) as u8, (d >> 6) as u8]);
        } else if d < 1 << 22 {
            out.extend_from_slice(&[128 | (d & 63) as u8, (d >> 6) as u8, (d >> 14) as u8]);
        } else {
            out.extend_from_slice(&[192 | (d & 63) as u8, (d >> 6) as u8, (d >> 14) as u8, (d >> 22) as u8]);
        }
    } else {
        let very_long = if ofs >= 1 << 17 { 32 } else { 0 };
        let hi = ((ofs >> 12) & 31) as u8;
        if d == 0 {
            out.push(very_long | hi);
        } else if d < 256 {
            out.extend_from_slice(&[very_long | 64 | hi, d as u8]);
        } else if d < 65536 {
            out.extend_from_slice(&[very_long | 128 | hi, d as u8, (d >> 8) as u8]);
        } else {
            out.extend_from_slice(&[very_long | 192 | hi, d as u8, (d >> 8) as u8, (d >> 16) as u8]);
        }
        if very_long != 0 {
            out.push((ofs >> 17) as u8);
        }
    }
}

/// One GLZ pass over `cur` (image `id`), matching into `window` images (oldest first).
fn compress(id: u64, cur: &[u32], kind: LitKind, window: &[(u64, &[u32])], out: &mut Vec<u8>) {
    let base = kind.base();
    let n = cur.len();
    // (image id, position); u64::MAX = empty
    let mut htab = new_table((u64::MAX, 0u32));
    for &(wid, keys) in window {
        for j in 0..keys.len().saturating_sub(2).min(MAX_PIXEL_OFFSET) {
            htab[hash3(&keys[j..])] = (wid, j as u32);
        }
    }
    let mut i = 0;
    let mut lit = 0;
    while i < n {
        // (len, image_dist, ofs)
        let mut best = (0usize, 0u64, 0usize);
        if i > 0 && cur[i - 1] == cur[i] {
            best = (match_len(cur, i - 1, cur, i), 0, 0);
        }
        if i + 3 <= n {
            let h = hash3(&cur[i..]);
            let (cid, pos) = htab[h];
            let pos = pos as usize;
            htab[h] = (id, i as u32);
            if cid == id && pos < i && i - pos <= MAX_PIXEL_OFFSET {
                let l = match_len(cur, pos, cur, i);
                if l > best.0 {
                    best = (l, 0, i - pos - 1);
                }
            } else if cid != u64::MAX
                && cid < id
                && id - cid <= MAX_IMAGE_DIST
                && let Some(&(_, keys)) = window.iter().find(|(w, _)| *w == cid)
            {
                let l = match_len(keys, pos, cur, i);
                if l > best.0 + 1 {
                    best = (l, id - cid, pos);
                }
            }
        }
        let (len, image_dist, ofs) = best;
        if len > base {
            flush_literals(kind, &cur[lit..i], out);
            push_match(image_dist, ofs, len - base, out);
            for j in i + 1..(i + len).min(n.saturating_sub(2)) {
                htab[hash3(&cur[j..])] = (id, j as u32);
            }
            i += len;
            lit = i;
        } else {
            i += 1;
        }
    }
    flush_literals(kind, &cur[lit..], out);
}

impl GlzEncoder {
    /// An encoder whose window holds `window_pixels` pixels (what the client announced).
    pub fn new(window_pixels: u64) -> Self {
        Self::starting_at(window_pixels, 0)
    }

    /// The same, numbering images from `first_id` (a dictionary restored after migration).
    pub fn starting_at(window_pixels: u64, first_id: u64) -> Self {
        Self {
            window_pixels,
            next_id: first_id,
            images: VecDeque::new(),
        }
    }

    /// Id the next image gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Encodes an RGB16/RGB24/RGB32/RGBA image given in stream order with its natural stride
    /// (see [`crate::codec::lz::encode::encode`] for the layouts) and adds it to the window.
    pub fn encode(
        &mut self,
        ty: LzType,
        width: u32,
        height: u32,
        top_down: bool,
        data: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        if !matches!(ty, LzType::Rgb16 | LzType::Rgb24 | LzType::Rgb32 | LzType::Rgba) {
            return Err("GLZ_RGB carries RGB types only");
        }
        let stride = ty.stride_for(width).ok_or("stride overflows")?;
        if (stride as usize).checked_mul(height as usize) != Some(data.len()) {
            return Err("data length is not stride * height");
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels >= self.window_pixels {
            return Err("image is bigger than the window");
        }
        // Move the head until the window and the new image fit.
        let mut total: u64 = self.images.iter().map(|s| s.pixels).sum();
        while total + pixels > self.window_pixels {
            let Some(old) = self.images.pop_front() else { break };
            total -= old.pixels;
        }
        let id = self.next_id;
        self.next_id += 1;
        let win_head_dist = self.images.front().map_or(0, |s| id - s.id);
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.push(ty as u8 | u8::from(top_down) << 4);
        for w in [width, height, stride] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(win_head_dist)
                .map_err(|_| "window too long")?
                .to_be_bytes(),
        );

        let (colour, kind) = keys(ty, data, Pass::Colour);
        let window: Vec<(u64, &[u32])> = self
            .images
            .iter()
            .filter(|s| s.ty == ty)
            .map(|s| (s.id, s.colour.as_slice()))
            .collect();
        compress(id, &colour, kind, &window, &mut out);
        let mut alpha = Vec::new();
        if ty == LzType::Rgba {
            alpha = keys(ty, data, Pass::Alpha).0;
            let window: Vec<(u64, &[u32])> = self
                .images
                .iter()
                .filter(|s| s.ty == ty)
                .map(|s| (s.id, s.alpha.as_slice()))
                .collect();
            compress(id, &alpha, LitKind::Byte, &window, &mut out);
        }
        self.images.push_back(Stored {
            id,
            ty,
            pixels,
            colour,
            alpha,
        });
        Ok(out)
    }
}
