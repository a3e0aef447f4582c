//! The primary surface's journal: a consumer that replays its plans on a
//! copy of one monitor (moves with X `CopyArea` semantics, then the dirty
//! rectangles copied from the surface) always ends equal to the surface.

use super::*;

/// A consumer's copy of `monitor` (surface coordinates), one u32 per pixel.
struct Shadow {
    monitor: Patch,
    pixels: Vec<u32>,
    cursor: Option<JournalCursor>,
    /// Pixels copied from the surface so far (what the journal saves).
    copied: u64,
    full_copies: u32,
}

fn pixel(s: &DisplayState, x: u32, y: u32) -> u32 {
    let (_, surf) = s.primary().unwrap();
    u32::from_le_bytes(surf.pixel(x, y).unwrap()) & 0x00ff_ffff
}

impl Shadow {
    fn new(monitor: Patch) -> Self {
        Self {
            monitor,
            pixels: vec![0; (monitor.w * monitor.h) as usize],
            cursor: None,
            copied: 0,
            full_copies: 0,
        }
    }

    fn copy_from(&mut self, s: &DisplayState, p: &Patch) {
        for y in p.y..p.y + p.h {
            for x in p.x..p.x + p.w {
                let v = pixel(s, self.monitor.x + x, self.monitor.y + y);
                self.pixels[(y * self.monitor.w + x) as usize] = v;
            }
        }
        self.copied += u64::from(p.w) * u64::from(p.h);
    }

    /// Brings the copy up to date the way the X11 layer does.
    fn sync(&mut self, s: &mut Pipeline) {
        let plan = self.cursor.and_then(|c| s.journal_plan(c, self.monitor));
        let Some((plan, next)) = plan else {
            let all = Patch {
                x: 0,
                y: 0,
                ..self.monitor
            };
            self.copy_from(s, &all);
            self.cursor = s.journal_position();
            self.full_copies += 1;
            return;
        };
        for m in &plan.moves {
            // Every source is read before anything is written.
            let before = self.pixels.clone();
            for b in &m.boxes {
                for y in b.y..b.y + b.h {
                    for x in b.x..b.x + b.w {
                        let (sx, sy) = (x as i32 - m.dx, y as i32 - m.dy);
                        assert!(
                            sx >= 0 && sy >= 0 && (sx as u32) < self.monitor.w && (sy as u32) < self.monitor.h,
                            "move {m:?} reads outside the monitor"
                        );
                        self.pixels[(y * self.monitor.w + x) as usize] =
                            before[(sy as u32 * self.monitor.w + sx as u32) as usize];
                    }
                }
            }
        }
        for d in &plan.dirty {
            assert!(d.x + d.w <= self.monitor.w && d.y + d.h <= self.monitor.h, "{d:?}");
            self.copy_from(s, d);
        }
        self.cursor = Some(next);
    }

    fn assert_equal(&self, s: &DisplayState, what: &str) {
        for y in 0..self.monitor.h {
            for x in 0..self.monitor.w {
                assert_eq!(
                    self.pixels[(y * self.monitor.w + x) as usize],
                    pixel(s, self.monitor.x + x, self.monitor.y + y),
                    "{what}: pixel ({x},{y}) of monitor {:?}",
                    self.monitor
                );
            }
        }
    }
}

fn scroll(id: u32, bbox: Rect, src: Point, clip: Clip) -> DisplayServer {
    DisplayServer::CopyBits {
        base: base(id, bbox, clip),
        src_pos: src,
    }
}

/// A terminal scrolling: the journal sends the new lines, not the terminal.
#[test]
fn scrolling_sends_only_new_lines() {
    let (w, h) = (200u32, 120u32);
    let mut s = state(0, w, h);
    let whole = Patch { x: 0, y: 0, w, h };
    let mut shadow = Shadow::new(whole);
    for y in 0..h as i32 {
        s.handle(&put(0, Rect::ltrb(0, y, w as i32, y + 1), (y as u32) * 0x0001_0203));
    }
    shadow.sync(&mut s);
    shadow.assert_equal(&s, "first copy");
    let first = shadow.copied;
    // 30 frames of 3 lines of 8 rows: scroll up, draw the new line.
    for frame in 0..30u32 {
        for line in 0..3u32 {
            s.handle(&scroll(
                0,
                Rect::ltrb(0, 0, w as i32, 112),
                Point { x: 0, y: 8 },
                Clip::None,
            ));
            let color = 0x0010_0000 + frame * 16 + line;
            s.handle(&put(0, Rect::ltrb(0, 104, w as i32, 112), color));
        }
        shadow.sync(&mut s);
        shadow.assert_equal(&s, "after a frame of scrolling");
    }
    assert_eq!(shadow.full_copies, 1);
    // Each frame: three moves merged into one, 3 new lines (24 rows) sent.
    let per_frame = (shadow.copied - first) / 30;
    assert_eq!(per_frame, u64::from(w) * 24, "pixels sent per frame");
}

