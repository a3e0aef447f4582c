//! `glz_sequence` oracle (hostile-inputs rows 22 and 23), stateful: byte 0 splits the input into
//! `1 + (b0 & 7)` GLZ images (each but the last prefixed by its length, u16 little-endian) and
//! picks the window size (`256 << (b0 >> 5)` bytes); the images go through one `GlzWindow`.
//! Each is decoded first as if another channel might still bring what it references
//! (`Absent::Pending`): a pending result must change nothing in the window; then as a decoder
//! that gave up waiting (`Absent::Missing`). Decoding must never panic or block, the window must
//! stay within its size, and a decoded image must be fully sized and opaque unless RGBA.

use std::time::{Duration, Instant};

use sumac::codec::glz::{self, Absent, GlzWindow};
use sumac::codec::lz::LzType;
use sumac::codec::{CodecError, ImageBuf};

/// Splits `data` as the oracle does: the window size and the images.
pub fn split(data: &[u8]) -> Option<(u64, Vec<&[u8]>)> {
    let (&b0, mut rest) = data.split_first()?;
    let count = 1 + usize::from(b0 & 7);
    let window = 256u64 << (b0 >> 5);
    let mut images = Vec::with_capacity(count);
    for _ in 1..count {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (img, tail) = tail.split_at(len);
        images.push(img);
        rest = tail;
    }
    images.push(rest);
    Some((window, images))
}

/// Decodes `data` as one image of `window` and checks the properties; returns whether it decoded.
pub fn decode_checked(window: &GlzWindow, data: &[u8], out: &mut ImageBuf) -> bool {
    let t = Instant::now();
    let (ids, held, generation) = (window.ids(), window.held_bytes(), window.generation());
    let mut r = window.decode(data, out, Absent::Pending);
    if matches!(r, Err(CodecError::GlzPending { .. })) {
        assert_eq!(
            (window.ids(), window.held_bytes(), window.generation()),
            (ids, held, generation),
            "a pending decode changed the window"
        );
        r = window.decode(data, out, Absent::Missing);
        assert!(
            !matches!(r, Err(CodecError::GlzPending { .. })),
            "pending after giving up"
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "decode blocked for {:?}",
        t.elapsed()
    );
    assert!(window.held_bytes() <= window.max_bytes(), "window above its size");
    match r {
        Ok(()) => {
            let h = glz::header(data).expect("a decoded image has a valid header");
            assert_eq!((out.width, out.height), (h.width, h.height));
            assert_eq!(out.data.len(), (h.width as usize) * (h.height as usize) * 4);
            assert_eq!(out.has_alpha, h.ty == LzType::Rgba);
            if !out.has_alpha {
                assert!(
                    out.data.chunks_exact(4).all(|p| p[3] == 255),
                    "opaque types get alpha 255"
                );
            }
            true
        }
        Err(e) => {
            assert!(!matches!(e, CodecError::Unsupported { .. }), "GLZ is supported: {e:?}");
            false
        }
    }
}

pub fn fuzz(data: &[u8]) -> bool {
    let Some((size, images)) = split(data) else {
        return false;
    };
    let window = GlzWindow::new(size);
    let mut out = ImageBuf::new();
    let mut all = true;
    for img in images {
        all &= decode_checked(&window, img, &mut out);
    }
    window.clear();
    assert_eq!(window.held_bytes(), 0);
    all
}
