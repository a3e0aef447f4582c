//! Unit tests of the display state: surfaces, state messages, and helpers
//! shared by the drawing tests.
#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod bitmaps;
mod budget;
mod draws;
mod images;
mod journal;
mod ops;
mod packed;
mod prepare;

use super::*;
use crate::proto::channel::display::{
    Bitmap, Brush, Clip, CopyOp, FillOp, Head, Image, ImageDescriptor, ImageKind, Palette, PaletteRef, QMask, Rect,
    image_type, surface_fmt,
};

pub(super) const RED: u32 = 0x00ff_0000;
pub(super) const GREEN: u32 = 0x0000_ff00;
pub(super) const BLUE: u32 = 0x0000_00ff;

pub(super) fn create(id: u32, w: u32, h: u32, format: u32, flags: u32) -> DisplayServer {
    DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: id,
        width: w,
        height: h,
        format,
        flags,
    })
}

/// A state with one primary xRGB surface `id` of `w`×`h`.
pub(super) fn state(id: u32, w: u32, h: u32) -> Pipeline {
    let mut s = Pipeline::new(Limits::default());
    let ev = s.handle(&create(id, w, h, surface_fmt::XRGB32, surface_flags::PRIMARY));
    assert!(matches!(ev[..], [DisplayEvent::SurfaceCreated { .. }]), "{ev:?}");
    s
}

pub(super) fn base(id: u32, bbox: Rect, clip: Clip) -> DisplayBase {
    DisplayBase {
        surface_id: id,
        bbox,
        clip,
    }
}

pub(super) fn fill(id: u32, bbox: Rect, clip: Clip, color: u32, rop: u16) -> DisplayServer {
    DisplayServer::DrawFill {
        base: base(id, bbox, clip),
        fill: FillOp {
            brush: Brush::Solid(color),
            rop_descriptor: rop,
            mask: QMask::default(),
        },
    }
}

pub(super) fn put(id: u32, bbox: Rect, color: u32) -> DisplayServer {
    fill(id, bbox, Clip::None, color, ropd::OP_PUT)
}

pub(super) fn bitmap(format: u8, flags: u8, w: u32, h: u32, stride: u32, palette: PaletteRef, data: Vec<u8>) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id: 1,
            image_type: image_type::BITMAP,
            flags: 0,
            width: w,
            height: h,
        },
        kind: ImageKind::Bitmap(Bitmap {
            format,
            flags,
            width: w,
            height: h,
            stride,
            palette,
            data,
        }),
    }
}

pub(super) fn inline_palette(entries: &[u32]) -> PaletteRef {
    PaletteRef::Inline(Palette {
        unique: 77,
        entries: entries.to_vec(),
    })
}

pub(super) fn copy(id: u32, bbox: Rect, src_area: Rect, image: Option<Image>, rop: u16) -> DisplayServer {
    DisplayServer::DrawCopy {
        base: base(id, bbox, Clip::None),
        copy: CopyOp {
            src_bitmap: image,
            src_area,
            rop_descriptor: rop,
            scale_mode: 0,
            mask: QMask::default(),
        },
    }
}

/// The stored B,G,R,A bytes of a pixel.
pub(super) fn px(s: &DisplayState, id: u32, x: u32, y: u32) -> [u8; 4] {
    s.surface(id).unwrap().pixel(x, y).unwrap()
}

/// An xRGB colour as the bytes a copy stores (opaque).
pub(super) fn opaque(c: u32) -> [u8; 4] {
    let [b, g, r, _] = c.to_le_bytes();
    [b, g, r, 0xff]
}

pub(super) fn errors(ev: &[DisplayEvent]) -> Vec<&'static str> {
    ev.iter()
        .filter_map(|e| match e {
            DisplayEvent::Error(e) => Some(e.kind()),
            _ => None,
        })
        .collect()
}

#[test]
fn create_primary_and_query() {
    let mut s = Pipeline::new(Limits::default());
    let ev = s.handle(&create(7, 3, 2, surface_fmt::XRGB32, surface_flags::PRIMARY));
    assert_eq!(
        ev,
        [DisplayEvent::SurfaceCreated {
            id: 7,
            width: 3,
            height: 2,
            format: SurfaceFormat::Xrgb32,
            primary: true,
        }]
    );
    let (id, p) = s.primary().unwrap();
    assert_eq!((id, p.width, p.height, p.primary), (7, 3, 2, true));
    assert_eq!(p.stride(), 12);
    assert_eq!(p.pixels_bgra().len(), 24);
    assert_eq!(p.to_rgb(), vec![0; 18]);
    assert_eq!(s.total_bytes(), 24);
    s.handle(&put(7, Rect::ltrb(1, 0, 2, 1), 0x0011_2233));
    let rgb = s.surface(7).unwrap().to_rgb();
    assert_eq!(&rgb[3..6], &[0x11, 0x22, 0x33]);
    assert_eq!(&rgb[..3], &[0, 0, 0]);
}

