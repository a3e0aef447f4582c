//! `canvas` oracle (hostile-inputs rows 16, 17): arbitrary bytes decoded as a sequence of
//! display messages and applied to a display `Pipeline` with a 64x64 xRGB primary surface
//! (id 0), a 16x16 ARGB surface (id 1) and an 8x8 A1 surface (id 2), so draws can use surfaces
//! as sources, masks and patterns.
//!
//! Input: records of `u16 msg_type` (LE), `u16 len` (LE), then `len` body bytes; at most
//! `MAX_MESSAGES` records. Properties: no panic; no surface changes size or disappears unless
//! destroyed; every damage rectangle lies inside its surface; a copy of the primary surface
//! (and of a monitor rectangle on it) kept up to date through the state's journal (moves
//! replayed, dirty rectangles copied, as the X11 screen layer does) equals the surface after
//! every message; and the display channel's machine fed the same bytes (each message prepared
//! by its decoder, then applied to a state behind a lock, as a live session runs) ends every
//! message with the same surfaces, counters and events as `Pipeline::handle` (prepare and apply
//! in one call) followed by a stream tick. Returns `true` when every record was complete and
//! decoded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sumac::channel::display::{DisplayMachine, DisplaySettings};
use sumac::channel::{Ctx, Machine, Output, Outputs};
use sumac::client::events::SessionEvent;
use sumac::codec::glz::GlzWindow;
use sumac::display::{
    DisplayDecoder, DisplayEvent, DisplayState, JournalCursor, Limits, Patch, Pipeline, SharedImageCache,
};
use sumac::proto::Message;
use sumac::proto::channel::display::{DisplayServer, SurfaceCreate, surface_flags, surface_fmt};

/// Most records one input may carry.
pub const MAX_MESSAGES: usize = 64;

/// The surfaces every run starts with: (id, width, height, format, flags).
pub const SURFACES: [(u32, u32, u32, u32, u32); 3] = [
    (0, 64, 64, surface_fmt::XRGB32, surface_flags::PRIMARY),
    (1, 16, 16, surface_fmt::ARGB32, 0),
    (2, 8, 8, surface_fmt::A1, 0),
];

/// Small budgets so that hostile creates fail fast.
fn limits() -> Limits {
    Limits {
        max_surface_dim: 256,
        max_surface_bytes: 256 * 256 * 4,
        max_total_bytes: 1 << 20,
        max_clip_rects: 256,
        image_cache_bytes: 1 << 20,
    }
}

fn creates() -> impl Iterator<Item = DisplayServer> {
    SURFACES.into_iter().map(|(surface_id, width, height, format, flags)| {
        DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id,
            width,
            height,
            format,
            flags,
        })
    })
}

/// A fresh pipeline with the [`SURFACES`].
pub fn state() -> Pipeline {
    let mut s = Pipeline::new(limits());
    for m in creates() {
        s.handle(&m);
    }
    s
}

/// The display channel as a live session runs it: the machine, its decoder
/// outside the lock, the state behind it.
struct Live {
    machine: DisplayMachine,
    state: Arc<Mutex<DisplayState>>,
    ctx: Ctx,
}

impl Live {
    fn new() -> Self {
        let (limits, cache) = (limits(), SharedImageCache::new(1 << 20));
        let window = Arc::new(GlzWindow::new(sumac::display::DEFAULT_GLZ_WINDOW_BYTES));
        let state = Arc::new(Mutex::new(DisplayState::with_cache(limits, cache.clone())));
        let settings = DisplaySettings {
            image_cache_bytes: 1 << 20,
            glz_window_bytes: 1 << 20,
            preferred_compression: None,
            glz_may_wait: false,
        };
        let decoder = DisplayDecoder::new(limits, cache, window);
        let mut live = Live {
            machine: DisplayMachine::new(0, Arc::clone(&state), decoder, settings),
            state,
            // One instant and multimedia time 0 throughout: no clock jump.
            ctx: Ctx::new(Instant::now(), 0),
        };
        for m in creates() {
            live.feed(m.msg_type(), &m.to_body());
        }
        live
    }

