//! Aging: the oldest full-size entries packed, or kept as their encoded
//! image (see "Packed entries" and "Encoded entries" in the parent module).

use std::sync::Arc;

use super::entry::encoded_len;
use super::{CachedPixels, ImageCache};
use crate::display::compact;
use crate::proto::channel::display::Image;

impl ImageCache {
    /// Packs the oldest full-size entries (by store or last use) while they
    /// take more than [`FULL_SIZE_BYTES`]. An entry used since it was queued
    /// goes back in the queue at its new place; one with too many colours
    /// stays full size (and is not checked again).
    pub(super) fn pack_old_entries(&mut self) {
        while self.full > self.full_limit {
            let Some((tick, id)) = self.full_order.pop_front() else {
                return;
            };
            let Some(e) = self.entries.get_mut(&id) else { continue };
            let CachedPixels::Full(data) = &e.pixels else { continue };
            if e.unpackable {
                continue;
            }
            if e.tick != tick {
                if tick < e.tick {
                    // Used since: the newest use decides.
                    self.full_order.push_back((e.tick, id));
                }
                continue;
            }
            let size = data.len() as u64;
            self.full = self.full.saturating_sub(size);
            let before = e.held();
            match compact::pack(data, e.width as usize) {
                Some(packed) => {
                    e.pixels = CachedPixels::Packed(Arc::new(packed));
                    e.encoded = None;
                    self.packed = self.packed.saturating_add(1);
                }
                None => {
                    e.unpackable = true;
                    // A photo: its encoded form, if much smaller, replaces the pixels.
                    match e.encoded.take() {
                        Some(img) if encoded_len(&img).saturating_mul(2) < size => {
                            e.pixels = CachedPixels::Encoded(img);
                            self.encoded = self.encoded.saturating_add(1);
                        }
                        _ => {}
                    }
                }
            }
            self.held = self.held.saturating_sub(before).saturating_add(e.held());
        }
    }

    /// Keeps `image` (QUIC, LZ_RGB or JPEG: decodable alone) with the entry
    /// `id` just stored from it, to stand for its pixels once the entry ages
    /// (see "Encoded entries").
    pub(crate) fn keep_encoded(&mut self, id: u64, image: Arc<Image>) {
        let Some(e) = self.entries.get_mut(&id) else { return };
        if !matches!(e.pixels, CachedPixels::Full(_)) || e.encoded.is_some() {
            return;
        }
        let before = e.held();
        e.encoded = Some(image);
        let after = self.held.saturating_sub(before).saturating_add(e.held());
        if self.meter.set(after).is_err() {
            // The budget cannot hold it: the entry stays as it is.
            e.encoded = None;
            return;
        }
        self.held = after;
    }

    /// How many entries are held as their encoded image only.
    pub fn encoded_count(&self) -> u64 {
        self.encoded
    }
}