#[test]
fn surface_too_large_keeps_channel_usable() {
    let mut s = Pipeline::new(Limits::default());
    for (w, h) in [
        (65535, 65535),
        (0x4000_0001, 1),
        (1, 0x4000_0001),
        (16385, 1),
        (16384, 16385),
    ] {
        let ev = s.handle(&create(1, w, h, surface_fmt::XRGB32, surface_flags::PRIMARY));
        assert_eq!(errors(&ev), ["surface_too_large"], "{w}x{h}");
    }
    // per-surface byte cap below the dimension cap
    let mut small = Pipeline::new(Limits {
        max_surface_bytes: 4 * 100,
        ..Limits::default()
    });
    assert_eq!(
        errors(&small.handle(&create(1, 11, 10, surface_fmt::XRGB32, 0))),
        ["surface_too_large"]
    );
    assert!(errors(&small.handle(&create(1, 10, 10, surface_fmt::XRGB32, 0))).is_empty());
    assert_eq!(s.stats().errors_of("surface_too_large"), 5);
    assert!(s.surface(1).is_none() && s.total_bytes() == 0);
    assert!(errors(&s.handle(&create(1, 8, 8, surface_fmt::XRGB32, surface_flags::PRIMARY))).is_empty());
    assert_eq!(s.primary().unwrap().0, 1);
}

#[test]
fn empty_and_bad_format() {
    let mut s = Pipeline::new(Limits::default());
    assert_eq!(
        errors(&s.handle(&create(1, 0, 5, surface_fmt::XRGB32, 0))),
        ["surface_empty"]
    );
    assert_eq!(errors(&s.handle(&create(1, 5, 5, 33, 0))), ["bad_surface_format"]);
    assert_eq!(s.surface_ids().count(), 0);
}

#[test]
fn duplicate_surface_is_rejected_not_replaced() {
    let mut s = state(1, 4, 4);
    s.handle(&put(1, Rect::ltrb(0, 0, 4, 4), RED));
    let ev = s.handle(&create(1, 8, 8, surface_fmt::XRGB32, surface_flags::PRIMARY));
    assert_eq!(errors(&ev), ["duplicate_surface"]);
    let surf = s.surface(1).unwrap();
    assert_eq!((surf.width, surf.height), (4, 4));
    assert_eq!(px(&s, 1, 3, 3), RED.to_le_bytes());
    assert_eq!(s.total_bytes(), 64);
}

#[test]
fn total_budget() {
    let mut s = Pipeline::new(Limits {
        max_total_bytes: 1000,
        ..Limits::default()
    });
    assert!(errors(&s.handle(&create(1, 10, 10, surface_fmt::XRGB32, surface_flags::PRIMARY))).is_empty());
    assert!(errors(&s.handle(&create(2, 10, 10, surface_fmt::XRGB32, 0))).is_empty());
    assert_eq!(
        errors(&s.handle(&create(3, 10, 10, surface_fmt::XRGB32, 0))),
        ["surface_budget"]
    );
    // a new primary may reuse the old primary's budget
    let ev = s.handle(&create(4, 12, 10, surface_fmt::XRGB32, surface_flags::PRIMARY));
    assert_eq!(ev[0], DisplayEvent::SurfaceDestroyed { id: 1 });
    assert!(matches!(
        ev[1],
        DisplayEvent::SurfaceCreated {
            id: 4,
            primary: true,
            ..
        }
    ));
    assert_eq!(s.total_bytes(), 880);
    s.handle(&DisplayServer::SurfaceDestroy { surface_id: 2 });
    assert!(errors(&s.handle(&create(3, 10, 10, surface_fmt::XRGB32, 0))).is_empty());
    assert_eq!(s.total_bytes(), 880);
}

#[test]
fn destroy() {
    let mut s = state(0, 2, 2);
    assert_eq!(
        errors(&s.handle(&DisplayServer::SurfaceDestroy { surface_id: 5 })),
        ["no_such_surface"]
    );
    let ev = s.handle(&DisplayServer::SurfaceDestroy { surface_id: 0 });
    assert_eq!(ev, [DisplayEvent::SurfaceDestroyed { id: 0 }]);
    assert!(s.primary().is_none());
    assert_eq!(s.total_bytes(), 0);
    // drawing to it now is dropped and counted
    assert_eq!(
        errors(&s.handle(&put(0, Rect::ltrb(0, 0, 1, 1), RED))),
        ["no_such_surface"]
    );
    assert_eq!(s.stats().draws_dropped, 1);
}

#[test]
fn mode_creates_a_primary() {
    let mut s = Pipeline::new(Limits::default());
    let ev = s.handle(&DisplayServer::Mode {
        x_res: 640,
        y_res: 480,
        bits: 16,
    });
    assert!(matches!(
        ev[..],
        [DisplayEvent::SurfaceCreated {
            id: 0,
            width: 640,
            height: 480,
            format: SurfaceFormat::Rgb555,
            primary: true
        }]
    ));
}

