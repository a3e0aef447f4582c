//! The stream scheduler: on each tick, counts arrivals for the reports,
//! drops late encoded frames, hands the due ones to the decoders, takes the
//! decoded frames back and picks the newest due one of every stream to draw,
//! and says when to tick again (see "Scheduling" in the parent module).

use super::*;

/// What a waiting frame's time says at `now`.
enum Verdict {
    /// Not yet: wait this many milliseconds.
    Wait(u32),
    /// Past by more than the tolerance: drop it (or do not show it).
    Late,
    /// Show it (unless a newer one is due too).
    Due,
}

fn verdict(m: &Meta, now: u32) -> Verdict {
    let late = mm_diff(now, m.mm_time);
    let waited = m.seen_at.map_or(0, |s| now.wrapping_sub(s));
    let dropped = late > 0 && late.unsigned_abs() > LATE_TOLERANCE_MS;
    let ready = m.mm_time == 0 || late >= 0 || waited >= MAX_WAIT_MS;
    if !dropped && !ready {
        let until_time = late.unsigned_abs();
        let until_cap = MAX_WAIT_MS.saturating_sub(waited);
        Verdict::Wait(until_time.min(until_cap).clamp(1, MAX_WAIT_MS))
    } else if dropped && m.mm_time != 0 && waited < MAX_WAIT_MS {
        Verdict::Late
    } else {
        Verdict::Due
    }
}

fn wake_in(tick: &mut VideoTick, ms: u32) {
    tick.next_wake_ms = Some(tick.next_wake_ms.map_or(ms, |w| w.min(ms)));
}

impl StreamState {
    /// Runs the scheduler at multimedia time `now` (see
    /// [`crate::display::DisplayDecoder::stream_tick`]).
    pub(crate) fn tick(&mut self, now: u32, surfaces: &Surfaces) -> VideoTick {
        self.last_now = now;
        let mut tick = VideoTick::default();
        for id in 0..MAX_STREAMS {
            self.tick_one(id, now, surfaces, &mut tick);
        }
        tick
    }

    /// The clock jumped: every frame already seen waits again from `now`.
    pub(crate) fn reschedule(&mut self, now: u32) {
        for st in self.streams.iter_mut().flatten() {
            st.decoder.0.reschedule(now);
            let metas = st
                .queue
                .iter_mut()
                .map(|f| &mut f.meta)
                .chain(st.in_flight.iter_mut())
                .chain(st.decoded.iter_mut().map(|w| &mut w.meta));
            for m in metas.filter(|m| m.seen_at.is_some()) {
                m.seen_at = Some(now);
            }
        }
    }

    fn tick_one(&mut self, id: u32, now: u32, surfaces: &Surfaces, tick: &mut VideoTick) {
        let Some(st) = self.get_mut(id) else { return };
        if st.queue.is_empty() && st.in_flight.is_empty() && st.decoded.is_empty() {
            return;
        }
        if !surfaces.contains_key(&st.surface_id) {
            let surface_id = st.surface_id;
            self.remove(id);
            self.error(&StreamError::NoSurface { id, surface_id });
            return;
        }
        self.count_arrivals(id, now);
        if let Some(f) = self.pick_encoded(id, now, tick) {
            self.queued_bytes = self.queued_bytes.saturating_sub(f.data.len());
            self.sync_meter();
            if let Some(st) = self.get_mut(id) {
                st.in_flight.push_back(f.meta);
                st.decoder.0.queue(EncodedFrame {
                    seq: f.meta.seq,
                    mm_time: f.meta.mm_time,
                    width: f.meta.width,
                    height: f.meta.height,
                    data: f.data,
                });
            }
        }
        self.collect(id);
        self.show(id, now, surfaces, tick);
        if self.get_mut(id).is_some_and(|st| !st.in_flight.is_empty()) {
            // A decoder still working wakes the channel; poll anyway now and then.
            wake_in(tick, MAX_WAIT_MS);
        }
    }

    /// Counts the frames no tick saw yet in the stream's report, with their margin.
    fn count_arrivals(&mut self, id: u32, now: u32) {
        let Some(st) = self.get_mut(id) else { return };
        let mut arrived = Vec::new();
        let metas = st
            .queue
            .iter_mut()
            .map(|f| &mut f.meta)
            .chain(st.in_flight.iter_mut())
            .chain(st.decoded.iter_mut().map(|w| &mut w.meta));
        for m in metas.filter(|m| m.seen_at.is_none()) {
            m.seen_at = Some(now);
            arrived.push(m.mm_time);
        }
        for mm_time in arrived {
            self.count_for_report(id, mm_time, mm_diff(mm_time, now), false, now);
        }
    }

    /// Drops the late encoded frames that have a newer one behind them and
    /// takes the newest due one (the older due ones are superseded; the
    /// newest frame is taken even late).
    fn pick_encoded(&mut self, id: u32, now: u32, tick: &mut VideoTick) -> Option<Frame> {
        let mut due: Option<Frame> = None;
        while let Some(st) = self.get_mut(id) {
            let Some(f) = st.queue.front() else { break };
            let v = verdict(&f.meta, now);
            if let Verdict::Wait(ms) = v {
                wake_in(tick, ms);
                break;
            }
            let Some(f) = st.queue.pop_front() else { break };
            // A late frame is dropped for a newer one; the newest is shown even late.
            let newer = !st.queue.is_empty();
            let dropped = match v {
                Verdict::Late if newer => Some(f),
                _ => due.replace(f),
            };
            if let Some(old) = dropped {
                self.stats.frames_late = self.stats.frames_late.saturating_add(1);
                self.count_dropped(id, 1);
                tick.dropped = tick.dropped.saturating_add(1);
                self.recycle(old.data);
            }
        }
        due
    }

