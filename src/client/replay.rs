//! Replays a recording through the display pipeline with no server: the same
//! decode and canvas code as a live session ([`Pipeline`]: each message
//! prepared by the channel's decoder, then applied to its state),
//! deterministically.

use super::record::{RecordEntry, RecordError, RecordReader};
use crate::codec::glz::GlzWindow;
use crate::display::{DisplayEvent, DisplayState, Limits, Pipeline, SharedImageCache};
use crate::proto::channel::display::DisplayServer;
use crate::proto::{ChannelType, Message};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

/// What a replay produced.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Display state per display channel id, as after the last applied message.
    pub displays: BTreeMap<u8, DisplayState>,
    pub messages: u64,
    pub marks: u64,
    /// Display messages that could not be decoded.
    pub decode_errors: u64,
}

/// Applies every display message of the recording; stops after the
/// `stop_after_mark`-th MARK (1-based) of display channel 0 if given.
pub fn replay<R: Read>(reader: R, stop_after_mark: Option<u64>) -> Result<Replayed, RecordError> {
    let mut rec = RecordReader::new(reader)?;
    let mut out = Replayed::default();
    let mut displays: BTreeMap<u8, Pipeline> = BTreeMap::new();
    // One GLZ window for all display channels, as in a live session; nothing
    // decodes concurrently here, so a missing reference fails at once.
    let glz = Arc::new(GlzWindow::new(crate::display::DEFAULT_GLZ_WINDOW_BYTES));
    let cache = SharedImageCache::new(crate::display::DEFAULT_IMAGE_CACHE_BYTES);
    while let Some(entry) = rec.next_entry()? {
        let RecordEntry::Message {
            channel,
            msg_type,
            body,
            ..
        } = entry
        else {
            continue;
        };
        if channel.channel_type != ChannelType::DISPLAY {
            continue;
        }
        out.messages += 1;
        let state = displays
            .entry(channel.id)
            .or_insert_with(|| Pipeline::with_shared(Limits::default(), Arc::clone(&glz), cache.clone()));
        let msg = match DisplayServer::decode(msg_type, &body) {
            Ok(m) => m,
            Err(e) => {
                out.decode_errors += 1;
                state.record_decode_error(msg_type, e);
                continue;
            }
        };
        let events = state.handle(&msg);
        if channel.id == 0 && events.iter().any(|e| matches!(e, DisplayEvent::Mark)) {
            out.marks += 1;
            if stop_after_mark.is_some_and(|n| out.marks >= n) {
                break;
            }
        }
    }
    out.displays = displays.into_iter().map(|(id, p)| (id, p.into_state())).collect();
    Ok(out)
}
