//! The primary surface's recent history, for consumers that keep a copy of
//! it elsewhere (the X11 screen layer keeps one in an X pixmap).
//!
//! A consumer that copies changed pixels after every update has to send
//! again everything a COPY_BITS moved: a terminal scrolling one line moves
//! the whole terminal. With the journal it replays the move on its own copy
//! (an X `CopyArea`, done by the X server) and sends only what was drawn.
//!
//! Recording starts when a consumer first asks for a [`JournalCursor`]
//! ([`super::DisplayState::journal_position`]) and is bounded
//! ([`MAX_ENTRIES`] entries, [`MAX_COPY_BOXES`] boxes per move): a consumer
//! that falls behind, or whose primary surface changed, gets `None` from
//! [`super::DisplayState::journal_plan`] and copies everything again.
//!
//! [`plan`] turns the entries since a cursor into moves and rectangles to
//! send for one monitor rectangle. It keeps the invariant *every pixel of
//! the consumer's copy outside the rectangles to send equals the surface*:
//! a move whose source was stale makes its destination stale, a move whose
//! source lies outside the monitor leaves its destination to send, and
//! consecutive scrolls of the same box are merged into one move whose
//! uncovered strip is sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use super::region::{PixBox, extents};

/// Most entries kept; older ones are dropped (their consumers resync).
pub const MAX_ENTRIES: usize = 1024;
/// A move with more boxes than this is recorded as damage of its extents.
pub const MAX_COPY_BOXES: usize = 16;
/// Rectangles to send kept apart in a plan; beyond, they are merged into
/// their bounding box (more is sent, never less).
pub const MAX_DIRTY: usize = 64;
/// Rectangle comparisons one plan may cost (it runs on the UI thread);
/// beyond, the consumer copies everything again, which is bounded by the
/// monitor's size. A hostile server (1024 entries of 16 boxes over 64
/// scattered rectangles) would otherwise cost ~10⁸; a scrolling terminal
/// costs a few thousand per frame.
pub const MAX_PLAN_WORK: u64 = 1 << 20;

/// A rectangle `[x0, x1) × [y0, y1)` in monitor pixels, non-empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// One move of a [`Plan`]: every pixel `p` of `boxes` takes the value pixel
/// `p - (dx, dy)` had before the move (all boxes at once, as X's `CopyArea`
/// with these boxes as clip rectangles). Sources lie inside the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMove {
    pub boxes: Vec<Patch>,
    pub dx: i32,
    pub dy: i32,
}

/// How to bring a copy of one monitor up to date: the moves in order, then
/// the rectangles to copy from the surface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub moves: Vec<PlannedMove>,
    pub dirty: Vec<Patch>,
}

/// Where a consumer is in the journal of one primary surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalCursor {
    /// Which journal (process-unique): a cursor from another display state
    /// (an earlier session) is never taken for one of this journal.
    journal: u64,
    surface_id: u32,
    seq: u64,
}

/// Journal identities, handed out when a journal is first followed.
static NEXT_JOURNAL: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Damage(PixBox),
    Move { boxes: Vec<PixBox>, dx: i64, dy: i64 },
}

#[derive(Debug, Default)]
pub(super) struct Journal {
    /// 0 until followed, then from [`NEXT_JOURNAL`].
    id: u64,
    enabled: bool,
    /// Sequence number of `entries[0]`.
    first: u64,
    entries: VecDeque<Entry>,
}

impl Journal {
    fn next(&self) -> u64 {
        self.first
            .saturating_add(u64::try_from(self.entries.len()).unwrap_or(u64::MAX))
    }

    fn push(&mut self, e: Entry) {
        if !self.enabled {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.pop_front();
            self.first = self.first.saturating_add(1);
        }
        self.entries.push_back(e);
    }

    /// Pixels of `b` (on the primary surface) changed.
    pub(super) fn damage(&mut self, b: PixBox) {
        self.push(Entry::Damage(b));
    }

    /// Pixels of `boxes` (on the primary surface, inside it, sources too)
    /// took the values of the pixels `(dx, dy)` before them.
    pub(super) fn moved(&mut self, boxes: &[PixBox], dx: i64, dy: i64) {
        if boxes.len() > MAX_COPY_BOXES {
            if let Some(b) = extents(boxes) {
                self.damage(b);
            }
            return;
        }
        if !boxes.is_empty() {
            self.push(Entry::Move {
                boxes: boxes.to_vec(),
                dx,
                dy,
            });
        }
    }