#[test]
fn merged_scrolls_are_one_move() {
    let mut s = state(0, 64, 64);
    let whole = Patch {
        x: 0,
        y: 0,
        w: 64,
        h: 64,
    };
    let mut shadow = Shadow::new(whole);
    shadow.sync(&mut s);
    for _ in 0..5 {
        s.handle(&scroll(0, Rect::ltrb(0, 0, 64, 60), Point { x: 0, y: 4 }, Clip::None));
    }
    let (plan, _) = s.journal_plan(shadow.cursor.unwrap(), whole).unwrap();
    assert_eq!(plan.moves.len(), 1, "{plan:?}");
    assert_eq!((plan.moves[0].dx, plan.moves[0].dy), (0, -20));
    // Rows 40..44 end up with rows 60..64 (below the box, unchanged): the
    // summed move reads them too. Rows 44..60 would read below the monitor:
    // sent.
    assert_eq!(
        plan.dirty,
        vec![Patch {
            x: 0,
            y: 44,
            w: 64,
            h: 16
        }]
    );
}

#[test]
fn stale_consumers_copy_everything() {
    let mut s = state(0, 32, 32);
    let whole = Patch {
        x: 0,
        y: 0,
        w: 32,
        h: 32,
    };
    let mut shadow = Shadow::new(whole);
    shadow.sync(&mut s);
    // Falls behind: more entries than the journal keeps.
    for i in 0..(crate::display::journal::MAX_ENTRIES as i32 + 5) {
        s.handle(&put(0, Rect::ltrb(i % 32, 0, i % 32 + 1, 1), i as u32));
    }
    assert!(s.journal_plan(shadow.cursor.unwrap(), whole).is_none());
    shadow.sync(&mut s);
    assert_eq!(shadow.full_copies, 2);
    shadow.assert_equal(&s, "after falling behind");
    // A new primary surface: the old cursor is stale.
    let old = shadow.cursor.unwrap();
    s.handle(&create(7, 32, 32, surface_fmt::XRGB32, surface_flags::PRIMARY));
    assert!(s.journal_plan(old, whole).is_none());
    let cursor = s.journal_position().unwrap();
    s.handle(&put(7, Rect::ltrb(0, 0, 4, 4), RED));
    assert!(s.journal_plan(old, whole).is_none());
    assert!(s.journal_plan(cursor, whole).is_some());
    // A cursor of another display state (an earlier session) is stale too.
    let mut other = state(7, 32, 32);
    let theirs = other.journal_position().unwrap();
    assert!(s.journal_plan(theirs, whole).is_none());
    // RESET clears the primary: reported as damage of all of it.
    s.handle(&DisplayServer::Reset);
    let (plan, _) = s.journal_plan(cursor, whole).unwrap();
    assert!(plan.dirty.contains(&whole), "{plan:?}");
}

#[test]
fn moves_with_many_boxes_become_damage() {
    let mut s = state(0, 64, 64);
    let whole = Patch {
        x: 0,
        y: 0,
        w: 64,
        h: 64,
    };
    let cursor = s.journal_position().unwrap();
    let clip = Clip::Rects((0..20).map(|i| Rect::ltrb(0, i * 3, 64, i * 3 + 1)).collect());
    s.handle(&scroll(0, Rect::ltrb(0, 0, 64, 63), Point { x: 0, y: 1 }, clip));
    let (plan, _) = s.journal_plan(cursor, whole).unwrap();
    assert!(plan.moves.is_empty(), "{plan:?}");
    assert_eq!(plan.dirty.len(), 1);
}

/// Nothing is journaled before a consumer asks (the headless client never does).
#[test]
fn journal_records_only_once_followed() {
    let mut s = state(0, 16, 16);
    s.handle(&put(0, Rect::ltrb(0, 0, 4, 4), RED));
    let cursor = s.journal_position().unwrap();
    let (plan, next) = s
        .journal_plan(
            cursor,
            Patch {
                x: 0,
                y: 0,
                w: 16,
                h: 16,
            },
        )
        .unwrap();
    assert_eq!(plan, Plan::default());
    assert_eq!(next, cursor);
}