#[test]
fn mark_reset_and_palettes() {
    let mut s = state(0, 2, 1);
    s.handle(&put(0, Rect::ltrb(0, 0, 2, 1), RED));
    assert_eq!(s.handle(&DisplayServer::Mark), [DisplayEvent::Mark]);
    assert!(s.is_marked());
    // cache a palette, then RESET drops it and clears the primary
    let img = bitmap(
        bitmap_fmt_8(),
        crate::proto::channel::display::bitmap_flags::PAL_CACHE_ME,
        1,
        1,
        1,
        inline_palette(&[GREEN]),
        vec![0],
    );
    s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 1, 1),
        Rect::ltrb(0, 0, 1, 1),
        Some(img),
        ropd::OP_PUT,
    ));
    assert_eq!(s.decoder().palettes.len(), 1);
    let ev = s.handle(&DisplayServer::Reset);
    assert_eq!(ev[0], DisplayEvent::Reset);
    assert_eq!(
        ev[1],
        DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 2, 1)
        }
    );
    assert!(!s.is_marked());
    assert_eq!(s.decoder().palettes.len(), 0);
    assert_eq!(px(&s, 0, 1, 0), [0; 4]);
    assert!(s.surface(0).is_some());
}

fn bitmap_fmt_8() -> u8 {
    crate::proto::channel::display::bitmap_fmt::BIT8
}

#[test]
fn monitors_config() {
    let mut s = state(0, 2, 2);
    let head = |id| Head {
        monitor_id: id,
        surface_id: 0,
        width: 2,
        height: 2,
        x: 0,
        y: 0,
        flags: 0,
    };
    let ev = s.handle(&DisplayServer::MonitorsConfig {
        max_allowed: 2,
        heads: vec![head(0), head(1), head(2)],
    });
    assert_eq!(ev, [DisplayEvent::MonitorsConfig(vec![head(0), head(1)])]);
    assert_eq!(s.monitors(), [head(0), head(1)]);
    assert_eq!(s.monitors_max(), 2);
    // empty lists are ignored, max_allowed 0 is clamped to 1
    assert!(
        s.handle(&DisplayServer::MonitorsConfig {
            max_allowed: 4,
            heads: vec![]
        })
        .is_empty()
    );
    s.handle(&DisplayServer::MonitorsConfig {
        max_allowed: 0,
        heads: vec![head(5), head(6)],
    });
    assert_eq!(s.monitors(), [head(5)]);
    assert_eq!(s.monitors_max(), 1);
}

#[test]
fn unknown_and_unsupported_are_counted() {
    let mut s = state(0, 2, 2);
    assert!(
        s.handle(&DisplayServer::Unknown {
            msg_type: 999,
            data: vec![]
        })
        .is_empty()
    );
    let ev = s.handle(&DisplayServer::Unparsed {
        msg_type: msg::DRAW_TEXT,
        data: vec![1, 2, 3],
    });
    assert_eq!(errors(&ev), ["unsupported_draw_op"]);
    let ev = s.handle(&DisplayServer::Unparsed {
        msg_type: msg::STREAM_CREATE,
        data: vec![],
    });
    assert_eq!(errors(&ev), ["unsupported_message"]);
    assert!(s.handle(&DisplayServer::StreamDestroyAll).is_empty());
    assert!(s.handle(&DisplayServer::InvalAllPalettes).is_empty());
    let ev = s.record_decode_error(msg::DRAW_COPY, DecodeError::Overflow { what: "test" });
    assert!(matches!(ev, DisplayEvent::Error(DisplayError::Decode { .. })));
    let st = s.stats();
    assert_eq!(st.unknown_messages, 1);
    assert_eq!(st.draws_dropped, 2);
    assert_eq!(st.errors_of("decode"), 1);
    assert_eq!(st.total_errors(), 3);
    assert_eq!(st.messages, 7);
}

/// Hand-rolled xorshift so the tests stay deterministic without dependencies.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo) as u64) as i32
    }
}

/// Random bytes through the decoder and into the state: nothing panics, and
/// the surface never changes size.
#[test]
fn random_messages_never_panic() {
    use crate::proto::base::Message;
    let mut s = state(0, 16, 16);
    s.handle(&create(1, 5, 3, surface_fmt::RGB16_555, 0));
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let templates = [
        fill(
            0,
            Rect::ltrb(-3, 2, 20, 9),
            Clip::Rects(vec![Rect::ltrb(0, 0, 5, 5)]),
            RED,
            ropd::OP_XOR,
        ),
        copy(
            1,
            Rect::ltrb(-1, -1, 9, 4),
            Rect::ltrb(0, 0, 3, 3),
            Some(bitmap(1, 4, 3, 3, 1, inline_palette(&[1, 2]), vec![0xff; 3])),
            ropd::OP_PUT,
        ),
        DisplayServer::CopyBits {
            base: base(0, Rect::ltrb(0, 0, 8, 8), Clip::Rects(vec![Rect::ltrb(1, 1, 3, 3); 3])),
            src_pos: Point { x: 2, y: -1 },
        },
    ];
    for t in &templates {
        let body = t.to_body();
        for _ in 0..3000 {
            let mut b = body.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            if let Ok(m) = DisplayServer::decode(t.msg_type(), &b) {
                s.handle(&m);
            }
        }
    }
    assert_eq!(s.surface(0).unwrap().pixels_bgra().len(), 16 * 16 * 4);
    assert!(s.stats().draws_applied > 0);
}
