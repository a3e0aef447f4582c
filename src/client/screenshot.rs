//! Screenshots: one monitor's pixels copied out of a [`DisplayState`] as
//! packed RGB ([`RgbImage`]), and PNG files of them. `sumac-cli screenshot`,
//! `sumac-cli replay --screenshot` and the app's Screenshot menu item all use
//! these, so a monitor is cropped one way everywhere: its MONITORS_CONFIG
//! head clamped to its surface, or the whole primary surface when the
//! channel sent no monitor configuration.

use std::io::Write;
use std::path::Path;

use thiserror::Error;

use crate::display::{DisplayState, MonitorHead};

/// Packed 8-bit RGB pixels, row after row, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

/// Why no screenshot could be taken or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScreenshotError {
    #[error("no monitor {index} (the server shows {count})")]
    NoMonitor { index: usize, count: usize },
    #[error("monitor {index} (display channel {channel}) shows surface {surface}, which does not exist or is empty")]
    NoImage { index: usize, channel: u8, surface: u32 },
    #[error("cannot create {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot write {path} as PNG: {source}")]
    Png { path: String, source: png::EncodingError },
}

/// The monitors a display channel shows: its MONITORS_CONFIG heads, or, when
/// it sent none, one monitor showing the whole primary surface (if any).
fn heads(state: &DisplayState) -> Vec<Option<&MonitorHead>> {
    if state.monitors().is_empty() {
        state.primary().map(|_| None).into_iter().collect()
    } else {
        state.monitors().iter().map(Some).collect()
    }
}

/// Copies monitor `head` (or the whole primary surface when `head` is
/// `None`) out of `state`. `None` when its surface does not exist or the
/// head, clamped to the surface, is empty.
pub fn monitor_image(state: &DisplayState, head: Option<&MonitorHead>) -> Option<RgbImage> {
    let (surface, x, y, w, h) = match head {
        Some(h) => (state.surface(h.surface_id)?, h.x, h.y, h.width, h.height),
        None => {
            let (_, s) = state.primary()?;
            (s, 0, 0, s.width, s.height)
        }
    };
    crop_rgb(&surface.to_rgb(), surface.width, surface.height, (x, y, w, h))
}

/// Monitor `index` counted over the display channels in the order given (the
/// heads of the first channel first; see [`monitor_image`] for what a
/// monitor is).
pub fn nth_monitor_image(states: &[(u8, &DisplayState)], index: usize) -> Result<RgbImage, ScreenshotError> {
    let mut count = 0usize;
    for (channel, state) in states {
        for head in heads(state) {
            if count == index {
                let surface = head.map_or_else(|| state.primary().map_or(0, |(id, _)| id), |h| h.surface_id);
                return monitor_image(state, head).ok_or(ScreenshotError::NoImage {
                    index,
                    channel: *channel,
                    surface,
                });
            }
            count += 1;
        }
    }
    Err(ScreenshotError::NoMonitor { index, count })
}

/// Crops `(x, y, w, h)`, clamped to the `sw` × `sh` surface, out of its
/// packed RGB. `None` when nothing is left or `rgb` is shorter than claimed.
fn crop_rgb(rgb: &[u8], sw: u32, sh: u32, (x, y, w, h): (u32, u32, u32, u32)) -> Option<RgbImage> {
    let x = x.min(sw);
    let y = y.min(sh);
    let w = w.min(sw.checked_sub(x)?);
    let h = h.min(sh.checked_sub(y)?);
    if w == 0 || h == 0 {
        return None;
    }
    let row_bytes = usize::try_from(w).ok()?.checked_mul(3)?;
    let stride = usize::try_from(sw).ok()?.checked_mul(3)?;
    let mut data = Vec::with_capacity(row_bytes.checked_mul(usize::try_from(h).ok()?)?);
    for row in y..y.checked_add(h)? {
        let start = usize::try_from(row)
            .ok()?
            .checked_mul(stride)?
            .checked_add(usize::try_from(x).ok()?.checked_mul(3)?)?;
        data.extend_from_slice(rgb.get(start..start.checked_add(row_bytes)?)?);
    }
    Some(RgbImage {
        width: w,
        height: h,
        data,
    })
}

