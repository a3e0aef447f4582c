//! The stream scheduler: on each tick, counts arrivals for the reports,
//! drops late frames, draws the newest due frame of every stream and says
//! when to tick again (see "Scheduling" in the parent module).

use super::*;

impl DisplayState {
    /// Runs the stream scheduler at multimedia time `now_mm_time`: draws the
    /// frames that are due, drops late ones, and says when to tick again.
    ///
    /// Call it after every `handle` of a STREAM_DATA / STREAM_DATA_SIZED
    /// message (so a frame's arrival margin is measured promptly), and again
    /// when `next_wake_ms` has elapsed.
    pub fn stream_tick(&mut self, now_mm_time: u32) -> StreamTick {
        let now = now_mm_time;
        self.streams.last_now = now;
        let mut tick = StreamTick::default();
        for id in 0..MAX_STREAMS {
            self.tick_one(id, now, &mut tick);
        }
        tick
    }

    fn tick_one(&mut self, id: u32, now: u32, tick: &mut StreamTick) {
        let ss = &mut self.streams;
        let Some(st) = ss.get_mut(id) else { return };
        if st.queue.is_empty() {
            return;
        }
        if !self.surfaces.contains_key(&st.surface_id) {
            let surface_id = st.surface_id;
            ss.remove(id);
            self.stream_error(&StreamError::NoSurface { id, surface_id });
            return;
        }
        // Count arrivals for the report, with their margin.
        let n = st.queue.len();
        for i in 0..n {
            let Some(f) = ss.get_mut(id).and_then(|st| st.queue.get_mut(i)) else {
                break;
            };
            if f.seen_at.is_some() {
                continue;
            }
            f.seen_at = Some(now);
            let (mm_time, margin) = (f.mm_time, mm_diff(f.mm_time, now));
            ss.count_for_report(id, mm_time, margin, false, now);
        }
        let mut due: Option<Frame> = None;
        while let Some(st) = ss.get_mut(id) {
            let Some(f) = st.queue.front() else { break };
            let late = mm_diff(now, f.mm_time);
            let waited = f.seen_at.map_or(0, |s| now.wrapping_sub(s));
            let dropped = late > 0 && late.unsigned_abs() > LATE_TOLERANCE_MS;
            let ready = f.mm_time == 0 || late >= 0 || waited >= MAX_WAIT_MS;
            if !dropped && !ready {
                let until_time = late.unsigned_abs();
                let until_cap = MAX_WAIT_MS.saturating_sub(waited);
                let wait = until_time.min(until_cap).clamp(1, MAX_WAIT_MS);
                tick.next_wake_ms = Some(tick.next_wake_ms.map_or(wait, |w| w.min(wait)));
                break;
            }
            let Some(f) = st.queue.pop_front() else { break };
            if dropped && f.mm_time != 0 && waited < MAX_WAIT_MS {
                ss.stats.frames_late = ss.stats.frames_late.saturating_add(1);
                tick.dropped = tick.dropped.saturating_add(1);
                ss.recycle(f.data);
                continue;
            }
            if let Some(older) = due.replace(f) {
                ss.stats.frames_late = ss.stats.frames_late.saturating_add(1);
                tick.dropped = tick.dropped.saturating_add(1);
                ss.recycle(older.data);
            }
        }
        if let Some(f) = due {
            match self.render_frame(id, &f) {
                Ok(damage) => {
                    self.streams.stats.frames_rendered = self.streams.stats.frames_rendered.saturating_add(1);
                    tick.rendered = tick.rendered.saturating_add(1);
                    if let (Some(b), Some(st)) = (damage, self.streams.get_mut(id)) {
                        if self.primary == Some(st.surface_id) {
                            self.journal.damage(b);
                        }
                        tick.events.push(DisplayEvent::Damage {
                            surface_id: st.surface_id,
                            rect: b.to_rect(),
                        });
                    }
                }
                Err(e) => {
                    self.streams.stats.frames_failed = self.streams.stats.frames_failed.saturating_add(1);
                    self.stream_error(&e);
                }
            }
            self.streams.recycle(f.data);
        }
    }
}