    /// One message; the display events it emitted (damage gathered up to the end of the batch).
    fn feed(&mut self, msg_type: u16, body: &[u8]) -> Vec<DisplayEvent> {
        let mut out = Outputs::new();
        self.machine
            .message(msg_type, body, &self.ctx, &mut out)
            .expect("the display machine never fails on a message");
        self.machine.after_batch(&self.ctx, &mut out).expect("after batch");
        out.drain()
            .filter_map(|o| match o {
                Output::Event(SessionEvent::Display { event, .. }) => Some(event),
                _ => None,
            })
            .collect()
    }

    /// The machine's state equals the pipeline's: every surface, the counters.
    fn check(&self, s: &Pipeline, n: usize) {
        let live = self.state.lock().expect("state lock");
        let mut ids: Vec<u32> = s.surface_ids().collect();
        let mut live_ids: Vec<u32> = live.surface_ids().collect();
        ids.sort_unstable();
        live_ids.sort_unstable();
        assert_eq!(ids, live_ids, "message {n}: surfaces");
        for id in ids {
            let (a, b) = (s.surface(id).expect("surface"), live.surface(id).expect("surface"));
            assert!(a.pixels_bgra() == b.pixels_bgra(), "message {n}: surface {id} differs");
        }
        assert_eq!(s.stats(), live.stats(), "message {n}: counters");
        assert_eq!(s.stream_stats(), live.stream_stats(), "message {n}: stream counters");
    }
}

pub fn fuzz(data: &[u8]) -> bool {
    let mut s = state();
    let mut live = Live::new();
    let mut dims: HashMap<u32, (u32, u32)> = SURFACES.iter().map(|&(id, w, h, _, _)| (id, (w, h))).collect();
    let mut rest = data;
    let mut accepted = true;
    // Synced after every message, or every 8 (several moves per plan, as
    // at 60 frames per second), the last two at the end too.
    let mut copies = [
        (
            1,
            Mirror::new(Patch {
                x: 0,
                y: 0,
                w: 64,
                h: 64,
            }),
        ),
        (
            8,
            Mirror::new(Patch {
                x: 0,
                y: 0,
                w: 64,
                h: 64,
            }),
        ),
        (
            8,
            Mirror::new(Patch {
                x: 10,
                y: 6,
                w: 40,
                h: 50,
            }),
        ),
    ];
    for n in 0..MAX_MESSAGES {
        if rest.is_empty() {
            break;
        }
        let (Some(&[t0, t1, l0, l1]), tail) = (rest.get(..4), rest.get(4..).unwrap_or_default()) else {
            accepted = false;
            break;
        };
        let (msg_type, len) = (u16::from_le_bytes([t0, t1]), usize::from(u16::from_le_bytes([l0, l1])));
        let Some(body) = tail.get(..len) else {
            accepted = false;
            break;
        };
        rest = &tail[len..];
        let live_events = live.feed(msg_type, body);
        let m = match DisplayServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(_) => {
                accepted = false;
                live.check(&s, n);
                continue;
            }
        };
        // What the machine does with a message: prepare and apply it, tick the streams.
        let mut events = s.handle(&m);
        events.extend(s.stream_tick(0).events);
        live.check(&s, n);
        assert_damage_covered(&events, &live_events, n);
        for ev in events {
            match ev {
                DisplayEvent::SurfaceCreated { id, width, height, .. } => {
                    dims.insert(id, (width, height));
                }
                DisplayEvent::SurfaceDestroyed { id } => {
                    dims.remove(&id);
                }
                DisplayEvent::Damage { surface_id, rect } => {
                    let &(w, h) = dims.get(&surface_id).expect("damage on an unknown surface");
                    assert!(
                        rect.left >= 0
                            && rect.top >= 0
                            && rect.left < rect.right
                            && rect.top < rect.bottom
                            && i64::from(rect.right) <= i64::from(w)
                            && i64::from(rect.bottom) <= i64::from(h),
                        "damage {rect:?} outside {w}x{h}"
                    );
                }
                _ => {}
            }
        }
        for (id, &(w, h)) in &dims {
            let surf = s.surface(*id).expect("a live surface vanished");
            assert_eq!((surf.width, surf.height), (w, h));
            assert_eq!(surf.pixels_bgra().len(), w as usize * h as usize * 4);
        }
        for (every, c) in &mut copies {
            if (n + 1) % *every == 0 {
                c.sync(&mut s);
            }
        }
    }
    for (_, c) in &mut copies {
        c.sync(&mut s);
    }
    accepted && rest.is_empty()
}