/// Random fills and moves (single boxes, clip lists, any direction, sources
/// off the monitor), consumers of different monitor rectangles syncing at
/// random moments: their copies always equal the surface.
#[test]
fn random_traffic_keeps_copies_exact() {
    let (w, h) = (48u32, 40u32);
    for seed in 1..=60u64 {
        let mut rng = Rng(seed * 7919);
        let mut s = state(0, w, h);
        let monitors = [
            Patch { x: 0, y: 0, w, h },
            Patch {
                x: 5,
                y: 3,
                w: 30,
                h: 25,
            },
            Patch {
                x: 20,
                y: 10,
                w: 28,
                h: 30,
            },
        ];
        let mut shadows: Vec<Shadow> = monitors.iter().map(|m| Shadow::new(*m)).collect();
        for step in 0..400 {
            let x0 = rng.range(-4, w as i32);
            let y0 = rng.range(-4, h as i32);
            let bbox = Rect::ltrb(x0, y0, x0 + rng.range(1, 30), y0 + rng.range(1, 30));
            let clip = if rng.range(0, 4) == 0 {
                let n = rng.range(1, 5);
                Clip::Rects(
                    (0..n)
                        .map(|_| {
                            let (cx, cy) = (rng.range(0, w as i32), rng.range(0, h as i32));
                            Rect::ltrb(cx, cy, cx + rng.range(1, 20), cy + rng.range(1, 20))
                        })
                        .collect(),
                )
            } else {
                Clip::None
            };
            match rng.range(0, 10) {
                0..=3 => {
                    let color = (rng.next() as u32) & 0x00ff_ffff;
                    s.handle(&fill(0, bbox, clip, color, ropd::OP_PUT));
                }
                4..=6 => {
                    // Scrolls of a fixed box, to exercise merging.
                    let dy = rng.range(-6, 7);
                    s.handle(&scroll(
                        0,
                        Rect::ltrb(2, 4, 40, 34),
                        Point { x: 2, y: 4 - dy },
                        Clip::None,
                    ));
                }
                _ => {
                    let src = Point {
                        x: x0 + rng.range(-12, 13),
                        y: y0 + rng.range(-12, 13),
                    };
                    s.handle(&scroll(0, bbox, src, clip));
                }
            }
            for (i, sh) in shadows.iter_mut().enumerate() {
                if rng.range(0, 3 + i as i32 * 4) == 0 {
                    sh.sync(&mut s);
                    sh.assert_equal(&s, &format!("seed {seed} step {step}"));
                }
            }
        }
        for sh in &mut shadows {
            sh.sync(&mut s);
            sh.assert_equal(&s, &format!("seed {seed} end"));
        }
    }
}

/// A plan runs on the UI thread: a hostile mix of scattered damage and
/// many-box moves is cut off (the consumer copies everything) instead of
/// costing ~10⁸ rectangle comparisons.
#[test]
fn hostile_journals_are_cut_off() {
    let (w, h) = (512u32, 512u32);
    let mut s = state(0, w, h);
    let whole = Patch { x: 0, y: 0, w, h };
    let cursor = s.journal_position().unwrap();
    for i in 0..60 {
        let (x, y) = ((i * 37) % 500, (i * 53) % 500);
        s.handle(&put(0, Rect::ltrb(x, y, x + 3, y + 3), i as u32));
    }
    let clip = Clip::Rects((0..16).map(|i| Rect::ltrb(i * 30, 0, i * 30 + 20, 500)).collect());
    for i in 0..900 {
        let dy = if i % 2 == 0 { 1 } else { -1 };
        s.handle(&scroll(
            0,
            Rect::ltrb(0, 5, 500, 505),
            Point { x: 0, y: 5 - dy },
            clip.clone(),
        ));
    }
    assert!(s.journal_plan(cursor, whole).is_none());
    // The same consumer then copies everything and follows again.
    let mut shadow = Shadow::new(whole);
    shadow.sync(&mut s);
    s.handle(&scroll(0, Rect::ltrb(0, 0, 500, 400), Point { x: 0, y: 8 }, Clip::None));
    shadow.sync(&mut s);
    shadow.assert_equal(&s, "after the cut-off");
    assert_eq!(shadow.full_copies, 1);
}
