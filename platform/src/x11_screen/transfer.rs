//! Pixels into the pixmap: `PutImage` (banded, from the caller's rows),
//! MIT-SHM through the staging ring, and moves inside the pixmap
//! (`CopyArea`) for the journal's replayed COPY_BITS.

use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{self, ClipOrdering, ConnectionExt as _, ImageFormat, Pixmap, Rectangle};

use super::{BPP, GATHER_BYTES, PUT_IMAGE_HEADER, Rect, X11Screen};
use crate::x11::X11Error;

impl X11Screen {
    /// Sends the `w` × `h` pixels at (`x`, `y`) of the image: row `r` is
    /// `rows[r * stride ..][.. w * 4]`, BGRX bytes. Contiguous rows go in as
    /// few requests as the server allows, written straight from `rows`.
    pub fn put(&mut self, x: u32, y: u32, w: u32, h: u32, rows: &[u8], stride: usize) -> Result<(), X11Error> {
        let Some(image) = &self.image else { return Ok(()) };
        let area = Rect {
            x: i32::try_from(x).map_err(|_| X11Error::TooLarge(x, y))?,
            y: i32::try_from(y).map_err(|_| X11Error::TooLarge(x, y))?,
            w,
            h,
        };
        let Some(area) = area.intersect(&Rect {
            x: 0,
            y: 0,
            w: image.width,
            h: image.height,
        }) else {
            return Ok(());
        };
        let pixmap = image.pixmap;
        let width = usize::try_from(area.w).map_err(|_| X11Error::TooLarge(w, h))?;
        let row_bytes = width.checked_mul(BPP).ok_or(X11Error::TooLarge(w, h))?;
        let (Ok(xw), Ok(dx)) = (u16::try_from(area.w), i16::try_from(area.x)) else {
            return Err(X11Error::TooLarge(w, h));
        };
        if self.shm.is_some() {
            return self.put_shm(pixmap, &area, rows, stride, row_bytes);
        }
        // Rows per request: as many as a request may hold. Rows that are not
        // contiguous in `rows` (a rectangle narrower than the surface) are
        // gathered into a bounded scratch buffer first: one request per row
        // would cost far more (request bookkeeping, socket writes, dispatch
        // in the server) than that copy.
        let contiguous = stride == row_bytes;
        let limit = if contiguous {
            self.max_put_bytes
        } else {
            self.max_put_bytes.min(GATHER_BYTES)
        };
        let band = (limit.saturating_sub(PUT_IMAGE_HEADER) / row_bytes.max(1)).max(1);
        let rows_total = usize::try_from(area.h).map_err(|_| X11Error::TooLarge(w, h))?;
        let mut row = 0usize;
        let mut scratch = std::mem::take(&mut self.scratch);
        while row < rows_total {
            let n = band.min(rows_total - row);
            let start = row.checked_mul(stride).ok_or(X11Error::TooLarge(w, h))?;
            let len = (n - 1)
                .checked_mul(stride)
                .and_then(|v| v.checked_add(row_bytes))
                .ok_or(X11Error::TooLarge(w, h))?;
            let span = start
                .checked_add(len)
                .and_then(|end| rows.get(start..end))
                .ok_or(X11Error::ShortImage)?;
            let data = if contiguous || n == 1 {
                span
            } else {
                scratch.clear();
                for r in span.chunks(stride).take(n) {
                    scratch.extend_from_slice(r.get(..row_bytes).ok_or(X11Error::ShortImage)?);
                }
                &scratch[..]
            };
            let dy = i64::from(area.y) + i64::try_from(row).map_err(|_| X11Error::TooLarge(w, h))?;
            let (Ok(dy), Ok(nh)) = (i16::try_from(dy), u16::try_from(n)) else {
                return Err(X11Error::TooLarge(w, h));
            };
            self.conn
                .put_image(ImageFormat::Z_PIXMAP, pixmap, self.gc, xw, nh, dx, dy, 0, 24, data)?;
            row += n;
        }
        self.scratch = scratch;
        Ok(())
    }

