//! Scaling math of the [`Display`](super::Display) widget: where the guest
//! image lands in the widget, and the inverse mapping for input.
//!
//! Everything is computed in **device pixels** (logical widget pixels × the
//! surface scale factor) so that at HiDPI and fractional scales a zoom of
//! 100 % maps one guest pixel to exactly one device pixel (a crisp image).

/// Smallest zoom level, in percent.
pub const MIN_ZOOM: u32 = 10;
/// Largest zoom level, in percent.
pub const MAX_ZOOM: u32 = 400;

/// Inputs of the placement computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    /// Guest image (monitor) width in guest pixels.
    pub guest_width: u32,
    /// Guest image (monitor) height in guest pixels.
    pub guest_height: u32,
    /// Widget width in logical pixels.
    pub widget_width: f64,
    /// Widget height in logical pixels.
    pub widget_height: f64,
    /// Device pixels per logical pixel (1, 2, or fractional such as 1.25).
    pub scale_factor: f64,
    /// Fit the guest image into the widget, keeping its aspect ratio.
    pub fit: bool,
    /// With `fit`: never enlarge beyond 100 %.
    pub only_downscale: bool,
    /// Without `fit`: zoom level in percent, clamped to [`MIN_ZOOM`]..=[`MAX_ZOOM`].
    pub zoom_percent: u32,
}

/// Where the guest image is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Destination rectangle in device pixels, relative to the widget's origin.
    pub device_x: i64,
    /// See `device_x`.
    pub device_y: i64,
    /// Destination width in device pixels (≥ 1).
    pub device_width: i64,
    /// Destination height in device pixels (≥ 1).
    pub device_height: i64,
    /// Device pixels per logical pixel (copied from the viewport).
    pub scale_factor: f64,
    /// Guest size the placement was computed for.
    pub guest_width: u32,
    /// See `guest_width`.
    pub guest_height: u32,
}

impl Placement {
    /// Destination rectangle in logical widget pixels: (x, y, width, height).
    pub fn logical_rect(&self) -> (f64, f64, f64, f64) {
        let s = self.scale_factor;
        (
            self.device_x as f64 / s,
            self.device_y as f64 / s,
            self.device_width as f64 / s,
            self.device_height as f64 / s,
        )
    }

    /// Whether one guest pixel is exactly one device pixel (draw with nearest filtering).
    pub fn is_one_to_one(&self) -> bool {
        i64::from(self.guest_width) == self.device_width && i64::from(self.guest_height) == self.device_height
    }

    /// Device pixels per guest pixel, horizontally and vertically.
    pub fn factors(&self) -> (f64, f64) {
        (
            self.device_width as f64 / f64::from(self.guest_width.max(1)),
            self.device_height as f64 / f64::from(self.guest_height.max(1)),
        )
    }

    /// Maps a point in logical widget coordinates to the guest pixel under
    /// it, or `None` outside the guest image.
    pub fn widget_to_guest(&self, x: f64, y: f64) -> Option<(i32, i32)> {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let dx = snap_to_device_pixel(x * self.scale_factor - self.device_x as f64);
        let dy = snap_to_device_pixel(y * self.scale_factor - self.device_y as f64);
        if dx < 0.0 || dy < 0.0 || dx >= self.device_width as f64 || dy >= self.device_height as f64 {
            return None;
        }
        let (fx, fy) = self.factors();
        let gx = (dx / fx).floor();
        let gy = (dy / fy).floor();
        let gx = gx.min(f64::from(self.guest_width.saturating_sub(1)));
        let gy = gy.min(f64::from(self.guest_height.saturating_sub(1)));
        // In range 0..guest size (u32 checked above, guest sizes are ≤ 16384).
        Some((i32::try_from(gx as i64).ok()?, i32::try_from(gy as i64).ok()?))
    }

    /// Maps a guest position (pixels, may be fractional) to logical widget coordinates.
    pub fn guest_to_widget(&self, gx: f64, gy: f64) -> (f64, f64) {
        let (fx, fy) = self.factors();
        (
            (gx * fx + self.device_x as f64) / self.scale_factor,
            (gy * fy + self.device_y as f64) / self.scale_factor,
        )
    }
}

/// How close (in device pixels) a position must be to a whole device pixel
/// to be taken as that pixel.
const DEVICE_PIXEL_SNAP: f64 = 1.0 / 256.0;

/// GTK translates event positions to widget coordinates in single precision
/// (graphene), so at scale 2 the pointer on device pixel 450 can reach the
/// widget as 224.99998 logical, i.e. device pixel 449.99996, which would
/// floor to the guest pixel above. Positions within [`DEVICE_PIXEL_SNAP`] of a
/// whole device pixel are that pixel.
fn snap_to_device_pixel(v: f64) -> f64 {
    let r = v.round();
    if (v - r).abs() < DEVICE_PIXEL_SNAP { r } else { v }
}

