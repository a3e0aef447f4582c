//! Few-colour images packed as palette indices, for image cache entries
//! that have aged: a line of terminal text is 2 colours, so 1 bit per pixel
//! holds what 32 did. Packing is exact (the palette keeps every distinct
//! B,G,R,A value), so a packed entry draws the same pixels.

/// Most colours a packed image has (4-bit indices).
pub(crate) const MAX_COLOURS: usize = 16;

/// A packed image: `bits`-bit indices into `lut`, rows of
/// `ceil(width × bits / 8)` bytes, top-down, leftmost pixel in the high bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packed {
    /// 1 (2 colours at most) or 4.
    pub bits: u8,
    /// B,G,R,A of each index.
    pub lut: Vec<[u8; 4]>,
    pub data: Vec<u8>,
}

/// The B,G,R,A pixels of `bytes` as little-endian words.
fn words(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| <[u8; 4]>::try_from(c).map_or(0, u32::from_le_bytes))
}

/// The distinct pixels of `pixels`, in order of appearance; `None` past [`MAX_COLOURS`].
fn palette(pixels: &[u8]) -> Option<Vec<u32>> {
    let mut lut: Vec<u32> = Vec::with_capacity(MAX_COLOURS);
    let mut add = |w: u32| {
        if lut.contains(&w) {
            return true;
        }
        lut.push(w);
        lut.len() <= MAX_COLOURS
    };
    // Two pixels at a time: text images are long runs of one colour.
    let pairs = pixels.chunks_exact(8);
    let rest = pairs.remainder();
    let mut last = None;
    for pair in pairs {
        let p = <[u8; 8]>::try_from(pair).unwrap_or_default();
        if last == Some(p) {
            continue;
        }
        last = Some(p);
        let [a0, a1, a2, a3, b0, b1, b2, b3] = p;
        let (a, b) = (
            u32::from_le_bytes([a0, a1, a2, a3]),
            u32::from_le_bytes([b0, b1, b2, b3]),
        );
        if !add(a) || (b != a && !add(b)) {
            return None;
        }
    }
    for w in words(rest) {
        if !add(w) {
            return None;
        }
    }
    Some(lut)
}

/// One byte of a 1-bit row: 8 pixels (fewer at the row's end), set bits
/// where the pixel is not `first`, leftmost in bit 7. The other colour is
/// `second`, found on the way; `None` when a third one shows up.
fn bits8(px: &[u8], first: u32, second: &mut Option<u32>) -> Option<u8> {
    let mut b = 0u8;
    for (i, w) in words(px).enumerate() {
        if w != first {
            match *second {
                None => *second = Some(w),
                Some(s) if s != w => return None,
                Some(_) => {}
            }
            b |= 1 << (7 - i);
        }
    }
    Some(b)
}

/// Two colours at most: 1 bit per pixel, in one pass (text lines).
fn pack_two(pixels: &[u8], stride: usize, row_bytes: usize) -> Option<Packed> {
    let height = pixels.len() / stride;
    let first = words(pixels).next()?;
    let mut second = None;
    let mut data = vec![0u8; row_bytes.checked_mul(height)?];
    for (row, out) in pixels.chunks_exact(stride).zip(data.chunks_exact_mut(row_bytes)) {
        // Whole groups of 8 pixels first (fixed size: the compiler unrolls
        // them), then the tail. (`groups` first: zip must not take a byte
        // for the tail.)
        let groups = row.chunks_exact(32);
        let tail = groups.remainder();
        let mut bytes = out.iter_mut();
        for (px, byte) in groups.zip(bytes.by_ref()) {
            *byte = bits8(<&[u8; 32]>::try_from(px).ok()?, first, &mut second)?;
        }
        if let Some(byte) = bytes.next() {
            *byte = bits8(tail, first, &mut second)?;
        }
    }
    let lut = [Some(first), second]
        .into_iter()
        .flatten()
        .map(u32::to_le_bytes)
        .collect();
    Some(Packed { bits: 1, lut, data })
}