    /// The primary surface was replaced, destroyed or cleared: every cursor
    /// is stale from now on.
    pub(super) fn invalidate(&mut self) {
        self.first = self.next().saturating_add(1);
        self.entries.clear();
    }

    /// Starts recording; the position after everything so far.
    pub(super) fn position(&mut self, surface_id: u32) -> JournalCursor {
        self.enabled = true;
        if self.id == 0 {
            self.id = NEXT_JOURNAL.fetch_add(1, Ordering::Relaxed);
        }
        JournalCursor {
            journal: self.id,
            surface_id,
            seq: self.next(),
        }
    }

    /// The plan from `cursor` to now for `monitor` (a rectangle of the
    /// primary surface `surface_id`), or `None` when the consumer must copy
    /// everything again.
    pub(super) fn plan(
        &self,
        surface_id: u32,
        cursor: JournalCursor,
        monitor: PixBox,
    ) -> Option<(Plan, JournalCursor)> {
        if !self.enabled
            || cursor.journal != self.id
            || cursor.surface_id != surface_id
            || cursor.seq < self.first
            || cursor.seq > self.next()
        {
            return None;
        }
        let skip = usize::try_from(cursor.seq - self.first).ok()?;
        let plan = plan(self.entries.iter().skip(skip), monitor)?;
        Some((
            plan,
            JournalCursor {
                journal: self.id,
                surface_id,
                seq: self.next(),
            },
        ))
    }
}

/// A box in signed monitor coordinates, `[l, r) × [t, b)`, non-empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct B {
    l: i64,
    t: i64,
    r: i64,
    b: i64,
}

impl B {
    fn new(l: i64, t: i64, r: i64, b: i64) -> Option<B> {
        (l < r && t < b).then_some(B { l, t, r, b })
    }

    fn of(p: &PixBox, ox: i64, oy: i64) -> Option<B> {
        let c = |v: usize| i64::try_from(v).ok();
        B::new(
            c(p.x0)?.checked_sub(ox)?,
            c(p.y0)?.checked_sub(oy)?,
            c(p.x1)?.checked_sub(ox)?,
            c(p.y1)?.checked_sub(oy)?,
        )
    }

    fn intersect(&self, o: &B) -> Option<B> {
        B::new(self.l.max(o.l), self.t.max(o.t), self.r.min(o.r), self.b.min(o.b))
    }

    fn shift(&self, dx: i64, dy: i64) -> Option<B> {
        B::new(
            self.l.checked_add(dx)?,
            self.t.checked_add(dy)?,
            self.r.checked_add(dx)?,
            self.b.checked_add(dy)?,
        )
    }

    fn union(&self, o: &B) -> B {
        B {
            l: self.l.min(o.l),
            t: self.t.min(o.t),
            r: self.r.max(o.r),
            b: self.b.max(o.b),
        }
    }

    fn contains(&self, o: &B) -> bool {
        o.l >= self.l && o.t >= self.t && o.r <= self.r && o.b <= self.b
    }

