//! JPEG images, JPEG_ALPHA images and MJPEG stream frames (zune-jpeg).
//!
//! - JPEG (`SPICE_IMAGE_TYPE_JPEG`) and MJPEG frames are plain baseline or
//!   progressive JFIF files, YCbCr or greyscale. They decode to opaque B,G,R,A.
//! - JPEG_ALPHA is `jpeg_size` bytes of JPEG followed by an LZ image of type
//!   XXXA carrying the alpha plane. The JPEG rows are always top-down; the
//!   alpha plane is top-down exactly when `flags` has
//!   [`JPEG_ALPHA_TOP_DOWN`], and its own LZ header must say the same (as
//!   spice-common checks).
//!
//! Hostile input (hostile-inputs row 26): the header is read first and the
//! image size checked against the pixel cap before any pixel buffer is sized;
//! progressive files are limited to [`MAX_SCANS`] scans; a JPEG whose size
//! differs from the alpha plane's (or from the size the caller expects, see
//! [`decode_sized`]) is a [`CodecError::SizeMismatch`].

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::{CodecError, ImageBuf, MAX_DIM};

const CODEC: &str = "jpeg";
const CODEC_ALPHA: &str = "jpeg-alpha";

/// `SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN`.
pub const JPEG_ALPHA_TOP_DOWN: u8 = 1 << 0;
/// Most scans a progressive JPEG may have (a baseline file has one per component).
pub const MAX_SCANS: usize = 64;
/// Default pixel cap of [`decode`] and [`decode_alpha`] (64 Mpx, e.g. 8192×8192):
/// zune-jpeg keeps a whole progressive image's coefficients (2 bytes per
/// sample) besides the output, so this also bounds that memory.
pub const MAX_PIXELS: u64 = 1 << 26;

/// Size of the LZ header that precedes the alpha plane (7 big-endian u32).
const LZ_HEADER_LEN: usize = 28;
/// `LZ_MAGIC` ("LZ  " read as a big-endian u32).
const LZ_MAGIC: u32 = 0x2020_5a4c;

fn options(out: ColorSpace) -> DecoderOptions {
    let dim = usize::try_from(MAX_DIM).unwrap_or(usize::MAX);
    DecoderOptions::new_fast()
        .set_max_width(dim)
        .set_max_height(dim)
        .jpeg_set_max_scans(MAX_SCANS)
        .jpeg_set_out_colorspace(out)
}

/// Reads the header of a JPEG: its width and height.
pub fn dimensions(data: &[u8]) -> Result<(u32, u32), CodecError> {
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(data), options(ColorSpace::BGRA));
    header(&mut dec)
}

fn header(dec: &mut JpegDecoder<ZCursor<&[u8]>>) -> Result<(u32, u32), CodecError> {
    dec.decode_headers()
        .map_err(|_| CodecError::invalid(CODEC, "corrupt or unsupported JPEG header"))?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| CodecError::invalid(CODEC, "JPEG header without a size"))?;
    let too_large = || CodecError::TooLarge {
        codec: CODEC,
        width: u64::try_from(w).unwrap_or(u64::MAX),
        height: u64::try_from(h).unwrap_or(u64::MAX),
    };
    Ok((
        u32::try_from(w).map_err(|_| too_large())?,
        u32::try_from(h).map_err(|_| too_large())?,
    ))
}

/// Decodes a JPEG into `out` (opaque B,G,R,A, alpha 255), at most
/// [`MAX_PIXELS`] pixels.
pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    decode_capped(data, MAX_PIXELS, None, out)
}

/// Like [`decode`], but the JPEG must be `width`×`height` (the image
/// descriptor or the stream frame size); checked before decoding.
pub fn decode_sized(data: &[u8], width: u32, height: u32, out: &mut ImageBuf) -> Result<(), CodecError> {
    decode_capped(data, MAX_PIXELS, Some((width, height)), out)
}