/// Clamps a zoom level to the supported range.
pub fn clamp_zoom(percent: u32) -> u32 {
    percent.clamp(MIN_ZOOM, MAX_ZOOM)
}

/// Computes where the guest image goes; `None` when there is nothing to
/// show (empty guest or widget, or a non-finite/non-positive scale).
///
/// The image is centred in the widget; a zoom larger than the widget is
/// scaled down to fit it (keeping the aspect ratio).
pub fn place(v: &Viewport) -> Option<Placement> {
    if v.guest_width == 0 || v.guest_height == 0 {
        return None;
    }
    if !(v.scale_factor.is_finite() && v.scale_factor > 0.0) {
        return None;
    }
    if !(v.widget_width.is_finite() && v.widget_height.is_finite()) {
        return None;
    }
    let avail_w = (v.widget_width * v.scale_factor).round();
    let avail_h = (v.widget_height * v.scale_factor).round();
    if avail_w < 1.0 || avail_h < 1.0 {
        return None;
    }
    let gw = f64::from(v.guest_width);
    let gh = f64::from(v.guest_height);
    let fit_factor = (avail_w / gw).min(avail_h / gh);
    let factor = if v.fit {
        if v.only_downscale {
            fit_factor.min(1.0)
        } else {
            fit_factor
        }
    } else {
        // The zoom, unless the widget is smaller: then the whole guest, scaled down.
        (f64::from(clamp_zoom(v.zoom_percent)) / 100.0).min(fit_factor)
    };
    // Snap to exactly 1:1 when within half a device pixel of it over the
    // whole image: a window of the guest's size must be crisp. Widgets are
    // sized in whole logical pixels, so at scale `s` the natural size of a
    // guest whose size is not a multiple of `s` is up to `s` − 1 device
    // pixels larger: enlarging to fit by less than one logical pixel also
    // snaps to 1:1 (the rest is a thin border).
    let growth = (factor - 1.0) * gw.max(gh);
    let snap = growth.abs() < 0.5 || (v.fit && growth >= 0.0 && growth < v.scale_factor);
    let (dw, dh) = if snap {
        (gw, gh)
    } else {
        ((gw * factor).round().max(1.0), (gh * factor).round().max(1.0))
    };
    let dx = ((avail_w - dw) / 2.0).floor().max(0.0);
    let dy = ((avail_h - dh) / 2.0).floor().max(0.0);
    Some(Placement {
        device_x: dx as i64,
        device_y: dy as i64,
        device_width: dw as i64,
        device_height: dh as i64,
        scale_factor: v.scale_factor,
        guest_width: v.guest_width,
        guest_height: v.guest_height,
    })
}

