//! STREAM_* messages: creating, clipping and destroying streams, and
//! queueing their frames (see "Drop policy" in the parent module).

use super::mjpeg::{MjpegDecoder, jpeg_tables};
use super::report::invalid_report;
use super::*;
use crate::display::Limits;
use crate::proto::channel::display::{DisplayServer, StreamCreate, stream_flags};

impl StreamState {
    /// Applies a STREAM_* message (frames are only queued here).
    pub(crate) fn handle(&mut self, m: &DisplayServer, surfaces: &Surfaces, limits: &Limits) {
        match m {
            DisplayServer::StreamCreate(c) => self.create(c, surfaces, limits),
            DisplayServer::StreamData(d) => self.data(surfaces, limits, d.id, d.multi_media_time, None, &d.data),
            DisplayServer::StreamDataSized(d) => {
                let sized = Some((d.width, d.height, d.dest));
                self.data(surfaces, limits, d.id, d.multi_media_time, sized, &d.data);
            }
            DisplayServer::StreamClip(c) => self.clip(c.id, &c.clip, limits),
            DisplayServer::StreamActivateReport(a) => self.activate_report(a),
            DisplayServer::StreamDestroy { id } if !self.remove(*id) => self.unknown(*id, false),
            DisplayServer::StreamDestroy { .. } => {}
            DisplayServer::StreamDestroyAll => {
                for id in 0..MAX_STREAMS {
                    self.remove(id);
                }
            }
            _ => {}
        }
    }

    pub(super) fn unknown(&mut self, id: u32, report: bool) {
        self.stats.unknown_id = self.stats.unknown_id.saturating_add(1);
        self.error(&StreamError::NoSuchStream { id });
        if report {
            self.push_report(invalid_report(id));
        }
    }

    fn create(&mut self, c: &StreamCreate, surfaces: &Surfaces, limits: &Limits) {
        if let Err(e) = self.try_create(c, surfaces, limits) {
            self.error(&e);
            if !matches!(e, StreamError::Duplicate { .. }) {
                self.stats.refused = self.stats.refused.saturating_add(1);
                self.push_report(invalid_report(c.id));
            }
        }
    }

    fn try_create(&mut self, c: &StreamCreate, surfaces: &Surfaces, limits: &Limits) -> Result<(), StreamError> {
        let id = c.id;
        let idx = slot(id).ok_or(StreamError::BadId { id })?;
        if self.streams.get(idx).is_some_and(Option::is_some) {
            return Err(StreamError::Duplicate { id });
        }
        let codec = c.codec_type;
        if !(video_codec::MJPEG..=video_codec::H265).contains(&codec) {
            return Err(StreamError::UnknownCodec { id, codec });
        }
        if !self.codecs().contains(&codec) {
            return Err(StreamError::CodecNotAdvertised { id, codec });
        }
        let (width, height) = (c.stream_width, c.stream_height);
        if !frame_size_ok(width, height, limits.max_surface_dim) {
            return Err(StreamError::BadSize { id, width, height });
        }
        let surface = surfaces.get(&c.surface_id).ok_or(StreamError::NoSurface {
            id,
            surface_id: c.surface_id,
        })?;
        if !dest_inside(&c.dest, surface.width, surface.height) {
            return Err(StreamError::BadDest { id, dest: c.dest });
        }
        if let Clip::Rects(r) = &c.clip
            && r.len() > limits.max_clip_rects
        {
            return Err(StreamError::TooManyClipRects { id, count: r.len() });
        }
        let factory_mjpeg = self
            .factory
            .as_ref()
            .is_some_and(|f| f.codecs().contains(&video_codec::MJPEG));
        let encoded_wait = codec == video_codec::MJPEG && !factory_mjpeg;
        let decoder: Box<dyn VideoDecoder> = if encoded_wait {
            Box::new(MjpegDecoder::default())
        } else {
            let info = VideoStreamInfo {
                id,
                codec,
                width,
                height,
            };
            let factory = self.factory.as_ref().ok_or(StreamError::NoDecoder { id, codec })?;
            factory
                .create(&info, Arc::clone(&self.wake))
                .ok_or(StreamError::NoDecoder { id, codec })?
        };
        let st = Stream {
            codec,
            surface_id: c.surface_id,
            top_down: c.flags & stream_flags::TOP_DOWN != 0,
            width,
            height,
            dest: c.dest,
            clip: c.clip.clone(),
            decoder: Decoder(decoder),
            encoded_wait,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            decoded: VecDeque::new(),
            last_mm: None,
            report: None,
            huffman: Vec::new(),
            info: StreamInfo::new(id, codec, width, height),
        };
        if let Some(s) = self.streams.get_mut(idx) {
            *s = Some(st);
        }
        self.stats.created = self.stats.created.saturating_add(1);
        Ok(())
    }