    /// [`Self::put`] through the shared-memory ring: bands of rows of at most
    /// a quarter of the ring each, copied into it and read by the server.
    fn put_shm(
        &mut self,
        pixmap: Pixmap,
        area: &Rect,
        rows: &[u8],
        stride: usize,
        row_bytes: usize,
    ) -> Result<(), X11Error> {
        let too_large = || X11Error::TooLarge(area.w, area.h);
        let (Ok(w), Ok(dx)) = (u16::try_from(area.w), i16::try_from(area.x)) else {
            return Err(too_large());
        };
        let Some(mut ring) = self.shm.take() else { return Ok(()) };
        let band = ((ring.len() / 4) / row_bytes.max(1)).max(1);
        let rows_total = usize::try_from(area.h).map_err(|_| too_large())?;
        let result = (|| {
            let mut row = 0usize;
            while row < rows_total {
                let n = band.min(rows_total - row);
                let bytes = n.checked_mul(row_bytes).ok_or_else(too_large)?;
                let Some(staged) = ring.reserve(bytes) else {
                    return Err(too_large());
                };
                if staged.wrapped {
                    // The server reads requests in order: after this round
                    // trip no earlier ShmPutImage still reads the ring.
                    self.conn.get_input_focus()?.reply()?;
                }
                let dst = ring.bytes(staged, bytes).ok_or(X11Error::ShortImage)?;
                for (r, out) in dst.chunks_exact_mut(row_bytes).enumerate() {
                    let start = (row + r).checked_mul(stride).ok_or_else(too_large)?;
                    let src = start
                        .checked_add(row_bytes)
                        .and_then(|end| rows.get(start..end))
                        .ok_or(X11Error::ShortImage)?;
                    out.copy_from_slice(src);
                }
                let dy = i64::from(area.y) + i64::try_from(row).map_err(|_| too_large())?;
                let (Ok(dy), Ok(nh), Ok(offset)) = (i16::try_from(dy), u16::try_from(n), u32::try_from(staged.offset))
                else {
                    return Err(too_large());
                };
                self.conn.shm_put_image(
                    pixmap,
                    self.gc,
                    w,
                    nh,
                    0,
                    0,
                    w,
                    nh,
                    dx,
                    dy,
                    24,
                    ImageFormat::Z_PIXMAP.into(),
                    false,
                    ring.seg,
                    offset,
                )?;
                row += n;
            }
            Ok(())
        })();
        self.shm = Some(ring);
        result
    }

    /// Moves pixels inside the image, as COPY_BITS did on the guest surface:
    /// every pixel `p` of `boxes` takes the value pixel `p - (dx, dy)` had
    /// before (all boxes at once: one `CopyArea`, clipped to the boxes when
    /// there are several). Sources outside the image leave their
    /// destinations unchanged (the caller sends those).
    pub fn copy(&mut self, boxes: &[Rect], dx: i32, dy: i32) -> Result<(), X11Error> {
        let Some(image) = &self.image else { return Ok(()) };
        let pixmap = image.pixmap;
        let bounds = Rect {
            x: 0,
            y: 0,
            w: image.width,
            h: image.height,
        };
        let inside: Vec<Rect> = boxes.iter().filter_map(|b| b.intersect(&bounds)).collect();
        let Some(all) = inside.iter().copied().reduce(|a, b| a.union(&b)) else {
            return Ok(());
        };
        let Some((x, y, w, h)) = all.to_x() else {
            return Err(X11Error::TooLarge(all.w, all.h));
        };
        let (Ok(sx), Ok(sy)) = (
            i16::try_from(i64::from(x) - i64::from(dx)),
            i16::try_from(i64::from(y) - i64::from(dy)),
        ) else {
            return Err(X11Error::TooLarge(all.w, all.h));
        };
        if inside.len() == 1 {
            self.conn.copy_area(pixmap, pixmap, self.gc, sx, sy, x, y, w, h)?;
            return Ok(());
        }
        let clip: Vec<Rectangle> = inside
            .iter()
            .filter_map(|r| {
                let (x, y, width, height) = r.to_x()?;
                Some(Rectangle { x, y, width, height })
            })
            .collect();
        self.conn
            .set_clip_rectangles(ClipOrdering::UNSORTED, self.gc, 0, 0, &clip)?;
        self.conn.copy_area(pixmap, pixmap, self.gc, sx, sy, x, y, w, h)?;
        self.conn
            .change_gc(self.gc, &xproto::ChangeGCAux::new().clip_mask(x11rb::NONE))?;
        Ok(())
    }
}
