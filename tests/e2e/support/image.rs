//! RGB images: decoding PNG (via the `png` crate), PPM (P6) and XWD (what `xwd -root` writes) by
//! hand, writing PNG, pixel-exact comparison with optional masks, exact sub-image search and
//! PSNR.

use super::{HarnessError, Result, artifact_dir, io_err};
use std::fmt;
use std::fs;
use std::io::Cursor;
use std::path::Path;

/// 8-bit RGB pixels, row-major, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

/// A rectangle in pixels: `x..x+w`, `y..y+h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Rect { x, y, w, h }
    }

    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x - self.x < self.w && y - self.y < self.h
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        let right = (self.x + self.w).max(other.x + other.w);
        let bottom = (self.y + self.h).max(other.y + other.h);
        Rect {
            x,
            y,
            w: right - x,
            h: bottom - y,
        }
    }
}

impl fmt::Display for Rect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}+{}+{}", self.w, self.h, self.x, self.y)
    }
}

impl RgbImage {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// How many pixels have exactly this colour.
    pub fn count_color(&self, rgb: [u8; 3]) -> usize {
        self.data.chunks_exact(3).filter(|p| *p == rgb).count()
    }

    /// Loads a PNG or a binary PPM (P6), told apart by their magic bytes.
    pub fn load(path: &Path) -> Result<RgbImage> {
        let bytes = fs::read(path).map_err(io_err(format!("read image {}", path.display())))?;
        Self::decode(&bytes).map_err(|e| HarnessError::Image(format!("{}: {e}", path.display())))
    }

    pub fn decode(bytes: &[u8]) -> Result<RgbImage, String> {
        if bytes.starts_with(b"\x89PNG") {
            decode_png(bytes)
        } else if bytes.starts_with(b"P6") {
            decode_ppm(bytes)
        } else {
            Err(format!(
                "neither PNG nor binary PPM (starts with {:02x?})",
                &bytes[..bytes.len().min(8)]
            ))
        }
    }

    /// The `w`×`h` area at (`x`, `y`); `None` when it does not fit.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Option<RgbImage> {
        if x + w > self.width || y + h > self.height {
            return None;
        }
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for row in y..y + h {
            let start = ((row * self.width + x) * 3) as usize;
            data.extend_from_slice(&self.data[start..start + (w * 3) as usize]);
        }
        Some(RgbImage {
            width: w,
            height: h,
            data,
        })
    }

    pub fn save_png(&self, path: &Path) -> Result<()> {
        let file = fs::File::create(path).map_err(io_err(format!("create {}", path.display())))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| HarnessError::Image(format!("PNG header: {e}")))?;
        writer
            .write_image_data(&self.data)
            .map_err(|e| HarnessError::Image(format!("PNG data: {e}")))?;
        writer
            .finish()
            .map_err(|e| HarnessError::Image(format!("PNG finish: {e}")))
    }
}

fn decode_png(bytes: &[u8]) -> Result<RgbImage, String> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("PNG: {e}"))?;
    let channels = info.color_type.samples();
    let mut data = Vec::with_capacity(info.width as usize * info.height as usize * 3);
    for row in buf.chunks(info.line_size).take(info.height as usize) {
        for px in row[..info.width as usize * channels].chunks_exact(channels) {
            match channels {
                1 | 2 => data.extend_from_slice(&[px[0]; 3]),
                // Alpha is ignored: the screen has none, a client writing it must write 255.
                _ => data.extend_from_slice(&px[..3]),
            }
        }
    }
    Ok(RgbImage {
        width: info.width,
        height: info.height,
        data,
    })
}