    fn clip(&mut self, id: u32, clip: &Clip, limits: &Limits) {
        let max = limits.max_clip_rects;
        let Some(st) = self.get_mut(id) else {
            self.unknown(id, true);
            return;
        };
        match clip {
            Clip::Rects(r) if r.len() > max => {
                let e = StreamError::TooManyClipRects { id, count: r.len() };
                self.error(&e);
            }
            _ => st.clip = clip.clone(),
        }
    }

    /// Queues one frame (STREAM_DATA, or STREAM_DATA_SIZED with its size and dest).
    fn data(
        &mut self,
        surfaces: &Surfaces,
        limits: &Limits,
        id: u32,
        mm_time: u32,
        sized: Option<(u32, u32, Rect)>,
        data: &[u8],
    ) {
        let Some(st) = self.get_mut(id) else {
            self.unknown(id, true);
            return;
        };
        let surface_id = st.surface_id;
        let encoded_wait = st.encoded_wait;
        let (width, height, dest) = sized.unwrap_or((st.width, st.height, st.dest));
        self.count_bytes(id, data.len());
        let check = if data.len() > MAX_FRAME_BYTES {
            Err(StreamError::FrameTooLarge { id, size: data.len() })
        } else if !frame_size_ok(width, height, limits.max_surface_dim) {
            Err(StreamError::BadSize { id, width, height })
        } else {
            match surfaces.get(&surface_id) {
                None => Err(StreamError::NoSurface { id, surface_id }),
                Some(s) if !dest_inside(&dest, s.width, s.height) => Err(StreamError::BadDest { id, dest }),
                Some(_) => Ok(()),
            }
        };
        if let Err(e) = check {
            self.stats.frames_failed = self.stats.frames_failed.saturating_add(1);
            self.count_dropped(id, 1);
            let now = self.last_now;
            self.count_for_report(id, mm_time, mm_diff(mm_time, now), true, now);
            if matches!(e, StreamError::NoSurface { .. }) {
                // The surface went away under the stream: tear it down.
                self.remove(id);
            }
            self.error(&e);
            return;
        }
        let meta = Meta {
            seq: self.next_seq,
            mm_time,
            width,
            height,
            dest,
            seen_at: None,
            hidden: false,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        if encoded_wait {
            self.queue_encoded(id, meta, data);
        } else {
            self.queue_to_decoder(id, meta, data);
        }
    }

    /// An MJPEG frame waits encoded for its time (see the parent module).
    fn queue_encoded(&mut self, id: u32, meta: Meta, data: &[u8]) {
        let mm_time = meta.mm_time;
        // Non-monotonic time: flush the queue (spice-gtk resets the stream's queue).
        if let Some(last) = self.get_mut(id).and_then(|st| st.queue.back())
            && mm_diff(mm_time, last.meta.mm_time) < 0
        {
            while self.drop_oldest(id) {}
        }
        // Bounded queue: frame count, time span, bytes.
        loop {
            let Some(st) = self.get_mut(id) else { return };
            let full = st.queue.len() >= MAX_QUEUED_FRAMES
                || st.queue.front().is_some_and(|f| {
                    u32::try_from(mm_diff(mm_time, f.meta.mm_time)).is_ok_and(|d| d > MAX_QUEUE_SPAN_MS)
                });
            let over_bytes = self.queued_bytes.saturating_add(data.len()) > MAX_QUEUED_BYTES
                || !self.budget_holds(data.len().saturating_add(MAX_TABLE_BYTES));
            if !(full || over_bytes) || !self.drop_oldest(id) {
                break;
            }
        }
        if self.queued_bytes.saturating_add(data.len()) > MAX_QUEUED_BYTES
            || !self.budget_holds(data.len().saturating_add(MAX_TABLE_BYTES))
        {
            self.count_overflow(id, &meta);
            return;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        match self.get_mut(id) {
            Some(st) => with_huffman_tables(st, data, &mut buf),
            None => buf.extend_from_slice(data),
        }
        self.queued_bytes = self.queued_bytes.saturating_add(buf.len());
        self.sync_meter();
        self.stats.frames_received = self.stats.frames_received.saturating_add(1);
        self.count_received(id, meta.width, meta.height);
        if let Some(st) = self.get_mut(id) {
            st.queue.push_back(Frame { meta, data: buf });
        }
    }

    /// A frame of an inter-coded codec goes to the decoder at once: later
    /// frames depend on it (see the parent module).
    fn queue_to_decoder(&mut self, id: u32, meta: Meta, data: &[u8]) {
        let Some(st) = self.get_mut(id) else { return };
        // Non-monotonic time: what waits is flushed, still decoded, not shown.
        if st.last_mm.is_some_and(|last| mm_diff(meta.mm_time, last) < 0) {
            for m in &mut st.in_flight {
                m.hidden = true;
            }
            while self.drop_oldest_decoded(id) {}
        }
        let Some(st) = self.get_mut(id) else { return };
        if st.in_flight.len() >= MAX_QUEUED_FRAMES {
            // The decoder does not keep up: refused (the server sees the drops).
            self.count_overflow(id, &meta);
            return;
        }
        st.last_mm = Some(meta.mm_time);
        st.in_flight.push_back(meta);
        let data = if st.codec == video_codec::MJPEG {
            let mut buf = Vec::with_capacity(data.len().saturating_add(st.huffman.len()));
            with_huffman_tables(st, data, &mut buf);
            buf
        } else {
            data.to_vec()
        };
        st.decoder.0.queue(EncodedFrame {
            seq: meta.seq,
            mm_time: meta.mm_time,
            width: meta.width,
            height: meta.height,
            data,
        });
        self.stats.frames_received = self.stats.frames_received.saturating_add(1);
        self.count_received(id, meta.width, meta.height);
    }
}

/// Appends MJPEG frame `data` to `buf`, an abbreviated frame (no DHT) with
/// the Huffman tables of the stream's latest frame that had some; a frame
/// with tables makes them the stream's.
fn with_huffman_tables(st: &mut Stream, data: &[u8], buf: &mut Vec<u8>) {
    match jpeg_tables(data) {
        Some(t) if !t.dht.is_empty() => {
            let size: usize = t.dht.iter().map(ExactSizeIterator::len).sum();
            if size <= MAX_TABLE_BYTES {
                st.huffman.clear();
                for r in &t.dht {
                    st.huffman.extend_from_slice(data.get(r.clone()).unwrap_or_default());
                }
            }
            buf.extend_from_slice(data);
        }
        Some(t) if !st.huffman.is_empty() && data.len() <= MAX_FRAME_BYTES - MAX_TABLE_BYTES => {
            let (head, tail) = data.split_at(t.sos.min(data.len()));
            buf.extend_from_slice(head);
            buf.extend_from_slice(&st.huffman);
            buf.extend_from_slice(tail);
        }
        _ => buf.extend_from_slice(data),
    }
}
