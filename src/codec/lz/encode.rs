//! LZ encoder: exists for tests, benches and the test server (Sumac itself only decodes).
//!
//! It follows the structure of the server's `lz_compress_tmpl.c` (greedy matching over a hash
//! of three units, run detection, literal blocks of at most 32 units, near and far distances)
//! and writes exactly the format [`super::decode`] reads, but it is not tuned to produce the
//! same bytes as the server. Inputs are trusted (tests build them); sizes are still checked
//! and reported as `Err`.

#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation)] // trusted test inputs; byte extraction

use super::{LzType, MAGIC, MAX_COPY, MAX_NEAR_DISTANCE, VERSION};

/// How a unit key is written as a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LitKind {
    /// One byte (palette index, alpha, A8).
    Byte,
    /// Two bytes, big-endian x555.
    Rgb16,
    /// Three bytes B, G, R.
    Rgb,
}

impl LitKind {
    /// Length bias of the format for this kind of unit (`Unit::BASE` of the decoder).
    pub(crate) fn base(self) -> usize {
        match self {
            Self::Byte => 2,
            Self::Rgb16 => 1,
            Self::Rgb => 0,
        }
    }
}

/// Which pass over the pixels the keys describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    Colour,
    Alpha,
}

const HASH_LOG: u32 = 16;
/// Largest distance the far form of the LZ format can carry (8191 + 65535, biased by one).
const MAX_LZ_DISTANCE: usize = 73_000;

#[inline]
pub(crate) fn hash3(k: &[u32]) -> usize {
    let h = k[0].wrapping_mul(0x9E37_79B1)
        ^ k[1].wrapping_mul(0x85EB_CA6B).rotate_left(13)
        ^ k[2].wrapping_mul(0xC2B2_AE35);
    (h >> (32 - HASH_LOG)) as usize
}

pub(crate) fn new_table<T: Clone>(empty: T) -> Vec<T> {
    vec![empty; 1 << HASH_LOG]
}

/// Comparison keys of the units of an image given in stream order (natural stride).
pub(crate) fn keys(ty: LzType, data: &[u8], pass: Pass) -> (Vec<u32>, LitKind) {
    if pass == Pass::Alpha {
        return (data.chunks_exact(4).map(|p| u32::from(p[3])).collect(), LitKind::Byte);
    }
    match ty {
        LzType::Rgb16 => (
            data.chunks_exact(2)
                .map(|p| u32::from(u16::from_le_bytes([p[0], p[1]]) & 0x7fff))
                .collect(),
            LitKind::Rgb16,
        ),
        LzType::Rgb24 => (
            data.chunks_exact(3)
                .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
                .collect(),
            LitKind::Rgb,
        ),
        LzType::Rgb32 | LzType::Rgba => (
            data.chunks_exact(4)
                .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
                .collect(),
            LitKind::Rgb,
        ),
        LzType::Xxxa => (data.chunks_exact(4).map(|p| u32::from(p[3])).collect(), LitKind::Byte),
        _ => (data.iter().map(|&b| u32::from(b)).collect(), LitKind::Byte),
    }
}

fn push_literal(kind: LitKind, key: u32, out: &mut Vec<u8>) {
    let [b, g, r, _] = key.to_le_bytes();
    match kind {
        LitKind::Byte => out.push(b),
        LitKind::Rgb16 => out.extend_from_slice(&[g, b]),
        LitKind::Rgb => out.extend_from_slice(&[b, g, r]),
    }
}

pub(crate) fn flush_literals(kind: LitKind, lits: &[u32], out: &mut Vec<u8>) {
    for block in lits.chunks(MAX_COPY) {
        out.push((block.len() - 1) as u8);
        for &k in block {
            push_literal(kind, k, out);
        }
    }
}

/// Writes the length extension bytes of an encoded length `enc_len >= 7`.
pub(crate) fn push_len_ext(enc_len: usize, out: &mut Vec<u8>) {
    if enc_len >= 7 {
        let mut rest = enc_len - 7;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(rest as u8);
    }
}

/// Common prefix length of `a[i..]` and `b[j..]`.
#[inline]
pub(crate) fn match_len(a: &[u32], i: usize, b: &[u32], j: usize) -> usize {
    a[i..].iter().zip(&b[j..]).take_while(|(x, y)| x == y).count()
}

fn push_match(dist: usize, enc_len: usize, out: &mut Vec<u8>) {
    let d = dist - 1;
    let field = enc_len.min(7);
    if d < MAX_NEAR_DISTANCE {
        out.push(((field << 5) | (d >> 8)) as u8);
        push_len_ext(enc_len, out);
        out.push((d & 255) as u8);
    } else {
        let far = d - MAX_NEAR_DISTANCE;
        out.push(((field << 5) | 31) as u8);
        push_len_ext(enc_len, out);
        out.push(255);
        out.push((far >> 8) as u8);
        out.push((far & 255) as u8);
    }
}

/// One LZ pass over `keys`.
pub(crate) fn compress(keys: &[u32], kind: LitKind, out: &mut Vec<u8>) {
    let base = kind.base();
    let n = keys.len();
    let mut htab = new_table(0u32);
    let mut i = 0;
    let mut lit = 0;
    while i < n {
        let (mut len, mut dist) = (0, 0);
        if i > 0 && keys[i - 1] == keys[i] {
            len = match_len(keys, i - 1, keys, i);
            dist = 1;
        }
        if i + 3 <= n {
            let h = hash3(&keys[i..]);
            let c = htab[h] as usize;
            htab[h] = (i + 1) as u32;
            if c > 0 && i - (c - 1) <= MAX_LZ_DISTANCE {
                let l = match_len(keys, c - 1, keys, i);
                if l > len {
                    (len, dist) = (l, i - (c - 1));
                }
            }
        }
        if len > base {
            flush_literals(kind, &keys[lit..i], out);
            push_match(dist, len - base, out);
            for j in i + 1..(i + len).min(n.saturating_sub(2)) {
                htab[hash3(&keys[j..])] = (j + 1) as u32;
            }
            i += len;
            lit = i;
        } else {
            i += 1;
        }
    }
    flush_literals(kind, &keys[lit..], out);
}

/// Encodes an image whose rows are given in stream order (the first row is the top one when
/// `top_down`, else the bottom one), with the natural stride of `ty`
/// ([`LzType::stride_for`]). Layouts: RGB32/RGBA/XXXA B,G,R,A; RGB24 B,G,R; RGB16
/// little-endian x555 words; palette types packed indices; A8 one byte.
pub fn encode(ty: LzType, width: u32, height: u32, top_down: bool, data: &[u8]) -> Result<Vec<u8>, &'static str> {
    let stride = ty.stride_for(width).ok_or("stride overflows")?;
    if (stride as usize).checked_mul(height as usize) != Some(data.len()) {
        return Err("data length is not stride * height");
    }
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    for w in [MAGIC, VERSION, ty as u32, width, height, stride, u32::from(top_down)] {
        out.extend_from_slice(&w.to_be_bytes());
    }
    let passes: &[Pass] = match ty {
        LzType::Rgba => &[Pass::Colour, Pass::Alpha],
        LzType::Xxxa => &[Pass::Alpha],
        _ => &[Pass::Colour],
    };
    for &pass in passes {
        let (k, kind) = keys(ty, data, pass);
        compress(&k, kind, &mut out);
    }
    Ok(out)
}