fn decode_ppm(bytes: &[u8]) -> Result<RgbImage, String> {
    // "P6" <ws> width <ws> height <ws> maxval <one ws> data; '#' comments run to end of line.
    let mut pos = 2;
    let mut fields = [0u32; 3];
    for field in &mut fields {
        loop {
            match bytes.get(pos) {
                Some(b'#') => {
                    while bytes.get(pos).is_some_and(|&b| b != b'\n') {
                        pos += 1;
                    }
                }
                Some(b) if b.is_ascii_whitespace() => pos += 1,
                _ => break,
            }
        }
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        *field = std::str::from_utf8(&bytes[start..pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("PPM: bad header number at byte {start}"))?;
    }
    let [width, height, maxval] = fields;
    if maxval != 255 {
        return Err(format!("PPM: maxval {maxval} unsupported (only 255)"));
    }
    pos += 1; // the single whitespace byte after maxval
    let len = width as usize * height as usize * 3;
    let data = bytes
        .get(pos..pos + len)
        .ok_or_else(|| format!("PPM: {width}x{height} but data truncated"))?
        .to_vec();
    Ok(RgbImage { width, height, data })
}

/// Decodes an XWD dump (X Window Dump, version 7, ZPixmap, TrueColor/DirectColor) as written by
/// `xwd -root`. The header is always big-endian; pixels follow the header's byte order.
pub fn decode_xwd(bytes: &[u8]) -> Result<RgbImage, String> {
    let field = |i: usize| -> Result<u32, String> {
        bytes
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "XWD: truncated header".to_string())
    };
    let header_size = field(0)? as usize;
    let (version, format) = (field(1)?, field(2)?);
    let (width, height) = (field(4)?, field(5)?);
    let byte_order = field(7)?;
    let bits_per_pixel = field(11)?;
    let bytes_per_line = field(12)? as usize;
    let visual_class = field(13)?;
    let masks = [field(14)?, field(15)?, field(16)?];
    let ncolors = field(19)? as usize;
    if version != 7 || format != 2 {
        return Err(format!(
            "XWD: version {version} format {format} unsupported (want 7, ZPixmap=2)"
        ));
    }
    if visual_class != 4 && visual_class != 5 {
        return Err(format!(
            "XWD: visual class {visual_class} unsupported (want TrueColor/DirectColor)"
        ));
    }
    let bpp = match bits_per_pixel {
        16 | 24 | 32 => bits_per_pixel as usize / 8,
        other => return Err(format!("XWD: {other} bits per pixel unsupported")),
    };
    let data_start = header_size + ncolors * 12; // XWDColor is 12 bytes
    let need = data_start + bytes_per_line * height as usize;
    if bytes.len() < need || bytes_per_line < width as usize * bpp {
        return Err(format!("XWD: {} bytes, need {need} for {width}x{height}", bytes.len()));
    }
    // For each channel: shift to the mask's lowest bit, and the mask's maximum value.
    let channel = masks.map(|m| {
        (
            m.trailing_zeros().min(31),
            m.checked_shr(m.trailing_zeros()).unwrap_or(0),
        )
    });
    let mut data = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height as usize {
        let row = &bytes[data_start + y * bytes_per_line..];
        for px in row[..width as usize * bpp].chunks_exact(bpp) {
            let value = if byte_order == 0 {
                px.iter().rev().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
            } else {
                px.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
            };
            for (shift, max) in channel {
                let v = (value >> shift) & max;
                let scaled = if max == 0 {
                    0
                } else {
                    (u64::from(v) * 255 + u64::from(max) / 2) / u64::from(max)
                };
                data.push(scaled as u8);
            }
        }
    }
    Ok(RgbImage { width, height, data })
}

/// The result of comparing two images pixel for pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDiff {
    /// Both images have the same width and height (otherwise no pixel is compared).
    pub size_matches: bool,
    pub a_size: (u32, u32),
    pub b_size: (u32, u32),
    /// Pixels (outside the masks) whose RGB differ.
    pub differing: u64,
    /// Bounding box of the differing pixels.
    pub bbox: Option<Rect>,
    /// Pixels skipped because a mask covers them.
    pub masked: u64,
}

impl ImageDiff {
    pub fn is_identical(&self) -> bool {
        self.size_matches && self.differing == 0
    }
}

impl fmt::Display for ImageDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.size_matches {
            return write!(
                f,
                "size differs: {}x{} vs {}x{}",
                self.a_size.0, self.a_size.1, self.b_size.0, self.b_size.1
            );
        }
        write!(
            f,
            "{}x{}: {} differing pixels",
            self.a_size.0, self.a_size.1, self.differing
        )?;
        if let Some(bbox) = self.bbox {
            write!(f, " within {bbox}")?;
        }
        if self.masked > 0 {
            write!(f, " ({} masked pixels ignored)", self.masked)?;
        }
        Ok(())
    }
}

