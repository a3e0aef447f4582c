//! QUIC decoder (the lossless image codec of spice-common's `quic.c`, derived from SFALIC):
//! RGB32, RGB24, RGB16, RGBA and GRAY images, decoded to top-down B,G,R,A.
//!
//! # Format
//!
//! The stream is a sequence of little-endian 32-bit words read as one big-endian bit string
//! (most significant bit of each word first). Five whole words open it: the magic `"QUIC"`,
//! the version (0), the image type, the width and the height. Pixels follow, row by row.
//!
//! Every colour channel is predicted from its neighbours (left `a`, above `b`): `a` on the
//! first row, `b` for the first pixel of the other rows, `(a + b) / 2` elsewhere. The
//! prediction error, folded to an unsigned value, is coded with one of `bpc` Golomb-Rice codes
//! (with an escape for long codewords). Which code is used depends on the bucket that the
//! folded error of the pixel on the left falls into; each bucket keeps per-code cost counters
//! that are updated at pseudo-random intervals (a fixed "chaos" table drives them, and the
//! interval mask grows every 2048 pixels). On rows after the first, a pixel whose left
//! neighbours match, above a pair of equal pixels, starts a run whose length is coded with an
//! adaptive MELCODE. RGB images share one interval/run state among the three channels; the
//! alpha plane of RGBA images and GRAY images have their own.
//!
//! Decoding is bit-exact with spice-common, including its quirks: the folded-error history of
//! the pixels covered by a run is left as it was on an earlier row, and escape codewords may
//! decode to values above the channel range, which are truncated to a byte.
//!
//! Hostile input (hostile-inputs row 20, CVE-2020-14355) is rejected with a [`CodecError`]:
//! empty or truncated streams, sizes of zero, negative (as `int`), or above the limits, runs
//! past the end of the row. Work is bounded by the size of the output.

use super::{CodecError, ImageBuf};

pub mod encode;

const CODEC: &str = "quic";

/// `"QUIC"` read as a little-endian word.
pub const MAGIC: u32 = 0x4349_5551;
/// The only version there is (major 0, minor 0).
pub const VERSION: u32 = 0;
/// spice-common refuses images of more pixels than this.
const MAX_PIXELS: u64 = 512 * 1024 * 1024 - 1;

/// The image types of the QUIC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// One 8-bit channel.
    Gray,
    /// Three 5-bit channels (x555).
    Rgb16,
    /// Three 8-bit channels, packed B,G,R on the sender's side.
    Rgb24,
    /// Three 8-bit channels, B,G,R,x on the sender's side.
    Rgb32,
    /// Three 8-bit colour channels, then an 8-bit alpha plane.
    Rgba,
}

impl ImageType {
    /// The type from its header value (0 is spice-common's "invalid").
    pub fn from_wire(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Gray,
            2 => Self::Rgb16,
            3 => Self::Rgb24,
            4 => Self::Rgb32,
            5 => Self::Rgba,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u32 {
        match self {
            Self::Gray => 1,
            Self::Rgb16 => 2,
            Self::Rgb24 => 3,
            Self::Rgb32 => 4,
            Self::Rgba => 5,
        }
    }
}

/// The header of a QUIC stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub image_type: ImageType,
    pub width: u32,
    pub height: u32,
}

/// Reads and checks the five header words (magic, version, type, sizes) without decoding.
pub fn read_header(data: &[u8]) -> Result<Header, CodecError> {
    let mut r = BitReader::new(data);
    let h = parse_header(&mut r)?;
    r.check_not_past_end()?;
    Ok(h)
}

fn parse_header(r: &mut BitReader<'_>) -> Result<Header, CodecError> {
    if r.words == 0 {
        return Err(CodecError::truncated(CODEC));
    }
    let magic = r.take32();
    let version = r.take32();
    let ty = r.take32();
    let width = r.take32();
    let height = r.take32();
    if magic != MAGIC {
        return Err(CodecError::invalid(CODEC, "bad magic"));
    }
    if version != VERSION {
        return Err(CodecError::invalid(CODEC, "unsupported version"));
    }
    // spice-common reads the sizes as `int` and wants them positive.
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(CodecError::invalid(CODEC, "zero or negative image size"));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CodecError::TooLarge {
            codec: CODEC,
            width: u64::from(width),
            height: u64::from(height),
        });
    }
    let image_type = ImageType::from_wire(ty).ok_or(CodecError::invalid(CODEC, "unknown image type"))?;
    Ok(Header {
        image_type,
        width,
        height,
    })
}

/// Decodes the QUIC stream `data` into `out` (B,G,R,A, top-down). RGB types and GRAY give
/// opaque pixels (`has_alpha == false`); RGB16 channels are widened as `(v << 3) | (v >> 2)`.
/// Trailing bytes that do not make a whole word are ignored, like spice-gtk does. The caller
/// compares the size with the image descriptor. On error the content of `out` is unspecified
/// (the draw must be dropped).
pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let mut r = BitReader::new(data);
    let header = parse_header(&mut r)?;
    // The header alone must leave a whole word of look-ahead, as in spice-common.
    r.check_not_past_end()?;
    out.reset(CODEC, header.width, header.height)?;
    let width = header.width as usize;
    match header.image_type {
        ImageType::Rgb32 | ImageType::Rgb24 => {
            let mut rgb = Plane::<3>::new(&FAMILY_8BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                write_rgb(row, &rgb.cur, |v| v);
                Ok(())
            })
        }
        ImageType::Rgb16 => {
            let mut rgb = Plane::<3>::new(&FAMILY_5BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                write_rgb(row, &rgb.cur, |v| (v << 3) | (v >> 2));
                Ok(())
            })
        }
        ImageType::Rgba => {
            let mut rgb = Plane::<3>::new(&FAMILY_8BPC, width);
            let mut alpha = Plane::<1>::new(&FAMILY_8BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                alpha.decode_row(r, first)?;
                for ((px, c), a) in row.chunks_exact_mut(4).zip(&rgb.cur).zip(&alpha.cur) {
                    let [red, green, blue] = *c;
                    px.copy_from_slice(&[blue, green, red, a[0]]);
                }
                Ok(())
            })?;
            out.has_alpha = true;
            Ok(())
        }
        ImageType::Gray => {
            let mut gray = Plane::<1>::new(&FAMILY_8BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                gray.decode_row(r, first)?;
                for (px, g) in row.chunks_exact_mut(4).zip(&gray.cur) {
                    let v = g[0];
                    px.copy_from_slice(&[v, v, v, 0xff]);
                }
                Ok(())
            })
        }
    }
}