    /// `self \ o` as at most four boxes.
    fn minus(&self, o: &B) -> Vec<B> {
        let Some(i) = self.intersect(o) else { return vec![*self] };
        [
            B::new(self.l, self.t, self.r, i.t),
            B::new(self.l, i.b, self.r, self.b),
            B::new(self.l, i.t, i.l, i.b),
            B::new(i.r, i.t, self.r, i.b),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn patch(&self) -> Option<Patch> {
        Some(Patch {
            x: u32::try_from(self.l).ok()?,
            y: u32::try_from(self.t).ok()?,
            w: u32::try_from(self.r.checked_sub(self.l)?).ok()?,
            h: u32::try_from(self.b.checked_sub(self.t)?).ok()?,
        })
    }
}

/// Rectangles to send, bounded.
#[derive(Debug, Default)]
struct Dirty {
    boxes: Vec<B>,
    /// Comparisons made so far (see [`MAX_PLAN_WORK`]).
    work: u64,
}

impl Dirty {
    fn add(&mut self, b: B) {
        self.work = self.work.saturating_add(2 * self.boxes.len() as u64 + 1);
        if self.boxes.iter().any(|d| d.contains(&b)) {
            return;
        }
        self.boxes.retain(|d| !b.contains(d));
        self.boxes.push(b);
        if self.boxes.len() > MAX_DIRTY
            && let Some(all) = self.boxes.iter().copied().reduce(|a, d| a.union(&d))
        {
            self.boxes = vec![all];
        }
    }
}

/// A move not yet emitted: its single box may absorb the next scroll of
/// the same box.
struct Pending {
    dest: B,
    dx: i64,
    dy: i64,
}

/// Emits a pending move, only where its (summed) source is on the monitor.
fn flush(p: &Pending, m: &B, moves: &mut Vec<(Vec<B>, i64, i64)>) -> Option<()> {
    if let Some(v) = p.dest.intersect(&m.shift(p.dx, p.dy)?) {
        moves.push((vec![v], p.dx, p.dy));
    }
    Some(())
}

/// The plan for `entries` on `monitor` (surface coordinates); `None` when a
/// coordinate does not fit (the consumer copies everything).
fn plan<'a>(entries: impl Iterator<Item = &'a Entry>, monitor: PixBox) -> Option<Plan> {
    let ox = i64::try_from(monitor.x0).ok()?;
    let oy = i64::try_from(monitor.y0).ok()?;
    let m = B::of(&monitor, ox, oy)?;
    let mut dirty = Dirty::default();
    let mut moves: Vec<(Vec<B>, i64, i64)> = Vec::new();
    let mut pending: Option<Pending> = None;
    for e in entries {
        match e {
            Entry::Damage(p) => {
                if let Some(b) = B::of(p, ox, oy).and_then(|b| b.intersect(&m)) {
                    dirty.add(b);
                }
            }
            Entry::Move { boxes, dx, dy } => {
                let (dx, dy) = (*dx, *dy);
                // Destinations on the monitor whose source is on it too;
                // the rest of each destination is to be sent.
                let src_ok = m.shift(dx, dy)?;
                let mut dest = Vec::new();
                let mut unsourced = Vec::new();
                for p in boxes {
                    let Some(b) = B::of(p, ox, oy).and_then(|b| b.intersect(&m)) else {
                        continue;
                    };
                    match b.intersect(&src_ok) {
                        Some(ok) => {
                            unsourced.extend(b.minus(&ok));
                            dest.push(ok);
                        }
                        None => unsourced.push(b),
                    }
                }
                // Stale sources make stale destinations (sources are read
                // before anything is written).
                if dirty.work > MAX_PLAN_WORK {
                    return None;
                }
                let before: Vec<B> = dirty.boxes.clone();
                for d in &before {
                    let Some(moved) = d.shift(dx, dy) else { continue };
                    for b in &dest {
                        if let Some(t) = moved.intersect(b) {
                            dirty.add(t);
                        }
                    }
                }
                for u in unsourced {
                    dirty.add(u);
                }
                if dest.is_empty() {
                    continue;
                }
                if let (Some(p), [one]) = (&mut pending, dest.as_slice())
                    && p.dest == *one
                {
                    // Two moves of one box make one move by the sum; what
                    // the second move brought in from outside the box (its
                    // uncovered strip) is sent, and so is what the summed
                    // source misses on the monitor.
                    for s in one.minus(&one.shift(dx, dy)?) {
                        dirty.add(s);
                    }
                    let (sx, sy) = (p.dx.checked_add(dx)?, p.dy.checked_add(dy)?);
                    // Where the summed source falls off the monitor the
                    // move is not done (`flush` shrinks it): sent instead.
                    match one.intersect(&m.shift(sx, sy)?) {
                        Some(v) => one.minus(&v).into_iter().for_each(|s| dirty.add(s)),
                        None => dirty.add(*one),
                    }
                    p.dx = sx;
                    p.dy = sy;
                    continue;
                }
                if let Some(p) = pending.take() {
                    flush(&p, &m, &mut moves)?;
                }
                match dest.as_slice() {
                    [one] => pending = Some(Pending { dest: *one, dx, dy }),
                    _ => moves.push((dest, dx, dy)),
                }
            }
        }
    }
    if let Some(p) = pending.take() {
        flush(&p, &m, &mut moves)?;
    }
    let mut out = Plan::default();
    for (boxes, dx, dy) in moves {
        if dx == 0 && dy == 0 {
            continue;
        }
        out.moves.push(PlannedMove {
            boxes: boxes.iter().map(B::patch).collect::<Option<_>>()?,
            dx: i32::try_from(dx).ok()?,
            dy: i32::try_from(dy).ok()?,
        });
    }
    if dirty.work > MAX_PLAN_WORK {
        return None;
    }
    out.dirty = dirty.boxes.iter().map(B::patch).collect::<Option<_>>()?;
    Some(out)
}