/// Compares pixel for pixel, ignoring pixels inside any of `mask` (e.g. a blinking text cursor).
pub fn compare_images(a: &RgbImage, b: &RgbImage, mask: &[Rect]) -> ImageDiff {
    let mut diff = ImageDiff {
        size_matches: a.width == b.width && a.height == b.height,
        a_size: (a.width, a.height),
        b_size: (b.width, b.height),
        differing: 0,
        bbox: None,
        masked: 0,
    };
    if !diff.size_matches {
        return diff;
    }
    for (i, (pa, pb)) in a.data.chunks_exact(3).zip(b.data.chunks_exact(3)).enumerate() {
        let (x, y) = ((i % a.width as usize) as u32, (i / a.width as usize) as u32);
        if mask.iter().any(|r| r.contains(x, y)) {
            diff.masked += 1;
            continue;
        }
        if pa != pb {
            diff.differing += 1;
            let px = Rect::new(x, y, 1, 1);
            diff.bbox = Some(diff.bbox.map_or(px, |b| b.union(&px)));
        }
    }
    diff
}

/// Loads two images (PNG or PPM each) and compares them, see [`compare_images`].
pub fn compare_png(a: &Path, b: &Path, mask: &[Rect]) -> Result<ImageDiff> {
    Ok(compare_images(&RgbImage::load(a)?, &RgbImage::load(b)?, mask))
}

/// Panics unless `actual` equals `expected` outside `mask`. On failure both images and a diff
/// picture (differing pixels red, masked ones blue) are saved under [`artifact_dir`]`(name)` and
/// the message names them.
pub fn assert_same_pixels(name: &str, actual: &RgbImage, expected: &RgbImage, mask: &[Rect]) {
    let diff = compare_images(actual, expected, mask);
    if diff.is_identical() {
        return;
    }
    let dir = artifact_dir(name);
    let saved = [("actual.png", actual), ("expected.png", expected)]
        .iter()
        .map(|(file, img)| match img.save_png(&dir.join(file)) {
            Ok(()) => dir.join(file).display().to_string(),
            Err(e) => format!("({file} not saved: {e})"),
        })
        .collect::<Vec<_>>();
    if diff.size_matches {
        let mut vis = expected.clone();
        for (i, (pa, pb)) in actual
            .data
            .chunks_exact(3)
            .zip(expected.data.chunks_exact(3))
            .enumerate()
        {
            let (x, y) = ((i % actual.width as usize) as u32, (i / actual.width as usize) as u32);
            if mask.iter().any(|r| r.contains(x, y)) {
                vis.data[i * 3..i * 3 + 3].copy_from_slice(&[0, 0, 255]);
            } else if pa != pb {
                vis.data[i * 3..i * 3 + 3].copy_from_slice(&[255, 0, 0]);
            }
        }
        let _ = vis.save_png(&dir.join("diff.png"));
    }
    panic!(
        "{name}: client image != server ground truth: {diff}; saved {}",
        saved.join(", ")
    );
}

/// Where `needle` appears in `hay` with every pixel equal.
pub fn find_exact(hay: &RgbImage, needle: &RgbImage) -> Option<(u32, u32)> {
    if needle.width == 0 || needle.height == 0 || needle.width > hay.width || needle.height > hay.height {
        return None;
    }
    let (hw, nw, nh) = (hay.width as usize, needle.width as usize, needle.height as usize);
    let row = nw * 3;
    let hay_row = |x: usize, y: usize| &hay.data[(y * hw + x) * 3..(y * hw + x) * 3 + row];
    let needle_row = |y: usize| &needle.data[y * row..(y + 1) * row];
    for oy in 0..=(hay.height - needle.height) as usize {
        for ox in 0..=(hay.width - needle.width) as usize {
            if (0..nh).all(|y| hay_row(ox, oy + y) == needle_row(y)) {
                return Some((ox as u32, oy as u32));
            }
        }
    }
    None
}

/// PSNR (dB) of `a` against `b` inside `r` (clipped to both images); infinite when equal.
pub fn psnr_in(a: &RgbImage, b: &RgbImage, r: Rect) -> f64 {
    let (mut se, mut n) = (0f64, 0f64);
    for y in r.y..(r.y + r.h).min(a.height).min(b.height) {
        for x in r.x..(r.x + r.w).min(a.width).min(b.width) {
            let (p, q) = (a.pixel(x, y), b.pixel(x, y));
            for c in 0..3 {
                let d = f64::from(p[c]) - f64::from(q[c]);
                se += d * d;
                n += 1.0;
            }
        }
    }
    if se == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / (se / n)).log10()
    }
}
