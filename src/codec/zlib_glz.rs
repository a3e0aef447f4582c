//! ZLIB_GLZ_RGB: a zlib stream inflating (capped at its declared size) to GLZ data.
//!
//! The server wraps GLZ data in zlib when that makes it smaller (`image-encoders.cpp`) and sends
//! the GLZ size with it. The stream must inflate to exactly that many bytes and end with a valid
//! adler32; anything that would inflate further (a zip bomb, hostile-inputs row 25) is refused
//! as soon as one byte too many appears. `scratch` grows with the output actually produced, never
//! to a declared size up front.

use flate2::{Decompress, FlushDecompress, Status};

use super::glz::{Absent, GlzWindow};
use super::{CodecError, ImageBuf, MAX_BYTES};

const CODEC: &str = "zlib-glz";

/// First growth step of `scratch`.
const MIN_CHUNK: usize = 64 * 1024;

/// Inflates exactly `size` bytes of the zlib stream `data` into `scratch` (emptied on error).
pub fn inflate_capped(size: u32, data: &[u8], scratch: &mut Vec<u8>) -> Result<(), CodecError> {
    let r = inflate_into(size, data, scratch);
    if r.is_err() {
        scratch.clear();
    }
    r
}

fn inflate_into(size: u32, data: &[u8], scratch: &mut Vec<u8>) -> Result<(), CodecError> {
    if u64::from(size) > MAX_BYTES {
        return Err(CodecError::invalid(CODEC, "declared GLZ size above the image limit"));
    }
    let size = size as usize;
    scratch.clear();
    let mut z = Decompress::new(true);
    let corrupt = |_| CodecError::invalid(CODEC, "corrupt zlib stream");
    loop {
        let consumed = usize::try_from(z.total_in()).map_err(|_| CodecError::truncated(CODEC))?;
        let input = data.get(consumed..).unwrap_or_default();
        if scratch.len() == scratch.capacity() {
            // Grow with what was produced so far, never past the declared size (+1 to detect excess).
            let want = scratch.len().max(MIN_CHUNK).min(size + 1 - scratch.len());
            scratch.reserve_exact(want);
        }
        let before = scratch.len();
        let status = z
            .decompress_vec(input, scratch, FlushDecompress::None)
            .map_err(corrupt)?;
        if scratch.len() > size {
            return Err(CodecError::invalid(
                CODEC,
                "zlib data inflates beyond the declared GLZ size",
            ));
        }
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                let progressed = scratch.len() > before || z.total_in() > consumed as u64;
                if !progressed {
                    return Err(CodecError::truncated(CODEC));
                }
            }
        }
    }
    if scratch.len() != size {
        return Err(CodecError::invalid(
            CODEC,
            "zlib data inflates to less than the declared GLZ size",
        ));
    }
    Ok(())
}

/// Inflates at most `glz_data_size` bytes into `scratch`, then decodes them as GLZ.
pub fn decode(
    glz_data_size: u32,
    data: &[u8],
    window: &GlzWindow,
    out: &mut ImageBuf,
    scratch: &mut Vec<u8>,
    absent: Absent,
) -> Result<(), CodecError> {
    inflate_capped(glz_data_size, data, scratch)?;
    window.decode(scratch, out, absent)
}

/// [`decode`] into pixels shared with the window ([`GlzWindow::decode_shared`]).
pub fn decode_shared(
    glz_data_size: u32,
    data: &[u8],
    window: &GlzWindow,
    scratch: &mut Vec<u8>,
    absent: Absent,
) -> Result<super::glz::Decoded, CodecError> {
    inflate_capped(glz_data_size, data, scratch)?;
    window.decode_shared(scratch, absent)
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test data
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_exactly_and_refuses_bombs() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let z = zlib(&data);
        let mut scratch = Vec::new();
        inflate_capped(data.len() as u32, &z, &mut scratch).unwrap();
        assert_eq!(scratch, data);
        // declared smaller than the stream: refused without growing past it
        let mut scratch = Vec::new();
        let e = inflate_capped(1000, &z, &mut scratch).unwrap_err();
        assert!(matches!(e, CodecError::Invalid { .. }), "{e:?}");
        assert!(scratch.capacity() < 200_000);
        // a 1 GiB-of-zeros-like bomb against a small declared size
        let bomb = zlib(&vec![0u8; 8 << 20]);
        assert!(inflate_capped(4096, &bomb, &mut scratch).is_err());
        assert!(scratch.capacity() < 1 << 20);
        // declared larger than the stream
        assert!(inflate_capped(data.len() as u32 + 1, &z, &mut scratch).is_err());
        // corrupt adler32 and truncated stream
        let mut bad = z.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(inflate_capped(data.len() as u32, &bad, &mut scratch).is_err());
        assert!(inflate_capped(data.len() as u32, &z[..z.len() - 10], &mut scratch).is_err());
        assert!(inflate_capped(0, &[], &mut scratch).is_err());
        assert!(inflate_capped(u32::MAX, &z, &mut scratch).is_err());
    }

    #[test]
    fn decodes_glz_through_zlib() {
        use crate::codec::glz::encode::GlzEncoder;
        use crate::codec::lz::LzType;
        let (w, h) = (64u32, 32u32);
        let src: Vec<u8> = (0..w * h * 4).map(|i| ((i / 40) % 7) as u8 * 30).collect();
        let mut enc = GlzEncoder::new(1 << 20);
        let glz = enc.encode(LzType::Rgb32, w, h, true, &src).unwrap();
        let z = zlib(&glz);
        let window = GlzWindow::new(4 << 20);
        let mut out = ImageBuf::new();
        let mut scratch = Vec::new();
        decode(glz.len() as u32, &z, &window, &mut out, &mut scratch, Absent::Missing).unwrap();
        for (p, s) in out.data.chunks_exact(4).zip(src.chunks_exact(4)) {
            assert_eq!(p, [s[0], s[1], s[2], 255]);
        }
        assert!(
            decode(
                glz.len() as u32 - 1,
                &z,
                &window,
                &mut out,
                &mut scratch,
                Absent::Missing
            )
            .is_err()
        );
    }
}