/// Fails with [`CodecError::SizeMismatch`] unless `out` is `width`×`height`.
pub fn expect_size(codec: &'static str, out: &ImageBuf, width: u32, height: u32) -> Result<(), CodecError> {
    if out.width == width && out.height == height {
        Ok(())
    } else {
        Err(CodecError::SizeMismatch {
            codec,
            width,
            height,
            got_width: out.width,
            got_height: out.height,
        })
    }
}

/// Decodes a JPEG of at most `max_pixels` pixels, and of exactly `expect`
/// (width, height) when given. The header is checked before `out` is sized.
pub fn decode_capped(
    data: &[u8],
    max_pixels: u64,
    expect: Option<(u32, u32)>,
    out: &mut ImageBuf,
) -> Result<(), CodecError> {
    if decode_capped_red_first(data, max_pixels, expect, out)? {
        rgba_to_bgra(&mut out.data);
    }
    Ok(())
}

/// [`decode_capped`] without the last pass: returns whether `out` holds
/// R,G,B,A pixels (colour JPEGs; the caller swaps red and blue itself, e.g.
/// while copying them elsewhere) rather than B,G,R,A (greyscale ones, where
/// both orders are the same bytes).
pub fn decode_capped_red_first(
    data: &[u8],
    max_pixels: u64,
    expect: Option<(u32, u32)>,
    out: &mut ImageBuf,
) -> Result<bool, CodecError> {
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(data), options(ColorSpace::RGBA));
    let (w, h) = header(&mut dec)?;
    if let Some((width, height)) = expect
        && (width, height) != (w, h)
    {
        return Err(CodecError::SizeMismatch {
            codec: CODEC,
            width,
            height,
            got_width: w,
            got_height: h,
        });
    }
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > max_pixels {
        return Err(CodecError::TooLarge {
            codec: CODEC,
            width: u64::from(w),
            height: u64::from(h),
        });
    }
    // zune-jpeg converts YCbCr to RGBA with AVX2 but to BGRA with scalar
    // code only: RGBA then swapping red and blue is faster. Grey is expanded
    // to R=G=B, the same bytes in either order.
    let swap = match dec.input_colorspace() {
        Some(ColorSpace::YCbCr) => true,
        Some(ColorSpace::Luma) => false,
        _ => {
            return Err(CodecError::invalid(
                CODEC,
                "JPEG colour space is not YCbCr or greyscale",
            ));
        }
    };
    out.reset(CODEC, w, h)?;
    if dec.output_buffer_size() != Some(out.data.len()) {
        return Err(CodecError::invalid(CODEC, "unexpected JPEG output size"));
    }
    dec.decode_into(&mut out.data)
        .map_err(|_| CodecError::invalid(CODEC, "corrupt JPEG data"))?;
    out.has_alpha = false;
    Ok(swap)
}

/// Swaps the first and third byte of every pixel, in words so that the
/// compiler vectorises it.
fn rgba_to_bgra(data: &mut [u8]) {
    for px in data.chunks_exact_mut(4) {
        if let Ok(px) = <&mut [u8; 4]>::try_from(px) {
            let v = u32::from_le_bytes(*px);
            *px = ((v & 0xff00_ff00) | ((v >> 16) & 0xff) | ((v & 0xff) << 16)).to_le_bytes();
        }
    }
}

/// JPEG_ALPHA: the first `jpeg_size` bytes are a JPEG, the rest an LZ alpha
/// plane (type XXXA) of the same size; top-down when `flags` has
/// [`JPEG_ALPHA_TOP_DOWN`].
pub fn decode_alpha(flags: u8, jpeg_size: u32, data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    decode_alpha_capped(flags, jpeg_size, data, MAX_PIXELS, out)
}