/// The size (logical pixels) the widget asks for: the guest image at the
/// zoom level (100 % in fit mode) in device pixels, divided by the scale.
pub fn natural_size(
    guest_width: u32,
    guest_height: u32,
    fit: bool,
    zoom_percent: u32,
    scale_factor: f64,
) -> (i32, i32) {
    let zoom = if fit { 100 } else { clamp_zoom(zoom_percent) };
    let s = if scale_factor.is_finite() && scale_factor > 0.0 {
        scale_factor
    } else {
        1.0
    };
    let f = f64::from(zoom) / 100.0 / s;
    let w = (f64::from(guest_width) * f).ceil().clamp(0.0, f64::from(i32::MAX));
    let h = (f64::from(guest_height) * f).ceil().clamp(0.0, f64::from(i32::MAX));
    (w as i32, h as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(gw: u32, gh: u32, ww: f64, wh: f64) -> Viewport {
        Viewport {
            guest_width: gw,
            guest_height: gh,
            widget_width: ww,
            widget_height: wh,
            scale_factor: 1.0,
            fit: true,
            only_downscale: false,
            zoom_percent: 100,
        }
    }

    #[test]
    fn fit_keeps_aspect_and_centres() {
        let p = place(&vp(1024, 768, 2048.0, 2000.0)).unwrap();
        assert_eq!((p.device_width, p.device_height), (2048, 1536));
        assert_eq!((p.device_x, p.device_y), (0, 232));
        assert!(!p.is_one_to_one());
        let p = place(&vp(1024, 768, 512.0, 768.0)).unwrap();
        assert_eq!(
            (p.device_x, p.device_y, p.device_width, p.device_height),
            (0, 192, 512, 384)
        );
    }

    #[test]
    fn window_of_guest_size_is_one_to_one() {
        let p = place(&vp(1024, 768, 1024.0, 768.0)).unwrap();
        assert!(p.is_one_to_one());
        assert_eq!((p.device_x, p.device_y), (0, 0));
        // One logical pixel narrower in height still fits at < 1 (no snap across the whole image).
        let p = place(&vp(1024, 768, 1024.0, 767.0)).unwrap();
        assert!(!p.is_one_to_one());
    }

    #[test]
    fn only_downscale_never_enlarges() {
        let mut v = vp(800, 600, 1600.0, 1200.0);
        v.only_downscale = true;
        let p = place(&v).unwrap();
        assert!(p.is_one_to_one());
        assert_eq!((p.device_x, p.device_y), (400, 300));
        v.widget_width = 400.0;
        let p = place(&v).unwrap();
        assert_eq!((p.device_width, p.device_height), (400, 300));
    }

    #[test]
    fn zoom_levels_are_clamped() {
        let mut v = vp(100, 50, 1000.0, 1000.0);
        v.fit = false;
        v.zoom_percent = 250;
        let p = place(&v).unwrap();
        assert_eq!((p.device_width, p.device_height), (250, 125));
        v.zoom_percent = 1;
        assert_eq!(place(&v).unwrap().device_width, 10);
        v.zoom_percent = 1000;
        assert_eq!(place(&v).unwrap().device_width, 400);
        assert_eq!(clamp_zoom(0), MIN_ZOOM);
        assert_eq!(clamp_zoom(u32::MAX), MAX_ZOOM);
    }

    #[test]
    fn zoom_larger_than_widget_scales_down_to_fit() {
        let mut v = vp(100, 50, 50.0, 50.0);
        v.fit = false;
        v.zoom_percent = 200;
        let p = place(&v).unwrap();
        assert_eq!(
            (p.device_x, p.device_y, p.device_width, p.device_height),
            (0, 12, 50, 25)
        );
        // A widget larger than the zoom: the zoom, centred.
        v.widget_width = 500.0;
        v.widget_height = 300.0;
        let p = place(&v).unwrap();
        assert_eq!(
            (p.device_x, p.device_y, p.device_width, p.device_height),
            (150, 100, 200, 100)
        );
    }

    #[test]
    fn hidpi_integer_scale_maps_guest_pixels_to_device_pixels() {
        let mut v = vp(1024, 768, 512.0, 384.0);
        v.scale_factor = 2.0;
        let p = place(&v).unwrap();
        assert!(p.is_one_to_one());
        assert_eq!(p.logical_rect(), (0.0, 0.0, 512.0, 384.0));
        assert_eq!(p.widget_to_guest(0.25, 0.25), Some((0, 0)));
        assert_eq!(p.widget_to_guest(0.5, 0.5), Some((1, 1)));
        assert_eq!(p.widget_to_guest(511.9, 383.9), Some((1023, 767)));
        assert_eq!(natural_size(1024, 768, true, 100, 2.0), (512, 384));
    }

    #[test]
    fn fractional_scale_is_crisp_at_guest_size() {
        let mut v = vp(1000, 800, 800.0, 640.0);
        v.scale_factor = 1.25;
        let p = place(&v).unwrap();
        assert!(p.is_one_to_one());
        assert_eq!(natural_size(1000, 800, false, 100, 1.25), (800, 640));
        assert_eq!(p.widget_to_guest(799.9, 639.9), Some((999, 799)));
    }

    #[test]
    fn natural_size_shows_the_guest_one_to_one_at_any_scale() {
        // The widget at its natural size (what a window sized to the guest
        // gives it) must show every guest pixel as one device pixel, in fit
        // mode and at 100 % zoom, also when the guest size is not a multiple
        // of the scale.
        for scale in [1.0, 1.25, 1.5, 2.0, 3.0] {
            for (gw, gh) in [
                (1024, 768),
                (1025, 769),
                (800, 601),
                (1, 1),
                (3, 5),
                (1366, 768),
                (1917, 1079),
            ] {
                for fit in [true, false] {
                    let (w, h) = natural_size(gw, gh, fit, 100, scale);
                    let v = Viewport {
                        guest_width: gw,
                        guest_height: gh,
                        widget_width: f64::from(w),
                        widget_height: f64::from(h),
                        scale_factor: scale,
                        fit,
                        only_downscale: false,
                        zoom_percent: 100,
                    };
                    let p = place(&v).unwrap();
                    assert!(p.is_one_to_one(), "{gw}x{gh} at scale {scale}, fit {fit}: {p:?}");
                    // Every guest pixel centre maps back to itself.
                    for (gx, gy) in [(0, 0), (gw - 1, gh - 1), (gw / 2, gh / 3)] {
                        let (x, y) = p.guest_to_widget(f64::from(gx) + 0.5, f64::from(gy) + 0.5);
                        let want = (i32::try_from(gx).unwrap(), i32::try_from(gy).unwrap());
                        assert_eq!(p.widget_to_guest(x, y), Some(want), "{gw}x{gh} at {scale}");
                    }
                }
            }
        }
    }

    #[test]
    fn odd_guest_at_scale_two_snaps_but_a_real_enlargement_does_not() {
        // 1025x769 at scale 2: the natural widget is 513x385 logical = 1026x770 device.
        let mut v = vp(1025, 769, 513.0, 385.0);
        v.scale_factor = 2.0;
        let p = place(&v).unwrap();
        assert!(p.is_one_to_one());
        assert_eq!((p.device_x, p.device_y), (0, 0));
        // Device pixel 2k+1 of a click (logical k + 0.5) is guest pixel 2k+1.
        assert_eq!(p.widget_to_guest(75.5, 85.5), Some((151, 171)));
        assert_eq!(p.widget_to_guest(512.4, 384.4), Some((1024, 768)));
        assert_eq!(p.widget_to_guest(512.6, 384.6), None, "the one-device-pixel border");
        // One logical pixel more than the natural size on an even guest: fit enlarges.
        let mut v = vp(1024, 768, 513.0, 385.0);
        v.scale_factor = 2.0;
        assert!(!place(&v).unwrap().is_one_to_one());
        // Without fit, 100 % stays 1:1 and centred in the larger widget.
        v.fit = false;
        let p = place(&v).unwrap();
        assert!(p.is_one_to_one());
        assert_eq!((p.device_x, p.device_y), (1, 1));
        // Fit never snaps a guest that does not fit (that would crop it).
        let mut v = vp(1025, 769, 512.0, 384.0);
        v.scale_factor = 2.0;
        assert!(!place(&v).unwrap().is_one_to_one());
    }

    #[test]
    fn single_precision_event_positions_map_to_the_pixel_under_the_pointer() {
        // Guest 1024x768 at scale 2 in a 522x441 logical window whose display
        // widget starts 52 logical pixels down: GTK hands the widget
        // f32 arithmetic results such as 24.999998 for device row 50.
        let mut v = vp(1024, 768, 512.0, 384.0);
        v.scale_factor = 2.0;
        let p = place(&v).unwrap();
        for device_y in [0u16, 1, 50, 200, 450, 451, 455, 500, 767] {
            let exact = f32::from(device_y) / 2.0;
            for y in [
                exact,
                f32::from_bits(exact.to_bits().saturating_sub(1)),
                exact + f32::EPSILON * exact,
            ] {
                let got = p.widget_to_guest(10.0, f64::from(y));
                assert_eq!(got, Some((20, i32::from(device_y))), "device row {device_y} as {y}");
            }
        }
        // Half a device pixel is not snapped: the pixel under it is meant.
        assert_eq!(p.widget_to_guest(10.0, 25.2), Some((20, 50)));
        assert_eq!(p.widget_to_guest(10.0, 24.8), Some((20, 49)));
        // Just outside stays outside.
        assert_eq!(p.widget_to_guest(10.0, -0.01), None);
    }

    #[test]
    fn inverse_mapping_round_trips_and_rejects_outside() {
        let p = place(&vp(1024, 768, 2048.0, 2000.0)).unwrap();
        for (gx, gy) in [(0, 0), (1, 1), (511, 400), (1023, 767)] {
            let (wx, wy) = p.guest_to_widget(f64::from(gx) + 0.5, f64::from(gy) + 0.5);
            assert_eq!(p.widget_to_guest(wx, wy), Some((gx, gy)));
        }
        assert_eq!(p.widget_to_guest(10.0, 100.0), None, "in the top letterbox");
        assert_eq!(p.widget_to_guest(10.0, 1999.0), None, "in the bottom letterbox");
        assert_eq!(p.widget_to_guest(-1.0, 500.0), None);
        assert_eq!(p.widget_to_guest(f64::NAN, 500.0), None);
    }

    #[test]
    fn degenerate_inputs_place_nothing() {
        assert!(place(&vp(0, 768, 100.0, 100.0)).is_none());
        assert!(place(&vp(10, 10, 0.0, 100.0)).is_none());
        let mut v = vp(10, 10, 100.0, 100.0);
        v.scale_factor = 0.0;
        assert!(place(&v).is_none());
        v.scale_factor = f64::NAN;
        assert!(place(&v).is_none());
        v.scale_factor = 1.0;
        v.widget_width = f64::INFINITY;
        assert!(place(&v).is_none());
    }
}