/// Runs `row_fn` on every output row, checking after each that the stream did not end early.
fn decode_rows(
    r: &mut BitReader<'_>,
    out: &mut ImageBuf,
    mut row_fn: impl FnMut(&mut BitReader<'_>, bool, &mut [u8]) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let stride = out.stride();
    for (y, row) in out.data.chunks_exact_mut(stride).enumerate() {
        row_fn(r, y == 0, row)?;
        r.check_not_past_end()?;
    }
    Ok(())
}

fn write_rgb(row: &mut [u8], cur: &[[u8; 3]], widen: impl Fn(u8) -> u8) {
    for (px, c) in row.chunks_exact_mut(4).zip(cur) {
        let [red, green, blue] = *c;
        px.copy_from_slice(&[widen(blue), widen(green), widen(red), 0xff]);
    }
}

fn internal() -> CodecError {
    CodecError::invalid(CODEC, "internal index error")
}

// ---------------------------------------------------------------------------------------------
// Bit input

/// Reads the word stream MSB first. Like spice-common's decoder it always holds the next 32
/// bits; spice-common fails as soon as that window would reach past the last word, which
/// [`BitReader::check_not_past_end`] reproduces (words past the end read as zeros meanwhile).
struct BitReader<'a> {
    data: &'a [u8],
    /// Whole words in `data`.
    words: u64,
    /// Byte offset of the next word to load (may pass the end: zeros are loaded).
    next: usize,
    /// Valid bits, MSB-aligned; `bits >= 32` between calls.
    acc: u64,
    bits: u32,
    /// Words loaded so far, including zero words past the end.
    loaded: u64,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        let mut r = Self {
            data,
            words: (data.len() / 4) as u64,
            next: 0,
            acc: 0,
            bits: 0,
            loaded: 0,
        };
        r.refill();
        r.refill();
        r
    }

    #[inline(always)]
    fn refill(&mut self) {
        let w = match self.data.get(self.next..self.next.wrapping_add(4)) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        };
        self.next = self.next.saturating_add(4);
        self.loaded += 1;
        self.acc |= u64::from(w) << (32 - self.bits);
        self.bits += 32;
    }

    /// The next 32 bits.
    #[inline(always)]
    fn peek(&self) -> u32 {
        (self.acc >> 32) as u32
    }

    /// Drops `n <= 32` bits.
    #[inline(always)]
    fn eat(&mut self, n: u32) {
        debug_assert!(n <= 32);
        self.acc <<= n;
        self.bits -= n;
        if self.bits < 32 {
            self.refill();
        }
    }

    fn take32(&mut self) -> u32 {
        let v = self.peek();
        self.eat(32);
        v
    }

    /// Fails when the 32-bit window reaches past the last whole word (spice-common's
    /// "no more words" error).
    fn check_not_past_end(&self) -> Result<(), CodecError> {
        let consumed = self.loaded * 32 - u64::from(self.bits);
        if consumed + 32 > self.words * 32 {
            Err(CodecError::truncated(CODEC))
        } else {
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Model constants (spice-common's defaults: evolution 3, codeword limit 26, wait mask index
// 0 -> 6 in steps of 2048 pixels)

const MAX_CODES: usize = 8;
const CODEWORD_LIMIT: u32 = 26;
const WAIT_MASK_INDEX_MAX: u32 = 6;
const WAIT_MASK_STEP: u32 = 2048;
const MAX_BUCKETS: usize = 8;

/// Model-update thresholds by wait mask index (evolution 3).
const TRIGGERS: [u32; 11] = [110, 550, 900, 800, 550, 400, 350, 250, 140, 160, 140];

/// MELCODE order (log2 of the expected run) by run state.
const MELC_ORDER: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];
const MELC_STATES: usize = MELC_ORDER.len();

/// The pseudo-random table that spaces model updates.
const CHAOS: [u32; 256] = [
    0x02c57542, 0x35427717, 0x2f5a2153, 0x9244f155, 0x7bd26d07, 0x354c6052, 0x57329b28, 0x2993868e, 0x6cd8808c,
    0x147b46e0, 0x99db66af, 0xe32b4cac, 0x1b671264, 0x9d433486, 0x62a4c192, 0x06089a4b, 0x9e3dce44, 0xdaabee13,
    0x222425ea, 0xa46f331d, 0xcd589250, 0x8bb81d7f, 0xc8b736b9, 0x35948d33, 0xd7ac7fd0, 0x5fbe2803, 0x2cfbc105,
    0x013dbc4e, 0x7a37820f, 0x39f88e9e, 0xedd58794, 0xc5076689, 0xfcada5a4, 0x64c2f46d, 0xb3ba3243, 0x8974b4f9,
    0x5a05aebd, 0x20afcd00, 0x39e2b008, 0x88a18a45, 0x600bde29, 0xf3971ace, 0xf37b0a6b, 0x7041495b, 0x70b707ab,
    0x06beffbb, 0x4206051f, 0xe13c4ee3, 0xc1a78327, 0x91aa067c, 0x8295f72a, 0x732917a6, 0x1d871b4d, 0x4048f136,
    0xf1840e7e, 0x6a6048c1, 0x696cb71a, 0x7ff501c3, 0x0fc6310b, 0x57e0f83d, 0x8cc26e74, 0x11a525a2, 0x946934c7,
    0x7cd888f0, 0x8f9d8604, 0x4f86e73b, 0x04520316, 0xdeeea20c, 0xf1def496, 0x67687288, 0xf540c5b2, 0x22401484,
    0x3478658a, 0xc2385746, 0x01979c2c, 0x5dad73c8, 0x0321f58b, 0xf0fedbee, 0x92826ddf, 0x284bec73, 0x5b1a1975,
    0x03df1e11, 0x20963e01, 0xa17cf12b, 0x740d776e, 0xa7a6bf3c, 0x01b5cce4, 0x1118aa76, 0xfc6fac0a, 0xce927e9b,
    0x00bf2567, 0x806f216c, 0xbca69056, 0x795bd3e9, 0xc9dc4557, 0x8929b6c2, 0x789d52ec, 0x3f3fbf40, 0xb9197368,
    0xa38c15b5, 0xc3b44fa8, 0xca8333b0, 0xb7e8d590, 0xbe807feb, 0xbf5f8360, 0xd99e2f5c, 0x372928e1, 0x7c757c4c,
    0x0db5b154, 0xc01ede02, 0x1fc86e78, 0x1f3985be, 0xb4805c77, 0x00c880fa, 0x974c1b12, 0x35ab0214, 0xb2dc840d,
    0x5b00ae37, 0xd313b026, 0xb260969d, 0x7f4c8879, 0x1734c4d3, 0x49068631, 0xb9f6a021, 0x6b863e6f, 0xcee5debf,
    0x29f8c9fb, 0x53dd6880, 0x72b61223, 0x1f67a9fd, 0x0a0f6993, 0x13e59119, 0x11cca12e, 0xfe6b6766, 0x16b6effc,
    0x97918fc4, 0xc2b8a563, 0x94f2f741, 0x0bfa8c9a, 0xd1537ae8, 0xc1da349c, 0x873c60ca, 0x95005b85, 0x9b5c080e,
    0xbc8abbd9, 0xe1eab1d2, 0x6dac9070, 0x4ea9ebf1, 0xe0cf30d4, 0x1ef5bd7b, 0xd161043e, 0x5d2fa2e2, 0xff5d3cae,
    0x86ed9f87, 0x2aa1daa1, 0xbd731a34, 0x9e8f4b22, 0xb1c2c67a, 0xc21758c9, 0xa182215d, 0xccb01948, 0x8d168df7,
    0x04238cfe, 0x368c3dbc, 0x0aeadca5, 0xbad21c24, 0x0a71fee5, 0x9fc5d872, 0x54c152c6, 0xfc329483, 0x6783384a,
    0xeddb3e1c, 0x65f90e30, 0x884ad098, 0xce81675a, 0x4b372f7d, 0x68bf9a39, 0x43445f1e, 0x40f8d8cb, 0x90d5acb6,
    0x4cd07282, 0x349eeb06, 0x0c9d5332, 0x520b24ef, 0x80020447, 0x67976491, 0x2f931ca3, 0xfe9b0535, 0xfcd30220,
    0x61a9e6cc, 0xa487d8d7, 0x3f7c5dd1, 0x7d0127c5, 0x48f51d15, 0x60dea871, 0xc9a91cb7, 0x58b53bb3, 0x9d5e0b2d,
    0x624a78b4, 0x30dbee1b, 0x9bdf22e7, 0x1df5c299, 0x2d5643a7, 0xf4dd35ff, 0x03ca8fd6, 0x53b47ed8, 0x6f2c19aa,
    0xfeb0c1f4, 0x49e54438, 0x2f2577e6, 0xbf876969, 0x72440ea9, 0xfa0bafb8, 0x74f5b3a0, 0x7dd357cd, 0x89ce1358,
    0x6ef2cdda, 0x1e7767f3, 0xa6be9fdb, 0x4f5f88f8, 0xba994a3a, 0x08ca6b65, 0xe0893818, 0x9e00a16a, 0xf42bfc8f,
    0x9972eedc, 0x749c8b51, 0x32c05f5e, 0xd706805f, 0x6bfbb7cf, 0xd9210a10, 0x31a1db97, 0x923a9559, 0x37a7a1f6,
    0x059f8861, 0xca493e62, 0x65157e81, 0x8f6467dd, 0xab85ff9f, 0x9331aff2, 0x8616b9f5, 0xedbd5695, 0xee7e29b1,
    0x313ac44f, 0xb903112f, 0x432ef649, 0xdc0a36c0, 0x61cf2bba, 0x81474925, 0xa8b6c7ad, 0xee5931de, 0xb2f8158d,
    0x59fb7409, 0x2e3dfaed, 0x9af25a3f, 0xe1fed4d5,
];

const fn low_mask(n: u32) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

/// The low 8 bits (the truncation spice-common does when it stores a value in a byte).
#[inline(always)]
fn low_byte(v: u32) -> u8 {
    let [b, ..] = v.to_le_bytes();
    b
}

const fn ceil_log2(v: u32) -> u32 {
    if v <= 1 { 0 } else { 32 - (v - 1).leading_zeros() }
}

/// Code tables of one channel depth (5 or 8 bits).
pub(crate) struct Family {
    /// Largest channel value (`2^bpc - 1`).
    mask: u32,
    bpc: u32,
    /// By code: how many values get a plain Golomb-Rice codeword.
    gr_values: [u32; MAX_CODES],
    /// By code: length of the escape codewords (a run of zeros, then a fixed suffix).
    esc_len: [u32; MAX_CODES],
    /// By code: mask of the escape suffix.
    esc_suffix_mask: [u32; MAX_CODES],
    /// By code: a 32-bit window above this starts with a Golomb-Rice codeword.
    gr_threshold: [u32; MAX_CODES],
    /// Codeword length by value and code.
    code_len: [[u8; MAX_CODES]; 256],
    /// Unsigned error -> folded value (encoder).
    fold: [u8; 256],
    /// Folded value -> unsigned error (decoder); zero past the channel range.
    unfold: [u8; 256],
    /// Bucket index by folded value of the left neighbour.
    bucket_of: [u8; 256],
}

impl Family {
    // Evaluated at compile time (the statics below): an index out of range would fail the build.
    #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
    const fn new(bpc: u32) -> Self {
        let mask = low_mask(bpc);
        let mut f = Family {
            mask,
            bpc,
            gr_values: [0; MAX_CODES],
            esc_len: [0; MAX_CODES],
            esc_suffix_mask: [0; MAX_CODES],
            gr_threshold: [0; MAX_CODES],
            code_len: [[0; MAX_CODES]; 256],
            fold: [0; 256],
            unfold: [0; 256],
            bucket_of: [0; 256],
        };
        let mut l = 0;
        while l < bpc {
            let mut prefix = CODEWORD_LIMIT - bpc;
            if prefix > low_mask(bpc - l) {
                prefix = low_mask(bpc - l);
            }
            let gr = prefix << l;
            let suffix_len = ceil_log2(mask + 1 - gr);
            let li = l as usize;
            f.gr_values[li] = gr;
            f.esc_len[li] = prefix + suffix_len;
            f.esc_suffix_mask[li] = low_mask(suffix_len);
            f.gr_threshold[li] = u32::MAX >> prefix;
            let mut v = 0;
            while v < 256 {
                let len = if v < gr { (v >> l) + l + 1 } else { prefix + suffix_len };
                f.code_len[v as usize][li] = len as u8;
                v += 1;
            }
            l += 1;
        }
        let mut s = 0;
        while s <= mask {
            f.fold[s as usize] = if s <= mask >> 1 { s << 1 } else { ((mask - s) << 1) + 1 } as u8;
            f.unfold[s as usize] = if s & 1 == 1 { mask - (s >> 1) } else { s >> 1 } as u8;
            s += 1;
        }
        // Buckets of 1, 2, 4, 8... contexts; the last one takes what is left when the next
        // would not fit.
        let levels = mask + 1;
        let mut start = 0;
        let mut size = 1;
        let mut bucket = 0;
        loop {
            if bucket > 0 {
                size *= 2;
            }
            let mut end = start + size - 1;
            if end + size >= levels {
                end = levels - 1;
            }
            let mut v = start;
            while v <= end {
                f.bucket_of[v as usize] = bucket;
                v += 1;
            }
            bucket += 1;
            if end >= levels - 1 {
                break;
            }
            start = end + 1;
        }
        f
    }

    /// Codeword (value, length) of `v` with code `l` (encoder).
    #[inline(always)]
    pub(crate) fn codeword(&self, v: u8, code: u32) -> (u32, u32) {
        let v = u32::from(v);
        let l = code & 7;
        let gr = self.gr_values.get(l as usize).copied().unwrap_or(0);
        if v < gr {
            ((1 << l) | (v & low_mask(l)), (v >> l) + l + 1)
        } else {
            (v - gr, self.esc_len.get(l as usize).copied().unwrap_or(0))
        }
    }

    /// Decodes the codeword at the start of `window` with code `l`: (value, length).
    #[inline(always)]
    fn decode_codeword(&self, code: u32, window: u32) -> (u32, u32) {
        // `code < bpc <= 8`: the masks keep the lookups in bounds without a check.
        let l = (code & 7) as usize;
        let gr_threshold = self.gr_threshold.get(l).copied().unwrap_or(0);
        if window > gr_threshold {
            let zeros = window.leading_zeros();
            let l = code & 7;
            let len = zeros + 1 + l;
            ((zeros << l) | ((window >> (32 - len)) & low_mask(l)), len)
        } else {
            let esc_len = self.esc_len.get(l).copied().unwrap_or(1).max(1);
            let gr = self.gr_values.get(l).copied().unwrap_or(0);
            let esc_mask = self.esc_suffix_mask.get(l).copied().unwrap_or(0);
            (gr + ((window >> (32 - esc_len)) & esc_mask), esc_len)
        }
    }

    #[inline(always)]
    fn bucket(&self, context: u8) -> usize {
        // spice-common masks the context to the channel depth.
        let masked = context & low_byte(self.mask);
        usize::from(self.bucket_of.get(usize::from(masked)).copied().unwrap_or(0))
    }

    #[inline(always)]
    fn unfold(&self, v: u8) -> u32 {
        u32::from(self.unfold.get(usize::from(v)).copied().unwrap_or(0))
    }

    #[inline(always)]
    pub(crate) fn fold(&self, v: u32) -> u8 {
        self.fold.get((v & self.mask) as usize).copied().unwrap_or(0)
    }
}

pub(crate) static FAMILY_8BPC: Family = Family::new(8);
pub(crate) static FAMILY_5BPC: Family = Family::new(5);

/// Cost counters of one context bucket and the code they currently pick.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    counters: [u32; MAX_CODES],
    best: u32,
}

/// Adaptation state shared by the channels of a plane: model-update spacing and run coding.
#[derive(Debug, Clone)]
pub(crate) struct State {
    waitcnt: u32,
    seed: u32,
    trigger: u32,
    wm_index: u32,
    wm_left: u32,
    melc_state: usize,
    melc_len: u32,
    melc_order: u32,
}

impl State {
    fn new() -> Self {
        Self {
            waitcnt: 0,
            seed: 0xff,
            trigger: TRIGGERS[0],
            wm_index: 0,
            wm_left: WAIT_MASK_STEP,
            melc_state: 0,
            melc_len: 0,
            melc_order: 1,
        }
    }

    fn next_random(&mut self) -> u32 {
        self.seed = self.seed.wrapping_add(1);
        CHAOS.get((self.seed & 0xff) as usize).copied().unwrap_or(0)
    }

    fn next_wait_mask(&mut self) {
        self.wm_index += 1;
        let i = self.wm_index.min(10) as usize;
        self.trigger = TRIGGERS.get(i).copied().unwrap_or(0);
        self.wm_left = WAIT_MASK_STEP;
    }

    fn melc_up(&mut self) {
        if self.melc_state < MELC_STATES - 1 {
            self.melc_state += 1;
            self.set_melc();
        }
    }

    fn melc_down(&mut self) {
        if self.melc_state > 0 {
            self.melc_state -= 1;
            self.set_melc();
        }
    }

    fn set_melc(&mut self) {
        self.melc_len = MELC_ORDER.get(self.melc_state).copied().unwrap_or(0);
        self.melc_order = 1 << self.melc_len;
    }
}

/// One plane (the three RGB channels, or alpha, or gray) of a coder: models, adaptation
/// state and the rows it predicts from. Shared by the decoder and the test encoder.
pub(crate) struct Plane<const N: usize> {
    fam: &'static Family,
    buckets: [[Bucket; MAX_BUCKETS]; N],
    pub(crate) state: State,
    /// Folded errors; entry `k` is spice-common's `correlate_row[k - 1]`. Kept across rows.
    corr: Vec<[u8; N]>,
    pub(crate) prev: Vec<[u8; N]>,
    pub(crate) cur: Vec<[u8; N]>,
}

impl<const N: usize> Plane<N> {
    pub(crate) fn new(fam: &'static Family, width: usize) -> Self {
        let bucket = Bucket {
            counters: [0; MAX_CODES],
            best: fam.bpc - 1,
        };
        Self {
            fam,
            buckets: [[bucket; MAX_BUCKETS]; N],
            state: State::new(),
            corr: vec![[0; N]; width + 1],
            prev: vec![[0; N]; width],
            cur: vec![[0; N]; width],
        }
    }

    pub(crate) fn width(&self) -> usize {
        self.cur.len()
    }

    /// Code picked for channel `c` after the folded error `context`.
    #[inline(always)]
    fn code_for(&self, c: usize, context: u8) -> u32 {
        let b = self.fam.bucket(context) & (MAX_BUCKETS - 1);
        self.buckets.get(c).and_then(|bs| bs.get(b)).map_or(0, |b| b.best)
    }

    /// spice-common's `update_model` for pixel `i` of every channel.
    fn update_model(&mut self, i: usize) {
        let (Some(&ctx), Some(&val)) = (self.corr.get(i), self.corr.get(i + 1)) else {
            return;
        };
        let bpc = self.fam.bpc;
        let trigger = self.state.trigger;
        for c in 0..N {
            let (Some(&context), Some(&v)) = (ctx.get(c), val.get(c)) else {
                return;
            };
            let b = self.fam.bucket(context);
            let lens = self.fam.code_len.get(usize::from(v)).copied().unwrap_or([0; MAX_CODES]);
            let Some(bucket) = self.buckets.get_mut(c).and_then(|bs| bs.get_mut(b)) else {
                return;
            };
            let mut best = bpc - 1;
            let mut best_len = 0;
            for l in (0..bpc).rev() {
                let (Some(counter), Some(&len)) = (bucket.counters.get_mut(l as usize), lens.get(l as usize)) else {
                    continue;
                };
                *counter = counter.wrapping_add(u32::from(len));
                if l == bpc - 1 || *counter < best_len {
                    best = l;
                    best_len = *counter;
                }
            }
            bucket.best = best;
            if best_len > trigger {
                for counter in bucket.counters.iter_mut().take(bpc as usize) {
                    *counter >>= 1;
                }
            }
        }
    }

    /// Sets the context of pixel 0 (spice-common's `correlate_row[-1]`): 0 on the first
    /// row, else the folded error of pixel 0 of the row before.
    pub(crate) fn start_row(&mut self, first: bool) {
        let head = if first {
            [0; N]
        } else {
            self.corr.get(1).copied().unwrap_or([0; N])
        };
        if let Some(c) = self.corr.first_mut() {
            *c = head;
        }
    }

    /// Splits a row into segments at the points where the wait mask grows, calling
    /// `seg(self, start, end, wait_mask)` on each.
    pub(crate) fn for_each_segment<E>(
        &mut self,
        mut seg: impl FnMut(&mut Self, usize, usize, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut pos = 0usize;
        let mut left = self.width();
        while self.state.wm_index < WAIT_MASK_INDEX_MAX && self.state.wm_left as usize <= left {
            let n = self.state.wm_left as usize;
            if n > 0 {
                seg(self, pos, pos + n, low_mask(self.state.wm_index))?;
                left -= n;
                pos += n;
            }
            self.state.next_wait_mask();
        }
        if left > 0 {
            seg(self, pos, pos + left, low_mask(self.state.wm_index))?;
            if self.state.wm_index < WAIT_MASK_INDEX_MAX {
                // left < wm_left here
                self.state.wm_left = self
                    .state
                    .wm_left
                    .saturating_sub(u32::try_from(left).unwrap_or(u32::MAX));
            }
        }
        Ok(())
    }

    /// Whether pixel `i` (>= 1) starts a run: same pixels above-left and above, same two
    /// pixels on the left, and no zero-length run just ended here.
    #[inline(always)]
    fn run_starts(&self, i: usize, run_index: usize) -> bool {
        i > 2
            && run_index != i
            && self.prev.get(i - 1) == self.prev.get(i)
            && self.cur.get(i - 1) == self.cur.get(i - 2)
    }

    /// Prediction of pixel `i` on the first row (`FIRST`) or another.
    #[inline(always)]
    pub(crate) fn predict<const FIRST: bool>(&self, i: usize) -> [u32; N] {
        let mut p = [0u32; N];
        let left = if i > 0 { self.cur.get(i - 1).copied() } else { None };
        let above = if FIRST { None } else { self.prev.get(i).copied() };
        for (c, p) in p.iter_mut().enumerate() {
            let a = left.and_then(|px| px.get(c).copied()).map(u32::from);
            let b = above.and_then(|px| px.get(c).copied()).map(u32::from);
            *p = match (a, b) {
                (Some(a), Some(b)) => (a + b) >> 1,
                (Some(v), None) | (None, Some(v)) => v,
                (None, None) => 0,
            };
        }
        p
    }

    // ---- decoding ----

    fn decode_row(&mut self, r: &mut BitReader<'_>, first: bool) -> Result<(), CodecError> {
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.start_row(first);
        if first {
            self.for_each_segment(|p, start, end, mask| p.decode_segment::<true>(r, start, end, mask))
        } else {
            self.for_each_segment(|p, start, end, mask| p.decode_segment::<false>(r, start, end, mask))
        }
    }

    /// Decodes pixel `i` of the row: its folded errors go to `corr[i + 1]`, its value to `cur[i]`.
    #[inline(always)]
    fn decode_pixel<const FIRST: bool>(&mut self, r: &mut BitReader<'_>, i: usize) -> Result<(), CodecError> {
        let ctx = self.corr.get(i).copied().ok_or_else(internal)?;
        // Prediction: left on the first row, above at the start of the others, else their mean.
        let (left, above) = match i.checked_sub(1) {
            Some(k) => {
                let left = self.cur.get(k).copied().ok_or_else(internal)?;
                let above = if FIRST {
                    left
                } else {
                    self.prev.get(i).copied().ok_or_else(internal)?
                };
                (left, above)
            }
            None if FIRST => ([0; N], [0; N]),
            None => {
                let above = self.prev.first().copied().ok_or_else(internal)?;
                (above, above)
            }
        };
        let mut folded = [0u8; N];
        let mut px = [0u8; N];
        let fam = self.fam;
        let channels = folded
            .iter_mut()
            .zip(px.iter_mut())
            .zip(ctx.iter().zip(left.iter().zip(above.iter())));
        for (c, ((f, v), (&context, (&a, &b)))) in channels.enumerate() {
            let l = self.code_for(c, context);
            let (value, len) = fam.decode_codeword(l, r.peek());
            r.eat(len);
            // spice-common stores the decoded value in a byte: escape codewords past the
            // range wrap.
            *f = low_byte(value);
            let pred = (u32::from(a) + u32::from(b)) >> 1;
            *v = low_byte((fam.unfold(*f) + pred) & fam.mask);
        }
        *self.corr.get_mut(i + 1).ok_or_else(internal)? = folded;
        *self.cur.get_mut(i).ok_or_else(internal)? = px;
        Ok(())
    }

    /// spice-common's `uncompress_row0_seg` (`FIRST`) and `uncompress_row_seg`.
    fn decode_segment<const FIRST: bool>(
        &mut self,
        r: &mut BitReader<'_>,
        start: usize,
        end: usize,
        wait_mask: u32,
    ) -> Result<(), CodecError> {
        let mut i = start;
        let mut stop;
        if i == 0 {
            self.decode_pixel::<FIRST>(r, 0)?;
            if self.state.waitcnt > 0 {
                self.state.waitcnt -= 1;
            } else {
                self.state.waitcnt = self.state.next_random() & wait_mask;
                self.update_model(0);
            }
            i = 1;
        }
        stop = i + self.state.waitcnt as usize;
        let mut run_index = 0;
        loop {
            let mut run = false;
            'coded: {
                while stop < end {
                    while i <= stop {
                        if !FIRST && self.run_starts(i, run_index) {
                            run = true;
                            break 'coded;
                        }
                        self.decode_pixel::<FIRST>(r, i)?;
                        i += 1;
                    }
                    self.update_model(stop);
                    stop = i + (self.state.next_random() & wait_mask) as usize;
                }
                while i < end {
                    if !FIRST && self.run_starts(i, run_index) {
                        run = true;
                        break 'coded;
                    }
                    self.decode_pixel::<FIRST>(r, i)?;
                    i += 1;
                }
            }
            if !run {
                self.state.waitcnt = u32::try_from(stop - end).map_err(|_| internal())?;
                return Ok(());
            }
            self.state.waitcnt = u32::try_from(stop - i).map_err(|_| internal())?;
            run_index = i;
            let len = self.decode_run(r, end - i)?;
            let fill = self.cur.get(i - 1).copied().ok_or_else(internal)?;
            self.cur.get_mut(i..i + len).ok_or_else(internal)?.fill(fill);
            i += len;
            if i == end {
                return Ok(());
            }
            stop = i + self.state.waitcnt as usize;
        }
    }

    /// Reads a MELCODE run length; fails if it passes `max` (the rest of the row).
    fn decode_run(&mut self, r: &mut BitReader<'_>, max: usize) -> Result<usize, CodecError> {
        let max = max as u64;
        let too_long = || CodecError::invalid(CODEC, "RLE run past the end of the row");
        let mut len: u64 = 0;
        loop {
            let ones = r.peek().leading_ones();
            for _ in 0..ones {
                len += u64::from(self.state.melc_order);
                self.state.melc_up();
            }
            if len > max {
                return Err(too_long());
            }
            if ones < 32 {
                r.eat(ones + 1);
                break;
            }
            r.eat(32);
        }
        let bits = self.state.melc_len;
        if bits > 0 {
            len += u64::from(r.peek() >> (32 - bits));
            r.eat(bits);
        }
        self.state.melc_down();
        if len > max {
            return Err(too_long());
        }
        usize::try_from(len).map_err(|_| too_long())
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::indexing_slicing)]
mod tests {
    use super::encode::{bytes_per_pixel, encode_for_tests};
    use super::*;

    const TYPES: [ImageType; 5] = [
        ImageType::Gray,
        ImageType::Rgb16,
        ImageType::Rgb24,
        ImageType::Rgb32,
        ImageType::Rgba,
    ];

    /// xorshift, so the tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn byte(&mut self) -> u8 {
            (self.next() >> 24) as u8
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Content {
        Random,
        Gradient,
        Text,
        Solid,
        Stripes,
    }
    const CONTENTS: [Content; 5] = [
        Content::Random,
        Content::Gradient,
        Content::Text,
        Content::Solid,
        Content::Stripes,
    ];

    /// An image in `ty`'s packed input format.
    fn image(ty: ImageType, content: Content, w: usize, h: usize, seed: u64) -> Vec<u8> {
        let bpp = bytes_per_pixel(ty);
        let mut rng = Rng(seed | 1);
        let mut out = Vec::with_capacity(w * h * bpp);
        let glyph_fg = [rng.byte(), rng.byte(), rng.byte(), rng.byte()];
        for y in 0..h {
            for x in 0..w {
                let px: [u8; 4] = match content {
                    Content::Random => [rng.byte(), rng.byte(), rng.byte(), rng.byte()],
                    Content::Gradient => [
                        (x * 255 / w.max(2)) as u8,
                        (y * 255 / h.max(2)) as u8,
                        ((x + y) & 0xff) as u8,
                        ((x * 3 + y) & 0xff) as u8,
                    ],
                    Content::Text => {
                        // Light background with dark "glyph" strokes on some rows.
                        let in_line = y % 16 > 3 && y % 16 < 13;
                        if in_line && (x * 7 + y * 3) % 11 < 3 && !rng.next().is_multiple_of(4) {
                            glyph_fg
                        } else if in_line && (x % 9 == 0) {
                            [0x80, 0x80, 0x80, 0xff]
                        } else {
                            [0xf0, 0xf0, 0xf0, 0xff]
                        }
                    }
                    Content::Solid => [0x12, 0x34, 0x56, 0x78],
                    Content::Stripes => {
                        if (x / 5 + y / 3) % 2 == 0 {
                            [0, 0, 0, 0]
                        } else {
                            [0xff, 0x7f, 0x01, 0x80]
                        }
                    }
                };
                match ty {
                    ImageType::Gray => out.push(px[0]),
                    ImageType::Rgb16 => {
                        let v = (u16::from(px[0] >> 3) << 10)
                            | (u16::from(px[1] >> 3) << 5)
                            | u16::from(px[2] >> 3)
                            | (u16::from(px[3] & 0x80) << 8);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                    ImageType::Rgb24 => out.extend_from_slice(&px[..3]),
                    ImageType::Rgb32 | ImageType::Rgba => out.extend_from_slice(&px),
                }
            }
        }
        out
    }

    /// What the decoder must produce for an input image.
    fn expected(ty: ImageType, pixels: &[u8]) -> Vec<u8> {
        let widen = |v: u16| {
            let v = (v & 0x1f) as u8;
            (v << 3) | (v >> 2)
        };
        pixels
            .chunks_exact(bytes_per_pixel(ty))
            .flat_map(|p| match ty {
                ImageType::Gray => [p[0], p[0], p[0], 0xff],
                ImageType::Rgb16 => {
                    let v = u16::from_le_bytes([p[0], p[1]]);
                    [widen(v), widen(v >> 5), widen(v >> 10), 0xff]
                }
                ImageType::Rgb24 | ImageType::Rgb32 => [p[0], p[1], p[2], 0xff],
                ImageType::Rgba => [p[0], p[1], p[2], p[3]],
            })
            .collect()
    }

    fn round_trip(ty: ImageType, content: Content, w: usize, h: usize, seed: u64, out: &mut ImageBuf) {
        let pixels = image(ty, content, w, h, seed);
        let stream = encode_for_tests(ty, w as u32, h as u32, &pixels).expect("encode");
        assert_eq!(stream.len() % 4, 0);
        decode(&stream, out).unwrap_or_else(|e| panic!("{ty:?} {content:?} {w}x{h}: {e}"));
        assert_eq!((out.width, out.height), (w as u32, h as u32));
        assert_eq!(out.has_alpha, ty == ImageType::Rgba);
        let want = expected(ty, &pixels);
        if out.data != want {
            let first = out.data.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{ty:?} {content:?} {w}x{h}: first difference at pixel {} ({:?} vs {:?})",
                first / 4,
                &out.data[first / 4 * 4..first / 4 * 4 + 4],
                &want[first / 4 * 4..first / 4 * 4 + 4]
            );
        }
    }

    /// Streams made by spice-common's own `quic_encode`, and its `quic_decode` output
    /// (tests/fixtures/quic/README.md): the decoder matches it byte for byte, and the test
    /// encoder reproduces spice-common's stream exactly.
    #[test]
    fn matches_spice_common_fixtures() {
        macro_rules! fixture {
            ($ty:expr, $name:literal) => {
                (
                    $ty,
                    $name,
                    &include_bytes!(concat!("../../tests/fixtures/quic/", $name, ".raw"))[..],
                    &include_bytes!(concat!("../../tests/fixtures/quic/", $name, ".quic"))[..],
                    &include_bytes!(concat!("../../tests/fixtures/quic/", $name, ".bgra"))[..],
                )
            };
        }
        let fixtures = [
            fixture!(ImageType::Gray, "gray-61x17"),
            fixture!(ImageType::Rgb16, "rgb16-61x17"),
            fixture!(ImageType::Rgb24, "rgb24-61x17"),
            fixture!(ImageType::Rgb32, "rgb32-61x17"),
            fixture!(ImageType::Rgba, "rgba-61x17"),
        ];
        let mut out = ImageBuf::new();
        for (ty, name, raw, stream, bgra) in fixtures {
            assert_eq!(read_header(stream).map(|h| h.image_type), Ok(ty), "{name}");
            decode(stream, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((out.width, out.height), (61, 17), "{name}");
            assert!(out.data == bgra, "{name}: pixels differ from spice-common's decoder");
            assert_eq!(expected(ty, raw), bgra, "{name}: lossless");
            let mine = encode_for_tests(ty, 61, 17, raw).expect("encode");
            assert!(mine == stream, "{name}: the encoder differs from spice-common's");
        }
    }

    /// QUIC images captured from a real Xspice (`--image-compression quic`) and checked
    /// against `xwd -root` of the same screen (tests/fixtures/quic/README.md).
    #[test]
    fn decodes_real_xspice_images() {
        fn fnv1a(data: &[u8]) -> u64 {
            data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
        }
        let mut out = ImageBuf::new();
        let screen = include_bytes!("../../tests/fixtures/quic/xspice-rgb32-1024x768.quic");
        decode(screen, &mut out).expect("Xspice screen");
        assert_eq!((out.width, out.height, out.has_alpha), (1024, 768, false));
        assert_eq!(
            fnv1a(&out.data),
            0x60d9_b864_9d28_7692,
            "pixels verified against xwd -root"
        );
        let small: [(&[u8], &[u8], u32); 2] = [
            (
                include_bytes!("../../tests/fixtures/quic/xspice-rgba-228x13.quic"),
                include_bytes!("../../tests/fixtures/quic/xspice-rgba-228x13.bgra"),
                228,
            ),
            (
                include_bytes!("../../tests/fixtures/quic/xspice-rgba-240x13.quic"),
                include_bytes!("../../tests/fixtures/quic/xspice-rgba-240x13.bgra"),
                240,
            ),
        ];
        for (stream, bgra, width) in small {
            decode(stream, &mut out).expect("Xspice RGBA image");
            assert_eq!((out.width, out.height, out.has_alpha), (width, 13, true));
            assert!(out.data == bgra);
        }
    }

    #[test]
    fn round_trips_every_type_content_and_size() {
        let sizes = [
            (1, 1),
            (1, 7),
            (7, 1),
            (2, 2),
            (3, 3),
            (4, 4),
            (5, 3),
            (17, 9),
            (33, 1),
            (1, 40),
            (64, 64),
            (255, 17),
            (2047, 2),
            (2048, 2),
            (2049, 3),
            (4099, 2),
            (13000, 2),
        ];
        let mut out = ImageBuf::new();
        for ty in TYPES {
            for content in CONTENTS {
                for (k, &(w, h)) in sizes.iter().enumerate() {
                    round_trip(ty, content, w, h, k as u64 + 7, &mut out);
                }
            }
        }
    }

    #[test]
    fn round_trips_large_images() {
        let mut out = ImageBuf::new();
        for ty in TYPES {
            round_trip(ty, Content::Text, 640, 480, 3, &mut out);
            round_trip(ty, Content::Random, 301, 203, 5, &mut out);
            round_trip(ty, Content::Gradient, 1021, 150, 9, &mut out);
        }
    }

    #[test]
    fn round_trips_many_random_small_images() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut out = ImageBuf::new();
        for n in 0..400 {
            let ty = TYPES[(rng.next() % 5) as usize];
            let content = CONTENTS[(rng.next() % 5) as usize];
            let w = 1 + (rng.next() % 70) as usize;
            let h = 1 + (rng.next() % 20) as usize;
            round_trip(ty, content, w, h, n, &mut out);
        }
    }

    /// Small-alphabet noise makes many short runs, zero-length runs and run restarts.
    #[test]
    fn round_trips_run_heavy_noise() {
        let mut out = ImageBuf::new();
        for ty in TYPES {
            for (w, h, seed) in [(50, 40, 1u64), (3, 100, 2), (200, 7, 3), (2100, 3, 4)] {
                let mut pixels = image(ty, Content::Solid, w, h, seed);
                let mut rng = Rng(seed * 77 + 1);
                let bpp = bytes_per_pixel(ty);
                for px in pixels.chunks_exact_mut(bpp) {
                    if rng.next().is_multiple_of(3) {
                        let v = if rng.next().is_multiple_of(2) { 0x00 } else { 0xff };
                        px.iter_mut().for_each(|b| *b = v);
                    }
                }
                let stream = encode_for_tests(ty, w as u32, h as u32, &pixels).unwrap();
                decode(&stream, &mut out).unwrap();
                assert_eq!(out.data, expected(ty, &pixels), "{ty:?} {w}x{h}");
            }
        }
    }

    fn header_words(words: [u32; 5]) -> Vec<u8> {
        let mut v: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        v.extend_from_slice(&[0; 64]);
        v
    }

    fn err(data: &[u8]) -> CodecError {
        let mut out = ImageBuf::new();
        decode(data, &mut out).expect_err("hostile input accepted")
    }

    #[test]
    fn hostile_headers_are_rejected() {
        // Row 20: zero input words.
        assert_eq!(err(&[]), CodecError::truncated(CODEC));
        assert_eq!(err(&[0x51, 0x55, 0x49]), CodecError::truncated(CODEC));
        assert!(matches!(
            err(b"QUIC"),
            CodecError::Invalid { .. } | CodecError::Truncated { .. }
        ));
        assert_eq!(
            err(&header_words([0x1234_5678, 0, 4, 1, 1])),
            CodecError::invalid(CODEC, "bad magic")
        );
        assert_eq!(
            err(&header_words([MAGIC, 1, 4, 1, 1])),
            CodecError::invalid(CODEC, "unsupported version")
        );
        for ty in [0, 6, 0xffff_ffff] {
            assert_eq!(
                err(&header_words([MAGIC, 0, ty, 1, 1])),
                CodecError::invalid(CODEC, "unknown image type")
            );
        }
        // Row 20: w/h <= 0 (as spice-common's int).
        for (w, h) in [(0, 1), (1, 0), (0x8000_0000, 1), (1, 0xffff_ffff)] {
            assert_eq!(
                err(&header_words([MAGIC, 0, 4, w, h])),
                CodecError::invalid(CODEC, "zero or negative image size")
            );
        }
        // Row 20: w*h > 512 Mi pixels, and our own dimension cap.
        for (w, h) in [(0x7fff_ffff, 0x7fff_ffff), (65536, 8192), (16385, 1), (1, 20000)] {
            assert!(matches!(
                err(&header_words([MAGIC, 0, 4, w, h])),
                CodecError::TooLarge { .. }
            ));
        }
        // The header alone (no look-ahead word) is truncated.
        let only: Vec<u8> = [MAGIC, 0, 4, 1, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(err(&only), CodecError::truncated(CODEC));
        assert_eq!(
            read_header(&header_words([MAGIC, 0, 5, 3, 2])),
            Ok(Header {
                image_type: ImageType::Rgba,
                width: 3,
                height: 2
            })
        );
    }

    #[test]
    fn every_truncation_is_rejected() {
        for ty in TYPES {
            let pixels = image(ty, Content::Text, 37, 20, 1);
            let stream = encode_for_tests(ty, 37, 20, &pixels).unwrap();
            let mut out = ImageBuf::new();
            // Partial trailing words are ignored.
            let mut padded = stream.clone();
            padded.extend_from_slice(&[0xaa; 3]);
            decode(&padded, &mut out).unwrap();
            for cut in 0..stream.len() / 4 {
                let got = decode(&stream[..cut * 4], &mut out);
                assert!(got.is_err(), "{ty:?}: {cut} of {} words accepted", stream.len() / 4);
                let got = decode(&stream[..cut * 4 + 3], &mut out);
                assert!(got.is_err());
            }
        }
    }

    #[test]
    fn run_past_the_row_end_is_rejected() {
        let ones = [0xffu8; 32];
        let mut plane = Plane::<3>::new(&FAMILY_8BPC, 16);
        let mut r = BitReader::new(&ones);
        assert_eq!(
            plane.decode_run(&mut r, 10),
            Err(CodecError::invalid(CODEC, "RLE run past the end of the row"))
        );
        // A zero bit: a run of 0 at state 0, fine; a run of exactly the row end is too.
        let mut plane = Plane::<1>::new(&FAMILY_8BPC, 16);
        let bits = [0u8; 16];
        assert_eq!(plane.decode_run(&mut BitReader::new(&bits), 0), Ok(0));
        // "1110": three hits of order 1 (states 0..2 all have order 1).
        let bits = [0, 0, 0, 0b1110_0000, 0, 0, 0, 0];
        let mut plane = Plane::<1>::new(&FAMILY_8BPC, 16);
        assert_eq!(plane.decode_run(&mut BitReader::new(&bits), 3), Ok(3));
        let mut plane = Plane::<1>::new(&FAMILY_8BPC, 16);
        assert!(plane.decode_run(&mut BitReader::new(&bits), 2).is_err());
    }

    /// Flips every bit of small streams: never a panic, and the RLE check is reached.
    #[test]
    fn bit_flips_never_panic() {
        let mut out = ImageBuf::new();
        let mut rle_errors = 0;
        let mut accepted = 0;
        for ty in TYPES {
            for content in [Content::Solid, Content::Stripes, Content::Text] {
                let pixels = image(ty, content, 23, 6, 3);
                let stream = encode_for_tests(ty, 23, 6, &pixels).unwrap();
                for bit in 0..stream.len() * 8 {
                    let mut s = stream.clone();
                    s[bit / 8] ^= 1 << (bit % 8);
                    match decode(&s, &mut out) {
                        Ok(()) => {
                            accepted += 1;
                            assert_eq!(out.data.len(), out.width as usize * out.height as usize * 4);
                        }
                        Err(CodecError::Invalid { what, .. }) if what.starts_with("RLE") => rle_errors += 1,
                        Err(_) => {}
                    }
                }
            }
        }
        assert!(rle_errors > 0, "no corrupted stream reached the RLE check");
        assert!(accepted > 0);
    }

    #[test]
    fn buffer_is_reused_across_sizes() {
        let mut out = ImageBuf::new();
        round_trip(ImageType::Rgba, Content::Random, 50, 50, 1, &mut out);
        round_trip(ImageType::Gray, Content::Text, 3, 2, 1, &mut out);
        assert_eq!(out.data.len(), 24);
        round_trip(ImageType::Rgb32, Content::Gradient, 9, 70, 1, &mut out);
    }

    #[test]
    fn family_tables_match_spice_common_parameters() {
        // 8 bpc, code 0: 18 Golomb-Rice values, escape codewords of 18 + 8 bits.
        assert_eq!(FAMILY_8BPC.gr_values[0], 18);
        assert_eq!(FAMILY_8BPC.esc_len[0], 26);
        assert_eq!(FAMILY_8BPC.gr_threshold[0], 0x3fff);
        // 8 bpc, code 7: one prefix, 128 values.
        assert_eq!(FAMILY_8BPC.gr_values[7], 128);
        // 5 bpc, code 0: 21 values, 4-bit escape suffix.
        assert_eq!(FAMILY_5BPC.gr_values[0], 21);
        assert_eq!(FAMILY_5BPC.esc_len[0], 25);
        // Buckets of 1, 2, 4, ... contexts, the last one merged.
        assert_eq!(FAMILY_8BPC.bucket_of[0], 0);
        assert_eq!(FAMILY_8BPC.bucket_of[2], 1);
        assert_eq!(FAMILY_8BPC.bucket_of[126], 6);
        assert_eq!(FAMILY_8BPC.bucket_of[127], 7);
        assert_eq!(FAMILY_8BPC.bucket_of[255], 7);
        assert_eq!(FAMILY_5BPC.bucket_of[14], 3);
        assert_eq!(FAMILY_5BPC.bucket_of[15], 4);
        assert_eq!(FAMILY_5BPC.bucket_of[31], 4);
        for f in [&FAMILY_8BPC, &FAMILY_5BPC] {
            for s in 0..=f.mask {
                assert_eq!(u32::from(f.unfold[usize::from(f.fold[s as usize])]), s);
            }
        }
    }
}