/// [`decode_alpha`] with a pixel cap of `max_pixels`.
pub fn decode_alpha_capped(
    flags: u8,
    jpeg_size: u32,
    data: &[u8],
    max_pixels: u64,
    out: &mut ImageBuf,
) -> Result<(), CodecError> {
    let n = usize::try_from(jpeg_size).map_err(|_| CodecError::truncated(CODEC_ALPHA))?;
    let (Some(jpeg), Some(alpha)) = (data.get(..n), data.get(n..)) else {
        return Err(CodecError::truncated(CODEC_ALPHA));
    };
    // Check the alpha plane's header before decoding anything.
    let header = alpha
        .get(..LZ_HEADER_LEN)
        .ok_or_else(|| CodecError::truncated(CODEC_ALPHA))?;
    let word = |i: usize| {
        header
            .get(i * 4..i * 4 + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_be_bytes)
    };
    if word(0) != LZ_MAGIC {
        return Err(CodecError::invalid(CODEC_ALPHA, "alpha plane is not an LZ image"));
    }
    let (aw, ah, a_top_down) = (word(3), word(4), word(6) != 0);
    if a_top_down != (flags & JPEG_ALPHA_TOP_DOWN != 0) {
        return Err(CodecError::invalid(
            CODEC_ALPHA,
            "alpha plane direction differs from the JPEG_ALPHA flags",
        ));
    }
    let (w, h) = dimensions(jpeg)?;
    if (aw, ah) != (w, h) {
        return Err(CodecError::SizeMismatch {
            codec: CODEC_ALPHA,
            width: w,
            height: h,
            got_width: aw,
            got_height: ah,
        });
    }
    decode_capped(jpeg, max_pixels, Some((w, h)), out)?;
    crate::codec::lz::decode_alpha(alpha, out)?;
    out.has_alpha = true;
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::unwrap_used
)]
pub(crate) mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jpeg/");

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}{name}")).unwrap()
    }

    /// Reads a binary 8-bit PPM (P6) into (width, height, RGB bytes).
    pub(crate) fn ppm(name: &str) -> (u32, u32, Vec<u8>) {
        let data = fixture(name);
        let mut fields = Vec::new();
        let mut pos = 0;
        while fields.len() < 4 {
            while data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let start = pos;
            while !data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            fields.push(String::from_utf8(data[start..pos].to_vec()).unwrap());
        }
        assert_eq!(fields[0], "P6");
        assert_eq!(fields[3], "255");
        (
            fields[1].parse().unwrap(),
            fields[2].parse().unwrap(),
            data[pos + 1..].to_vec(),
        )
    }

    /// PSNR in dB of B,G,R,A pixels against RGB reference pixels (colour only).
    pub(crate) fn psnr(bgra: &[u8], rgb: &[u8]) -> f64 {
        let mut se = 0f64;
        let mut n = 0f64;
        for (p, q) in bgra.chunks_exact(4).zip(rgb.chunks_exact(3)) {
            for (a, b) in [(p[2], q[0]), (p[1], q[1]), (p[0], q[2])] {
                se += (f64::from(a) - f64::from(b)).powi(2);
                n += 1.0;
            }
        }
        assert!(n > 0.0);
        if se == 0.0 {
            return f64::INFINITY;
        }
        10.0 * (255.0f64 * 255.0 / (se / n)).log10()
    }

    #[test]
    fn fixtures_decode_close_to_source_and_reference() {
        let (sw, sh, src) = ppm("src-61x37.ppm");
        for name in [
            "color-61x37-444-q95",
            "color-61x37-420-q95",
            "color-61x37-420-q95-progressive",
        ] {
            let mut out = ImageBuf::new();
            decode(&fixture(&format!("{name}.jpg")), &mut out).unwrap();
            assert_eq!((out.width, out.height), (sw, sh));
            assert!(out.data.chunks_exact(4).all(|p| p[3] == 0xff), "{name}: alpha 255");
            assert!(!out.has_alpha);
            let (_, _, reference) = ppm(&format!("{name}.ref.ppm"));
            let vs_src = psnr(&out.data, &src);
            let vs_ref = psnr(&out.data, &reference);
            assert!(vs_src >= 40.0, "{name}: {vs_src:.1} dB against the source");
            assert!(vs_ref >= 40.0, "{name}: {vs_ref:.1} dB against libjpeg");
        }
    }

    #[test]
    fn rgba_then_swap_equals_zune_bgra() {
        for name in [
            "color-61x37-444-q95",
            "color-61x37-420-q95",
            "color-61x37-420-q95-progressive",
            "bench-1920x1080-q85",
        ] {
            let data = fixture(&format!("{name}.jpg"));
            let mut out = ImageBuf::new();
            decode(&data, &mut out).unwrap();
            let mut dec = JpegDecoder::new_with_options(ZCursor::new(&data[..]), options(ColorSpace::BGRA));
            let direct = dec.decode().unwrap();
            assert_eq!(out.data, direct, "{name}");
        }
    }

    #[test]
    fn red_first_output_is_the_bgra_output_with_red_and_blue_swapped() {
        for name in ["color-61x37-420-q95", "color-61x37-444-q95"] {
            let data = fixture(&format!("{name}.jpg"));
            let mut bgra = ImageBuf::new();
            decode_capped(&data, u64::MAX, None, &mut bgra).unwrap();
            let mut rgba = ImageBuf::new();
            assert!(
                decode_capped_red_first(&data, u64::MAX, None, &mut rgba).unwrap(),
                "{name}"
            );
            assert_eq!((rgba.width, rgba.height), (bgra.width, bgra.height));
            for (p, q) in rgba.data.chunks_exact(4).zip(bgra.data.chunks_exact(4)) {
                assert_eq!([p[2], p[1], p[0], p[3]], [q[0], q[1], q[2], q[3]], "{name}");
            }
        }
    }

    #[test]
    fn greyscale_expands_to_grey_bgra() {
        let mut out = ImageBuf::new();
        decode(&fixture("gray-64x48-q90.jpg"), &mut out).unwrap();
        assert_eq!((out.width, out.height), (64, 48));
        assert!(
            out.data
                .chunks_exact(4)
                .all(|p| p[0] == p[1] && p[1] == p[2] && p[3] == 0xff)
        );
        let (_, _, reference) = ppm("gray-64x48-q90.ref.ppm");
        assert!(psnr(&out.data, &reference) >= 40.0);
    }

    #[test]
    fn sizes_are_checked_before_decoding() {
        let jpeg = fixture("color-61x37-444-q95.jpg");
        assert_eq!(dimensions(&jpeg).unwrap(), (61, 37));
        let mut out = ImageBuf::new();
        assert!(matches!(
            decode_sized(&jpeg, 61, 38, &mut out),
            Err(CodecError::SizeMismatch { got_height: 37, .. })
        ));
        assert!(out.data.is_empty(), "nothing sized on a mismatch");
        assert!(matches!(
            decode_capped(&jpeg, 61 * 37 - 1, None, &mut out),
            Err(CodecError::TooLarge { .. })
        ));
        decode_sized(&jpeg, 61, 37, &mut out).unwrap();
        assert!(expect_size(CODEC, &out, 61, 37).is_ok());
        assert!(expect_size(CODEC, &out, 60, 37).is_err());
    }

    #[test]
    fn jpeg_alpha_honours_the_direction_flag() {
        use crate::codec::lz::LzType;
        use crate::codec::lz::encode::encode as lz_encode;
        let jpeg = fixture("color-61x37-444-q95.jpg");
        let (w, h) = (61u32, 37u32);
        // Alpha = 4·row + 1 in stream order.
        let plane: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |_| [0, 0, 0, (4 * y + 1) as u8]))
            .collect();
        let mut color = ImageBuf::new();
        decode(&jpeg, &mut color).unwrap();
        for top_down in [true, false] {
            let mut data = jpeg.clone();
            data.extend_from_slice(&lz_encode(LzType::Xxxa, w, h, top_down, &plane).unwrap());
            let flags = if top_down { JPEG_ALPHA_TOP_DOWN } else { 0 };
            let mut out = ImageBuf::new();
            decode_alpha(flags, jpeg.len() as u32, &data, &mut out).unwrap();
            assert!(out.has_alpha);
            assert_eq!((out.width, out.height), (w, h));
            for y in 0..h {
                let row = out.row(y).unwrap();
                let stream_row = if top_down { y } else { h - 1 - y };
                assert!(
                    row.chunks_exact(4).all(|p| u32::from(p[3]) == 4 * stream_row + 1),
                    "row {y}"
                );
                // Colour bytes are the JPEG's, always top-down.
                let c = color.row(y).unwrap();
                assert!(
                    row.chunks_exact(4)
                        .zip(c.chunks_exact(4))
                        .all(|(a, b)| a[..3] == b[..3])
                );
            }
            // The flag disagreeing with the plane's header is refused.
            let wrong = if top_down { 0 } else { JPEG_ALPHA_TOP_DOWN };
            assert!(decode_alpha(wrong, jpeg.len() as u32, &data, &mut out).is_err());
        }
    }

    #[test]
    fn hostile_row_26() {
        let jpeg = fixture("color-61x37-420-q95-progressive.jpg");
        let mut out = ImageBuf::new();
        // Truncated files and garbage. Like libjpeg, zune pads a file cut
        // inside the entropy-coded data and returns the partial image.
        for cut in [0, 1, 2, 20] {
            assert!(decode(&jpeg[..cut], &mut out).is_err(), "cut at {cut}");
        }
        if decode(&jpeg[..jpeg.len() / 2], &mut out).is_ok() {
            assert_eq!(out.data.len(), 61 * 37 * 4);
        }
        assert!(decode(&[0xff, 0xd8, 0xff, 0xd9], &mut out).is_err());
        // A SOF claiming 65535x65535 is refused from the header alone.
        let mut huge = fixture("color-61x37-444-q95.jpg");
        let sof = huge.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        huge[sof + 5..sof + 9].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(decode(&huge, &mut out).is_err());
        assert!(out.data.len() < 1 << 20);
        // JPEG_ALPHA: jpeg_size past the data, missing or bad alpha header,
        // direction flag disagreeing with the LZ header, size mismatch.
        let plain = fixture("color-61x37-444-q95.jpg");
        let n = plain.len() as u32;
        assert!(matches!(
            decode_alpha(0, n + 1, &plain, &mut out),
            Err(CodecError::Truncated { .. })
        ));
        assert!(matches!(
            decode_alpha(0, n, &plain, &mut out),
            Err(CodecError::Truncated { .. })
        ));
        let lz_header = |w: u32, h: u32, top_down: u32| {
            let mut v = plain.clone();
            for word in [LZ_MAGIC, 0x0001_0001, 8, w, h, w * 4, top_down] {
                v.extend_from_slice(&word.to_be_bytes());
            }
            v
        };
        let mut bad_magic = lz_header(61, 37, 1);
        bad_magic[plain.len()] ^= 1;
        assert!(decode_alpha(JPEG_ALPHA_TOP_DOWN, n, &bad_magic, &mut out).is_err());
        assert!(matches!(
            decode_alpha(0, n, &lz_header(61, 37, 1), &mut out),
            Err(CodecError::Invalid { .. })
        ));
        assert!(matches!(
            decode_alpha(JPEG_ALPHA_TOP_DOWN, n, &lz_header(60, 37, 1), &mut out),
            Err(CodecError::SizeMismatch { got_width: 60, .. })
        ));
        // A consistent header reaches the LZ alpha decoder, whose errors come back.
        assert!(decode_alpha(JPEG_ALPHA_TOP_DOWN, n, &lz_header(61, 37, 1), &mut out).is_err());
    }
}
