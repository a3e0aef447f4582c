//! MJPEG frames: the Huffman tables abbreviated frames leave out, and decoding and drawing
//! a due frame.

use super::*;

/// Where a JPEG's DHT segments are and where its SOS marker starts
/// (`None` when the markers before SOS cannot be walked).
pub(super) struct JpegTables {
    pub(super) dht: Vec<std::ops::Range<usize>>,
    pub(super) sos: usize,
}

pub(super) fn jpeg_tables(data: &[u8]) -> Option<JpegTables> {
    if data.get(..2)? != [0xff, 0xd8] {
        return None;
    }
    let mut dht = Vec::new();
    let mut pos = 2usize;
    loop {
        if *data.get(pos)? != 0xff {
            return None;
        }
        let mut m = pos.checked_add(1)?;
        while *data.get(m)? == 0xff {
            m = m.checked_add(1)?; // fill bytes
        }
        let marker = *data.get(m)?;
        let after = m.checked_add(1)?;
        match marker {
            0xda => return Some(JpegTables { dht, sos: pos }),
            0x01 | 0xd0..=0xd7 => pos = after, // no length
            _ => {
                let hi = usize::from(*data.get(after)?);
                let lo = usize::from(*data.get(after.checked_add(1)?)?);
                let len = (hi << 8) | lo;
                if len < 2 {
                    return None;
                }
                let end = after.checked_add(len)?;
                if end > data.len() {
                    return None;
                }
                if marker == 0xc4 {
                    dht.push(pos..end);
                }
                pos = end;
            }
        }
    }
}

impl DisplayState {
    /// Decodes `f` and draws it into the stream's surface.
    pub(super) fn render_frame(&mut self, id: u32, f: &Frame) -> Result<Option<PixBox>, StreamError> {
        let max_rects = self.limits.max_clip_rects;
        let ss = &mut self.streams;
        let st = ss
            .streams
            .get(slot(id).ok_or(StreamError::BadId { id })?)
            .and_then(Option::as_ref)
            .ok_or(StreamError::NoSuchStream { id })?;
        let surface_id = st.surface_id;
        let surface = self
            .surfaces
            .get_mut(&surface_id)
            .ok_or(StreamError::NoSurface { id, surface_id })?;
        if !dest_inside(&f.dest, surface.width, surface.height) {
            return Err(StreamError::BadDest { id, dest: f.dest });
        }
        let (sw, sh) = surface.dims();
        let region = draw_region("stream", &f.dest, &st.clip, sw, sh, max_rects)
            .map_err(|_| StreamError::TooManyClipRects { id, count: usize::MAX })?;
        let decoded = codec::jpeg::decode_capped(&f.data, MAX_FRAME_PIXELS, Some((f.width, f.height)), &mut ss.frame);
        decoded.map_err(|error| StreamError::Decode { id, error })?;
        // View the decoded pixels as an RGBA bitmap (borrowing the buffer for
        // the draw, then giving it back) so the canvas can flip and scale it.
        let (width, height) = (ss.frame.width, ss.frame.height);
        let bitmap = Bitmap {
            format: bitmap_fmt::RGBA,
            flags: if st.top_down { bitmap_flags::TOP_DOWN } else { 0 },
            width,
            height,
            stride: width.saturating_mul(4),
            palette: PaletteRef::None,
            data: std::mem::take(&mut ss.frame.data),
        };
        let damage = match Source::bitmap("stream", &bitmap, None, surface.format) {
            Ok(src) => {
                let area = Rect::ltrb(
                    0,
                    0,
                    i32::try_from(width).unwrap_or(i32::MAX),
                    i32::try_from(height).unwrap_or(i32::MAX),
                );
                Ok(canvas::blit(surface, &region, &src, &f.dest, &area, Rop::Copy))
            }
            Err(_) => Err(StreamError::Decode {
                id,
                error: CodecError::invalid("mjpeg", "decoded frame has an unexpected size"),
            }),
        };
        ss.frame.data = bitmap.data;
        damage
    }
}