/// The machine emits the same events, damage gathered: every damage rectangle of `events`
/// lies inside one the machine emitted for its surface, and the other events are the same.
fn assert_damage_covered(events: &[DisplayEvent], live: &[DisplayEvent], n: usize) {
    let others = |e: &[DisplayEvent]| {
        e.iter()
            .filter(|e| !matches!(e, DisplayEvent::Damage { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(others(events), others(live), "message {n}: events");
    for e in events {
        if let DisplayEvent::Damage { surface_id, rect } = e {
            let covered = live.iter().any(|l| {
                matches!(l, DisplayEvent::Damage { surface_id: s, rect: r } if s == surface_id
                    && r.left <= rect.left && r.top <= rect.top && r.right >= rect.right && r.bottom >= rect.bottom)
            });
            assert!(
                covered,
                "message {n}: damage {rect:?} of surface {surface_id} not emitted"
            );
        }
    }
}

/// A copy of a monitor rectangle of the primary surface, kept through the journal.
struct Mirror {
    monitor: Patch,
    surface: Option<u32>,
    pixels: Vec<[u8; 4]>,
    cursor: Option<JournalCursor>,
}

impl Mirror {
    fn new(monitor: Patch) -> Self {
        Mirror {
            monitor,
            surface: None,
            pixels: vec![[0; 4]; (monitor.w * monitor.h) as usize],
            cursor: None,
        }
    }

    fn source(&self, s: &DisplayState, x: u32, y: u32) -> [u8; 4] {
        let (_, surf) = s.primary().expect("primary");
        let mut p = surf
            .pixel(self.monitor.x + x, self.monitor.y + y)
            .expect("pixel inside");
        p[3] = 0; // unspecified in xRGB
        p
    }

    fn copy(&mut self, s: &DisplayState, p: &Patch) {
        assert!(
            p.x + p.w <= self.monitor.w && p.y + p.h <= self.monitor.h,
            "dirty {p:?} outside"
        );
        for y in p.y..p.y + p.h {
            for x in p.x..p.x + p.w {
                self.pixels[(y * self.monitor.w + x) as usize] = self.source(s, x, y);
            }
        }
    }

    fn sync(&mut self, s: &mut DisplayState) {
        let Some((id, surf)) = s.primary() else {
            self.cursor = None;
            return;
        };
        if surf.width < self.monitor.x + self.monitor.w || surf.height < self.monitor.y + self.monitor.h {
            self.cursor = None;
            return;
        }
        let planned = match self.cursor {
            Some(c) if self.surface == Some(id) => s.journal_plan(c, self.monitor),
            _ => None,
        };
        match planned {
            None => {
                let all = Patch {
                    x: 0,
                    y: 0,
                    ..self.monitor
                };
                self.copy(s, &all);
                self.cursor = s.journal_position();
                self.surface = Some(id);
            }
            Some((plan, next)) => {
                for m in &plan.moves {
                    let before = self.pixels.clone();
                    for b in &m.boxes {
                        for y in b.y..b.y + b.h {
                            for x in b.x..b.x + b.w {
                                let (sx, sy) = (x as i64 - i64::from(m.dx), y as i64 - i64::from(m.dy));
                                assert!(
                                    sx >= 0
                                        && sy >= 0
                                        && sx < i64::from(self.monitor.w)
                                        && sy < i64::from(self.monitor.h),
                                    "move {m:?} reads outside the monitor"
                                );
                                self.pixels[(y * self.monitor.w + x) as usize] =
                                    before[(sy as u32 * self.monitor.w + sx as u32) as usize];
                            }
                        }
                    }
                }
                for d in &plan.dirty {
                    self.copy(s, d);
                }
                self.cursor = Some(next);
            }
        }
        for y in 0..self.monitor.h {
            for x in 0..self.monitor.w {
                assert_eq!(
                    self.pixels[(y * self.monitor.w + x) as usize],
                    self.source(s, x, y),
                    "journal copy of {:?} differs at ({x},{y})",
                    self.monitor
                );
            }
        }
    }
}

/// Canvas inputs that reach DRAW_COMPOSITE with every operator group, every
/// filter and repeat mode, masks with and without component alpha and
/// affine transforms, and dashed (STYLED) strokes on lines and béziers, as
/// (name, bytes); each must be accepted by [`fuzz`]. Written to
/// `regression/canvas/` by the ignored test `write_composite_and_dash_seeds`.
pub fn composite_and_dash_seeds() -> Vec<(String, Vec<u8>)> {
    use sumac::proto::channel::display::{
        Bitmap, Brush, Clip, CompositeOp, DisplayBase, Image, ImageDescriptor, ImageKind, LineAttr, PaletteRef,
        PathSegment, Point16, PointFix, Rect, StrokeOp, Transform, bitmap_flags, bitmap_fmt, composite_flags as cf,
        image_type, line_flags, path_flags, ropd,
    };
    let record = |m: &DisplayServer| {
        let body = m.to_body();
        let mut out = m.msg_type().to_le_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(body.len()).expect("small body").to_le_bytes());
        out.extend_from_slice(&body);
        out
    };
    let rgba = |id: u64, w: u32, h: u32| Image {
        descriptor: ImageDescriptor {
            id,
            image_type: image_type::BITMAP,
            flags: 0,
            width: w,
            height: h,
        },
        kind: ImageKind::Bitmap(Bitmap {
            format: bitmap_fmt::RGBA,
            flags: bitmap_flags::TOP_DOWN,
            width: w,
            height: h,
            stride: w * 4,
            palette: PaletteRef::None,
            data: (0..w * h * 4).map(|i| (i * 37 % 251) as u8).collect(),
        }),
    };
    let surface = |surface_id: u32| Image {
        descriptor: ImageDescriptor {
            id: 0,
            image_type: image_type::SURFACE,
            flags: 0,
            width: 0,
            height: 0,
        },
        kind: ImageKind::Surface { surface_id },
    };
    let base = |surface_id: u32, r: Rect| DisplayBase {
        surface_id,
        bbox: r,
        clip: Clip::None,
    };
    let fx = |v: f64| Some((v * 65536.0) as i32 as u32);
    let transforms: [Option<[Option<u32>; 6]>; 5] = [
        None,
        Some([fx(0.5), fx(0.0), fx(0.0), fx(0.0), fx(0.5), fx(0.0)]),
        Some([fx(0.0), fx(1.0), fx(0.0), fx(-1.0), fx(0.0), fx(3.0)]),
        Some([fx(0.7), fx(0.3), fx(-0.4), fx(-0.2), fx(0.9), fx(0.6)]),
        Some([fx(2.0), fx(0.0), fx(1.5), fx(0.0), fx(2.0), fx(-0.5)]),
    ];
    let tr = |i: usize| transforms[i % transforms.len()].map(|t| Transform(t.map(|v| v.unwrap_or(0))));
    let ops: Vec<u32> = (0x00..=0x0d)
        .chain(0x10..=0x1b)
        .chain(0x20..=0x2b)
        .chain(0x30..=0x3e)
        .collect();
    let mut seeds = Vec::new();
    // Every operator, alternating mask kinds, filters, repeats and transforms.
    for (chunk_no, chunk) in ops.chunks(16).enumerate() {
        let mut bytes = Vec::new();
        for (i, &op) in chunk.iter().enumerate() {
            let k = chunk_no * 16 + i;
            let filter = [0u32, 1, 3, 4][k % 4];
            let repeat = u32::try_from(k % 4).expect("small");
            let mut flags = op | filter << cf::SRC_FILTER_SHIFT | repeat << cf::SRC_REPEAT_SHIFT;
            let (mask_bitmap, mask_transform) = match k % 3 {
                0 => (None, None),
                1 => {
                    flags |= cf::HAS_MASK | (3 - repeat) << cf::MASK_REPEAT_SHIFT | 4 << cf::MASK_FILTER_SHIFT;
                    (Some(rgba(7, 3, 3)), tr(k + 1))
                }
                _ => {
                    flags |= cf::HAS_MASK | cf::COMPONENT_ALPHA;
                    (Some(surface(1)), None)
                }
            };
            let (surface_id, src_bitmap) = if k % 5 == 4 {
                (1, surface(0))
            } else {
                (0, rgba(5, 5, 4))
            };
            bytes.extend(record(&DisplayServer::DrawComposite {
                base: base(surface_id, Rect::ltrb(2, 3, 14, 13)),
                composite: CompositeOp {
                    flags,
                    src_bitmap: Some(src_bitmap),
                    mask_bitmap,
                    src_transform: tr(k),
                    mask_transform,
                    src_origin: Point16 { x: -1, y: 2 },
                    mask_origin: Point16 { x: 1, y: 0 },
                },
            }));
        }
        seeds.push((format!("seed-composite-ops-{chunk_no}"), bytes));
    }
    // Dashed strokes: plain and gap-first styles on a closed polyline and a
    // bézier, 28.4 lengths with fractions, a zero-length dash.
    let fixp = |x: i32, y: i32| PointFix { x: x << 4, y: y << 4 };
    let mut bytes = Vec::new();
    let styles: [(u8, Vec<i32>); 3] = [
        (line_flags::STYLED, vec![3 << 4, 2 << 4]),
        (
            line_flags::STYLED | line_flags::START_WITH_GAP,
            vec![1 << 4, 4 << 4, 0, 2 << 4 | 9],
        ),
        (line_flags::STYLED, vec![1 << 4]),
    ];
    for (flags, style) in styles {
        for bezier in [false, true] {
            let path = if bezier {
                vec![
                    PathSegment {
                        flags: path_flags::BEGIN,
                        points: vec![fixp(1, 1)],
                    },
                    PathSegment {
                        flags: path_flags::BEZIER | path_flags::END,
                        points: vec![fixp(1, 40), fixp(40, 40), fixp(40, 1)],
                    },
                ]
            } else {
                vec![PathSegment {
                    flags: path_flags::BEGIN | path_flags::END | path_flags::CLOSE,
                    points: vec![fixp(2, 2), fixp(30, 2), fixp(30, 20), fixp(5, 25)],
                }]
            };
            bytes.extend(record(&DisplayServer::DrawStroke {
                base: base(0, Rect::ltrb(0, 0, 48, 48)),
                stroke: StrokeOp {
                    path,
                    attr: LineAttr {
                        flags,
                        style: style.clone(),
                    },
                    brush: Brush::Solid(0x00ff_8000),
                    fore_mode: ropd::OP_PUT,
                    back_mode: ropd::OP_PUT,
                },
            }));
        }
    }
    seeds.push(("seed-stroke-dashed".to_owned(), bytes));

    // Scrolling for the journal mirrors: a box scrolled up and down (merged
    // moves), with new lines filled in, a move with a clip list, one whose
    // source lies off the monitor rectangle.
    let mut bytes = Vec::new();
    let fill = |r: Rect, c: u32| DisplayServer::DrawFill {
        base: base(0, r),
        fill: sumac::proto::channel::display::FillOp {
            brush: Brush::Solid(c),
            rop_descriptor: ropd::OP_PUT,
            mask: Default::default(),
        },
    };
    for i in 0..16 {
        bytes.extend(record(&fill(
            Rect::ltrb(0, i * 4, 64, i * 4 + 4),
            0x0008_0a0c * (i as u32 + 1),
        )));
    }
    let scrolls = [(-4, None), (-4, None), (-4, None), (6, Some(0x0000_00ff)), (-2, None)];
    for (dy, line) in scrolls {
        bytes.extend(record(&DisplayServer::CopyBits {
            base: base(0, Rect::ltrb(2, 4, 60, 40)),
            src_pos: sumac::proto::channel::display::Point { x: 2, y: 4 - dy },
        }));
        if let Some(color) = line {
            let y = if dy < 0 { 40 + dy } else { 4 };
            bytes.extend(record(&fill(Rect::ltrb(2, y, 60, y + dy.abs()), color)));
        }
    }
    bytes.extend(record(&DisplayServer::CopyBits {
        base: DisplayBase {
            surface_id: 0,
            bbox: Rect::ltrb(0, 0, 40, 40),
            clip: Clip::Rects(vec![Rect::ltrb(0, 0, 20, 40), Rect::ltrb(25, 10, 40, 30)]),
        },
        src_pos: sumac::proto::channel::display::Point { x: 5, y: 3 },
    }));
    bytes.extend(record(&DisplayServer::CopyBits {
        base: base(0, Rect::ltrb(12, 8, 48, 40)),
        src_pos: sumac::proto::channel::display::Point { x: 0, y: 0 },
    }));
    seeds.push(("seed-journal-scrolls".to_owned(), bytes));

    // Masks: a 1-bit mask cached with CACHE_ME, then read FROM_CACHE, plain
    // and inverted, by WHITENESS, INVERS and a masked COPY.
    use sumac::proto::channel::display::{CopyOp, Point, QMask, image_flags, mask_flags};
    let mut bytes = Vec::new();
    let mask_image = |id: u64, from_cache: bool| Image {
        descriptor: ImageDescriptor {
            id,
            image_type: if from_cache {
                image_type::FROM_CACHE
            } else {
                image_type::BITMAP
            },
            flags: if from_cache { 0 } else { image_flags::CACHE_ME },
            width: 8,
            height: 8,
        },
        kind: if from_cache {
            ImageKind::NoData
        } else {
            ImageKind::Bitmap(Bitmap {
                format: bitmap_fmt::BIT1_BE,
                flags: bitmap_flags::TOP_DOWN,
                width: 8,
                height: 8,
                stride: 1,
                palette: PaletteRef::None,
                data: vec![0b1010_0101, 0b0101_1010, 0xff, 0, 0x0f, 0xf0, 0x81, 0x18],
            })
        },
    };
    let qmask = |image, invert: bool| QMask {
        flags: if invert { mask_flags::INVERS } else { 0 },
        pos: Point { x: 0, y: 0 },
        bitmap: Some(image),
    };
    bytes.extend(record(&DisplayServer::DrawWhiteness {
        base: base(0, Rect::ltrb(0, 0, 8, 8)),
        mask: qmask(mask_image(9, false), false),
    }));
    bytes.extend(record(&DisplayServer::DrawInvers {
        base: base(0, Rect::ltrb(4, 4, 12, 12)),
        mask: qmask(mask_image(9, true), true),
    }));
    bytes.extend(record(&DisplayServer::DrawCopy {
        base: base(0, Rect::ltrb(20, 2, 25, 6)),
        copy: CopyOp {
            src_bitmap: Some(rgba(5, 5, 4)),
            src_area: Rect::ltrb(0, 0, 5, 4),
            rop_descriptor: ropd::OP_PUT,
            scale_mode: 0,
            mask: qmask(mask_image(9, true), false),
        },
    }));
    seeds.push(("seed-masks-cached".to_owned(), bytes));
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_and_dash_seeds_are_accepted() {
        for (name, bytes) in composite_and_dash_seeds() {
            assert!(fuzz(&bytes), "{name} rejected");
        }
    }

    /// Writes the seeds to `regression/canvas/`.
    #[test]
    #[ignore]
    fn write_composite_and_dash_seeds() {
        // Built by the fuzz crate (tests/fuzz) or into the e2e tests (the root).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fuzz = if root.ends_with("fuzz") {
            root.to_path_buf()
        } else {
            root.join("tests/fuzz")
        };
        let dir = fuzz.join("regression/canvas");
        for (name, bytes) in composite_and_dash_seeds() {
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
}