/// Packs `width`-pixel rows of B,G,R,A bytes when they have at most
/// [`MAX_COLOURS`] distinct values; `None` otherwise (or for a size that
/// does not match).
pub(crate) fn pack(pixels: &[u8], width: usize) -> Option<Packed> {
    let stride = width.checked_mul(4)?;
    if stride == 0 || !pixels.len().is_multiple_of(stride) {
        return None;
    }
    if let Some(p) = pack_two(pixels, stride, width.div_ceil(8)) {
        return Some(p);
    }
    // A photo fails within its first pixels.
    let lut = palette(pixels)?;
    let height = pixels.len() / stride;
    let row_bytes = width.div_ceil(2);
    let mut data = vec![0u8; row_bytes.checked_mul(height)?];
    let first = lut.first().copied().unwrap_or(0);
    for (row, out) in pixels.chunks_exact(stride).zip(data.chunks_exact_mut(row_bytes)) {
        let mut last = (first, 0u8);
        for (byte, px) in out.iter_mut().zip(row.chunks(8)) {
            let mut b = 0u8;
            for (i, w) in words(px).enumerate() {
                if w != last.0 {
                    let index = lut.iter().position(|&c| c == w).and_then(|i| u8::try_from(i).ok())?;
                    last = (w, index);
                }
                b |= last.1 << (4 - 4 * i);
            }
            *byte = b;
        }
    }
    let bits = 4;
    Some(Packed {
        bits,
        lut: lut.into_iter().map(u32::to_le_bytes).collect(),
        data,
    })
}

/// Unpacks `packed` back into `width`-pixel rows of B,G,R,A bytes.
pub(crate) fn unpack(packed: &Packed, width: usize, height: usize) -> Vec<u8> {
    let per_byte = 8 / usize::from(packed.bits.max(1));
    let row_bytes = width.div_ceil(per_byte);
    let mask = (1u8 << packed.bits.min(7)) - 1;
    let mut out = Vec::with_capacity(width.saturating_mul(height).saturating_mul(4));
    for row in packed.data.chunks_exact(row_bytes.max(1)).take(height) {
        for x in 0..width {
            let shift = (per_byte - 1 - x % per_byte) * usize::from(packed.bits);
            let i = row.get(x / per_byte).map_or(0, |b| (b >> shift) & mask);
            out.extend_from_slice(&packed.lut.get(usize::from(i)).copied().unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, colours: &[[u8; 4]]) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&colours[(x * 7 + y * 3 + x * y) % colours.len()]);
            }
        }
        v
    }

    #[test]
    fn two_colours_pack_to_one_bit_and_back() {
        let px = image(13, 5, &[[255, 255, 255, 255], [0, 0, 0, 255]]);
        let p = pack(&px, 13).unwrap();
        assert_eq!(p.bits, 1);
        assert_eq!(p.data.len(), 2 * 5);
        assert_eq!(unpack(&p, 13, 5), px);
    }

    #[test]
    fn up_to_sixteen_colours_pack_to_four_bits_and_back() {
        let colours: Vec<[u8; 4]> = (0..16u8).map(|i| [i, 255 - i, i / 2, 255]).collect();
        for n in [3, 9, 16] {
            let px = image(7, 9, &colours[..n]);
            let p = pack(&px, 7).unwrap();
            assert_eq!(p.bits, 4);
            assert_eq!(p.data.len(), 4 * 9);
            assert_eq!(unpack(&p, 7, 9), px, "{n} colours");
        }
        // Alpha counts: same colour, other alpha, is another entry.
        let px = image(4, 4, &[[1, 2, 3, 255], [1, 2, 3, 0], [1, 2, 3, 128]]);
        assert_eq!(unpack(&pack(&px, 4).unwrap(), 4, 4), px);
    }

    #[test]
    fn every_width_round_trips() {
        let two = [[255, 255, 255, 255], [0, 0, 0, 255]];
        let five = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9], [0, 0, 0, 0], [255, 0, 255, 0]];
        for w in 1..=70 {
            for h in [1, 2, 3] {
                for colours in [&two[..], &five[..]] {
                    let px = image(w, h, colours);
                    let p = pack(&px, w).unwrap();
                    assert_eq!(unpack(&p, w, h), px, "{w}x{h}, {} colours", colours.len());
                }
            }
        }
    }

    #[test]
    fn many_colours_or_bad_sizes_do_not_pack() {
        let colours: Vec<[u8; 4]> = (0..17u8).map(|i| [i, 0, 0, 255]).collect();
        assert!(pack(&image(17, 3, &colours), 17).is_none());
        assert!(pack(&[0; 12], 2).is_none());
        assert!(pack(&[0; 8], 0).is_none());
        // A single colour is 1 bit too.
        let p = pack(&[9; 64], 4).unwrap();
        assert_eq!((p.bits, p.lut.len()), (1, 1));
        assert_eq!(unpack(&p, 4, 4), vec![9; 64]);
    }
}