/// Encodes `image` as an 8-bit RGB PNG into `out`, with fast compression
/// (a screenshot is written once; zlib's default level costs several times
/// the time for a few percent of size).
pub fn encode_png(out: impl Write, image: &RgbImage) -> Result<(), png::EncodingError> {
    let mut enc = png::Encoder::new(out, image.width, image.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&image.data)?;
    writer.finish()
}

/// Encodes `image` as a binary PPM (P6, 8-bit RGB): no compression at all,
/// what `spicy-screenshot` writes.
pub fn encode_ppm(mut out: impl Write, image: &RgbImage) -> std::io::Result<()> {
    write!(out, "P6\n{} {}\n255\n", image.width, image.height)?;
    out.write_all(&image.data)
}

/// Writes `image` at `path` (replacing it): a binary PPM when the name ends
/// in `.ppm`, else a PNG.
pub fn write_image(path: &Path, image: &RgbImage) -> Result<(), ScreenshotError> {
    let is_ppm = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("ppm"));
    if !is_ppm {
        return write_png(path, image);
    }
    let name = || path.display().to_string();
    let file = std::fs::File::create(path).map_err(|source| ScreenshotError::Create { path: name(), source })?;
    let mut out = std::io::BufWriter::new(file);
    encode_ppm(&mut out, image)
        .and_then(|()| out.flush())
        .map_err(|source| ScreenshotError::Write { path: name(), source })
}

