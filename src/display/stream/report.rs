//! Stream QoS reports (spice-gtk's counters after STREAM_ACTIVATE_REPORT, and the
//! "no such stream" report).

use super::*;
use crate::proto::channel::display::StreamActivateReport;

/// The report telling the server a stream does not exist.
pub(super) fn invalid_report(id: u32) -> StreamReport {
    StreamReport {
        stream_id: id,
        num_frames: 0,
        num_drops: u32::MAX,
        ..StreamReport::default()
    }
}

impl StreamState {
    pub(super) fn push_report(&mut self, r: StreamReport) {
        if self.reports.len() >= MAX_PENDING_REPORTS {
            self.reports.remove(0);
            self.stats.reports_discarded = self.stats.reports_discarded.saturating_add(1);
        }
        self.reports.push(r);
    }

    /// Counts one frame in the stream's report window (`margin < 0` or
    /// `dropped` counts as a drop) and queues a report when one is due.
    pub(super) fn count_for_report(&mut self, id: u32, mm_time: u32, margin: i32, dropped: bool, now: u32) {
        let Some(st) = self.get_mut(id) else { return };
        let Some(r) = st.report.as_mut() else { return };
        if r.num_frames == 0 {
            r.start_frame_time = mm_time;
            r.start_now = now;
        }
        r.num_frames = r.num_frames.saturating_add(1);
        if margin < 0 || dropped {
            r.num_drops = r.num_drops.saturating_add(1);
            r.drops_seq = r.drops_seq.saturating_add(1);
        } else {
            r.drops_seq = 0;
        }
        let timed_out = u32::try_from(mm_diff(now, r.start_now)).is_ok_and(|d| d >= r.timeout_ms);
        if r.num_frames >= r.max_window || timed_out || r.drops_seq >= REPORT_DROP_SEQ_LIMIT {
            let report = StreamReport {
                stream_id: id,
                unique_id: r.unique_id,
                start_frame_mm_time: r.start_frame_time,
                end_frame_mm_time: mm_time,
                num_frames: r.num_frames,
                num_drops: r.num_drops,
                last_frame_delay: margin,
                audio_delay: u32::MAX,
            };
            r.num_frames = 0;
            r.num_drops = 0;
            r.drops_seq = 0;
            self.push_report(report);
        }
    }
}

impl StreamState {
    pub(super) fn activate_report(&mut self, a: &StreamActivateReport) {
        let Some(st) = self.get_mut(a.stream_id) else {
            self.unknown(a.stream_id, true);
            return;
        };
        st.report = Some(Reporting {
            unique_id: a.unique_id,
            max_window: a.max_window_size,
            timeout_ms: a.timeout_ms,
            start_frame_time: 0,
            start_now: 0,
            num_frames: 0,
            num_drops: 0,
            drops_seq: 0,
        });
    }
}