    /// Takes what the decoder finished into the decoded queue.
    fn collect(&mut self, id: u32) {
        loop {
            let Some(st) = self.get_mut(id) else { return };
            let Some(r) = st.decoder.0.poll() else { return };
            // Frames before this one the decoder gave nothing for are lost.
            let mut lost = 0u64;
            let mut meta = None;
            while let Some(m) = st.in_flight.front() {
                if m.seq == r.seq {
                    meta = st.in_flight.pop_front();
                    break;
                }
                if m.seq > r.seq {
                    break;
                }
                st.in_flight.pop_front();
                lost = lost.saturating_add(1);
            }
            self.stats.frames_late = self.stats.frames_late.saturating_add(lost);
            self.count_dropped(id, lost);
            let Some(meta) = meta else {
                // Not a frame of ours (any more): nothing to show.
                if let (Ok(f), Some(st)) = (r.frame, self.get_mut(id)) {
                    st.decoder.0.recycle(f.pixels);
                }
                continue;
            };
            let frame = match r.frame {
                Ok(f) if frame_ok(&f) => f,
                Ok(f) => {
                    let error = VideoError::BadFrame {
                        width: f.width,
                        height: f.height,
                        len: f.pixels.len(),
                    };
                    self.failed(id, error);
                    continue;
                }
                Err(error) => {
                    self.failed(id, error);
                    continue;
                }
            };
            if meta.hidden {
                self.count_overflow(id, &meta);
                if let Some(st) = self.get_mut(id) {
                    st.decoder.0.recycle(frame.pixels);
                }
                continue;
            }
            self.decoded_bytes = self.decoded_bytes.saturating_add(frame.pixels.len());
            if let Some(st) = self.get_mut(id) {
                st.decoded.push_back(Waiting { meta, frame });
            }
            // Bounded: frame count, bytes (the oldest are not shown).
            while self.get_mut(id).is_some_and(|st| st.decoded.len() > MAX_QUEUED_FRAMES)
                || self.decoded_bytes > MAX_DECODED_BYTES
                || !self.budget_holds(0)
            {
                if !self.drop_oldest_decoded(id) {
                    break;
                }
            }
        }
    }

    fn failed(&mut self, id: u32, error: VideoError) {
        self.stats.frames_failed = self.stats.frames_failed.saturating_add(1);
        self.count_dropped(id, 1);
        self.error(&StreamError::Decode { id, error });
    }

    /// Hands the newest due decoded frame over to be drawn (even late: a
    /// late picture beats a stale one); late ones with a newer decoded frame
    /// behind them are not shown.
    fn show(&mut self, id: u32, now: u32, surfaces: &Surfaces, tick: &mut VideoTick) {
        let mut due: Option<Waiting> = None;
        while let Some(st) = self.get_mut(id) {
            let Some(w) = st.decoded.front() else { break };
            let v = verdict(&w.meta, now);
            if let Verdict::Wait(ms) = v {
                wake_in(tick, ms);
                break;
            }
            let Some(w) = st.decoded.pop_front() else { break };
            let newer = !st.decoded.is_empty();
            self.decoded_bytes = self.decoded_bytes.saturating_sub(w.frame.pixels.len());
            self.sync_meter();
            let dropped = match v {
                Verdict::Late if newer => Some(w),
                _ => due.replace(w),
            };
            if let Some(old) = dropped {
                self.stats.frames_late = self.stats.frames_late.saturating_add(1);
                self.count_dropped(id, 1);
                tick.dropped = tick.dropped.saturating_add(1);
                if let Some(st) = self.get_mut(id) {
                    st.decoder.0.recycle(old.frame.pixels);
                }
            }
        }
        let (Some(w), Some(st)) = (due, self.get_mut(id)) else {
            return;
        };
        let surface_id = st.surface_id;
        let inside = surfaces
            .get(&surface_id)
            .is_some_and(|s| dest_inside(&w.meta.dest, s.width, s.height));
        if !inside {
            st.decoder.0.recycle(w.frame.pixels);
            self.stats.frames_failed = self.stats.frames_failed.saturating_add(1);
            self.count_dropped(id, 1);
            self.error(&StreamError::BadDest { id, dest: w.meta.dest });
            return;
        }
        let mm_time = w.meta.mm_time;
        tick.frames.push(ShowFrame {
            stream: id,
            surface_id,
            dest: w.meta.dest,
            clip: st.clip.clone(),
            top_down: st.top_down,
            frame: w.frame,
        });
        self.stats.frames_rendered = self.stats.frames_rendered.saturating_add(1);
        self.count_shown(id, mm_time, now);
    }
}

/// A decoded frame the canvas can draw: a sane size and all its pixels.
fn frame_ok(f: &DecodedFrame) -> bool {
    f.fits(MAX_FRAME_PIXELS)
}