/// Writes `image` as a PNG file at `path` (replacing it).
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), ScreenshotError> {
    let name = || path.display().to_string();
    let file = std::fs::File::create(path).map_err(|source| ScreenshotError::Create { path: name(), source })?;
    let mut out = std::io::BufWriter::new(file);
    encode_png(&mut out, image).map_err(|source| ScreenshotError::Png { path: name(), source })?;
    out.flush().map_err(|source| ScreenshotError::Png {
        path: name(),
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Limits;
    use crate::proto::channel::display::{
        Brush, Clip, DisplayBase, DisplayServer, FillOp, QMask, Rect, SurfaceCreate, surface_flags, surface_fmt,
    };

    /// Test helper: applies a message that carries no image (nothing to prepare).
    trait ApplyPlain {
        fn apply_plain(&mut self, m: &DisplayServer);
    }
    impl ApplyPlain for DisplayState {
        fn apply_plain(&mut self, m: &DisplayServer) {
            self.apply(m, &mut crate::display::Prepared::default());
        }
    }

    /// A state with a primary 4×3 surface: black, with (1, 1) red and (2, 2) blue.
    fn state() -> DisplayState {
        let mut s = DisplayState::new(Limits::default());
        s.apply_plain(&DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: 0,
            width: 4,
            height: 3,
            format: surface_fmt::XRGB32,
            flags: surface_flags::PRIMARY,
        }));
        for (x, y, color) in [(1, 1, 0x00ff_0000), (2, 2, 0x0000_00ff)] {
            s.apply_plain(&DisplayServer::DrawFill {
                base: DisplayBase {
                    surface_id: 0,
                    bbox: Rect {
                        top: y,
                        left: x,
                        bottom: y + 1,
                        right: x + 1,
                    },
                    clip: Clip::None,
                },
                fill: FillOp {
                    brush: Brush::Solid(color),
                    rop_descriptor: crate::proto::channel::display::ropd::OP_PUT,
                    mask: QMask::default(),
                },
            });
        }
        s
    }

    fn head(monitor_id: u32, x: u32, y: u32, width: u32, height: u32) -> MonitorHead {
        MonitorHead {
            monitor_id,
            surface_id: 0,
            width,
            height,
            x,
            y,
            flags: 0,
        }
    }

    const BLACK: [u8; 3] = [0, 0, 0];
    const RED: [u8; 3] = [255, 0, 0];
    const BLUE: [u8; 3] = [0, 0, 255];

    #[test]
    fn crop_clamps_and_copies() {
        // 4x3 surface, pixel value = index.
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8).collect();
        let i = crop_rgb(&rgb, 4, 3, (1, 1, 2, 5)).unwrap();
        assert_eq!((i.width, i.height), (2, 2));
        assert_eq!(i.data, [15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32]);
        assert_eq!(crop_rgb(&rgb, 4, 3, (9, 0, 2, 2)), None);
        // A buffer shorter than the claimed size: no panic.
        assert_eq!(crop_rgb(&rgb[..10], 4, 3, (0, 0, 4, 3)), None);
    }

    #[test]
    fn the_primary_surface_without_monitors_config() {
        let s = state();
        let whole = monitor_image(&s, None).unwrap();
        assert_eq!((whole.width, whole.height), (4, 3));
        assert_eq!(whole.data[(4 + 1) * 3..(4 + 1) * 3 + 3], RED);
        assert_eq!(whole.data[(2 * 4 + 2) * 3..(2 * 4 + 2) * 3 + 3], BLUE);
        assert_eq!(nth_monitor_image(&[(0, &s)], 0).unwrap(), whole);
        let e = nth_monitor_image(&[(0, &s)], 1).unwrap_err();
        assert!(matches!(e, ScreenshotError::NoMonitor { index: 1, count: 1 }), "{e}");
        // No primary surface: no monitor at all.
        let empty = DisplayState::new(Limits::default());
        assert!(monitor_image(&empty, None).is_none());
        assert!(matches!(
            nth_monitor_image(&[(0, &empty)], 0),
            Err(ScreenshotError::NoMonitor { count: 0, .. })
        ));
    }

    #[test]
    fn monitors_are_heads_counted_over_channels() {
        let mut two = state();
        two.apply_plain(&DisplayServer::MonitorsConfig {
            max_allowed: 2,
            heads: vec![head(0, 0, 0, 2, 2), head(1, 2, 1, 5, 5)],
        });
        let first = state();
        // Channel 0 shows one monitor (its primary surface), channel 1 two heads.
        let states = [(0, &first), (1, &two)];
        let m1 = nth_monitor_image(&states, 1).unwrap();
        assert_eq!((m1.width, m1.height), (2, 2));
        assert_eq!(m1.data, [BLACK, BLACK, BLACK, RED].concat());
        // The second head, clamped to the 4x3 surface: x 2..4, y 1..3.
        let m2 = nth_monitor_image(&states, 2).unwrap();
        assert_eq!((m2.width, m2.height), (2, 2));
        assert_eq!(m2.data, [BLACK, BLACK, BLUE, BLACK].concat());
        assert_eq!(monitor_image(&two, Some(&head(1, 2, 1, 5, 5))), Some(m2));
        // A head on a surface that does not exist.
        let ghost = MonitorHead {
            surface_id: 9,
            ..head(0, 0, 0, 1, 1)
        };
        assert!(monitor_image(&two, Some(&ghost)).is_none());
        // A head entirely outside its surface.
        assert!(monitor_image(&two, Some(&head(0, 4, 0, 2, 2))).is_none());
        assert!(matches!(
            nth_monitor_image(&states, 3),
            Err(ScreenshotError::NoMonitor { index: 3, count: 3 })
        ));
    }

    #[test]
    fn png_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        let image = RgbImage {
            width: 2,
            height: 1,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        write_png(&path, &image).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (2, 1));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(&buf[..6], &image.data[..]);
        // A directory that does not exist: the error names the path.
        let e = write_png(&dir.path().join("no/such/dir.png"), &image).unwrap_err();
        assert!(matches!(e, ScreenshotError::Create { .. }));
        assert!(e.to_string().contains("dir.png"), "{e}");
    }

    #[test]
    fn ppm_by_extension_png_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let image = RgbImage {
            width: 2,
            height: 1,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let ppm = dir.path().join("s.PPM");
        write_image(&ppm, &image).unwrap();
        assert_eq!(std::fs::read(&ppm).unwrap(), b"P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06");
        let png_path = dir.path().join("s.png");
        write_image(&png_path, &image).unwrap();
        assert_eq!(&std::fs::read(&png_path).unwrap()[..4], b"\x89PNG");
        let e = write_image(&dir.path().join("no/such/dir.ppm"), &image).unwrap_err();
        assert!(e.to_string().contains("dir.ppm"), "{e}");
    }
}
