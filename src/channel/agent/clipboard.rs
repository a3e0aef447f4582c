//! Clipboard sharing with the guest, one state machine per selection
//! (reference §1.7, §4.3).
//!
//! - **Guest → client.** The guest's GRAB names the types it offers (only
//!   the known types are kept, each once, so a grab of a million types
//!   yields at most six); the embedder asks for one
//!   ([`AgentCommand::ClipboardRequest`](super::AgentCommand)), the machine
//!   sends REQUEST and matches the guest's CLIPBOARD to the oldest request
//!   of that selection and type. An answer of type NONE or with no data
//!   fails the oldest request of the selection; data nobody asked for is
//!   dropped and counted; data over the limit is refused by the reassembler
//!   before it is buffered and reported ([`AgentEvent::ClipboardRefused`]).
//! - **Client → guest.** The embedder grabs with its types only (lazy); the
//!   guest's REQUEST becomes [`AgentEvent::ClipboardWanted`]; the embedder
//!   answers with data (refused when over the limit: the guest then gets an
//!   empty answer of that type, as spice-gtk does) or with nothing (an empty
//!   CLIPBOARD of type NONE). Requests for a selection the client does not
//!   own, or for a type it did not offer, are answered with NONE at once.
//! - **Serials** (CLIPBOARD_GRAB_SERIAL negotiated): both ends count grabs
//!   per selection from zero (the agent zeroes its counters when it gets
//!   our announcement with `request = 1`). Our GRAB carries our counter,
//!   which then grows by one; a guest GRAB is taken only when its serial
//!   equals our counter (which then grows), otherwise it is a stale grab
//!   racing ours and is dropped (the agent lets our grab win).
//! - **Re-grab.** With CLIPBOARD_NO_RELEASE_ON_REGRAB negotiated a new GRAB
//!   simply replaces the old one. Without it (older and Windows agents) the
//!   client sends RELEASE before re-grabbing, and a guest RELEASE is held
//!   0.5 s: a GRAB arriving meanwhile replaces it, so that the embedder's
//!   clipboard does not flicker empty between the two.
//! - **Text** travels with LF line ends on the embedder side, converted to
//!   and from the guest's GUEST_LINEEND_CRLF convention; a trailing NUL from
//!   the guest is dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Effects;
use super::types::{AgentEvent, ClipType, ClipboardDirection, ClipboardFailure, RequestId, Selection};
use crate::proto::vdagent::caps as agent_caps;
use crate::proto::vdagent::chunk::CLIPBOARD_OVERHEAD;
use crate::proto::vdagent::clipboard::{LineEnd, clip_type, text_from_guest, text_to_guest};
use crate::proto::vdagent::{AgentMessage, Clipboard, ClipboardGrab};

/// How long a clipboard request may go without any AGENT_DATA from the
/// agent before it fails (and a guest request the embedder does not answer
/// gets an empty answer).
pub const CLIPBOARD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a guest RELEASE is held without CLIPBOARD_NO_RELEASE_ON_REGRAB.
pub const RELEASE_DELAY: Duration = Duration::from_millis(500);
/// Most requests of the embedder waiting for the guest, all selections together.
pub const MAX_PENDING_REQUESTS: usize = 16;
/// Most guest requests waiting for the embedder.
pub const MAX_WANTED: usize = 16;

/// Who owns a selection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Owner {
    #[default]
    Nobody,
    Guest(Vec<ClipType>),
    Client(Vec<ClipType>),
}

#[derive(Debug, Default)]
struct SelState {
    owner: Owner,
    /// Grabs counted on this selection (CLIPBOARD_GRAB_SERIAL).
    serial: u32,
    /// A guest RELEASE held back (no NO_RELEASE_ON_REGRAB).
    release_due: Option<Instant>,
}

/// A request of the embedder sent to the guest.
#[derive(Debug, Clone, Copy)]
struct Pending {
    id: RequestId,
    selection: Selection,
    clip_type: ClipType,
    sent_at: Instant,
}

/// A guest request waiting for the embedder's data.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    selection: Selection,
    clip_type: ClipType,
    due: Instant,
}

/// What the clipboard machine needs to know of the negotiation.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClipCaps {
    /// The agent has CLIPBOARD_BY_DEMAND.
    pub(super) by_demand: bool,
    /// CLIPBOARD_SELECTION negotiated.
    pub(super) selections: bool,
    pub(super) grab_serial: bool,
    pub(super) no_release_on_regrab: bool,
    pub(super) line_end: Option<LineEnd>,
    /// The limit both ways, if any.
    pub(super) max: Option<u32>,
}

impl ClipCaps {
    pub(super) fn of(nego: &super::caps::Negotiation, max: Option<u32>) -> Self {
        Self {
            by_demand: nego.agent_has(agent_caps::CLIPBOARD_BY_DEMAND),
            selections: nego.negotiated(agent_caps::CLIPBOARD_SELECTION),
            grab_serial: nego.negotiated(agent_caps::CLIPBOARD_GRAB_SERIAL),
            no_release_on_regrab: nego.negotiated(agent_caps::CLIPBOARD_NO_RELEASE_ON_REGRAB),
            line_end: nego.line_end(),
            max,
        }
    }

    fn supports(&self, sel: Selection) -> bool {
        self.by_demand && (sel == Selection::Clipboard || self.selections)
    }
}

/// The clipboard state of one agent connection.
#[derive(Debug, Default)]
pub(super) struct Clipboards {
    sel: [SelState; 3],
    pending: VecDeque<Pending>,
    wanted: VecDeque<Wanted>,
}

/// `types` known, each once, in the guest's order.
fn known_types(types: &[u32]) -> Vec<ClipType> {
    let mut out = Vec::new();
    for t in types.iter().filter_map(|&t| ClipType::from_wire(t)) {
        if !out.contains(&t) {
            out.push(t);
            if out.len() == ClipType::ALL.len() {
                break;
            }
        }
    }
    out
}

impl Clipboards {
    fn state(&mut self, sel: Selection) -> &mut SelState {
        let [clipboard, primary, secondary] = &mut self.sel;
        match sel {
            Selection::Clipboard => clipboard,
            Selection::Primary => primary,
            Selection::Secondary => secondary,
        }
    }

    // ---- guest → client ----

    pub(super) fn guest_grab(&mut self, grab: ClipboardGrab, caps: &ClipCaps, fx: &mut Effects) {
        let Some(selection) = Selection::from_wire(grab.selection) else {
            fx.stats.unknown_selection += 1;
            return;
        };
        let st = self.state(selection);
        if caps.grab_serial {
            if grab.serial != st.serial {
                tracing::debug!(
                    selection = selection.name(),
                    serial = grab.serial,
                    expected = st.serial,
                    "stale clipboard grab dropped"
                );
                fx.stats.stale_grabs += 1;
                return;
            }
            st.serial = st.serial.wrapping_add(1);
        }
        let types = known_types(&grab.types);
        st.release_due = None;
        st.owner = Owner::Guest(types.clone());
        fx.events.push(AgentEvent::ClipboardGrab { selection, types });
    }

    pub(super) fn guest_release(&mut self, sel: u8, caps: &ClipCaps, now: Instant, fx: &mut Effects) {
        let Some(selection) = Selection::from_wire(sel) else {
            fx.stats.unknown_selection += 1;
            return;
        };
        let st = self.state(selection);
        if !matches!(st.owner, Owner::Guest(_)) {
            // A release of a grab ours replaced, or of nothing.
            return;
        }
        if caps.no_release_on_regrab {
            st.owner = Owner::Nobody;
            fx.events.push(AgentEvent::ClipboardRelease { selection });
        } else if st.release_due.is_none() {
            st.release_due = Some(now + RELEASE_DELAY);
        }
    }

    /// The guest's CLIPBOARD message.
    pub(super) fn guest_data(&mut self, msg: Clipboard, caps: &ClipCaps, fx: &mut Effects) {
        let Some(selection) = Selection::from_wire(msg.selection) else {
            fx.stats.unknown_selection += 1;
            return;
        };
        let clip = ClipType::from_wire(msg.clip_type);
        let found = self
            .pending
            .iter()
            .position(|p| p.selection == selection && (clip.is_none() || Some(p.clip_type) == clip));
        let Some(i) = found else {
            tracing::debug!(
                selection = selection.name(),
                clip_type = msg.clip_type,
                len = msg.data.len(),
                "clipboard data nobody asked for dropped"
            );
            fx.stats.unsolicited_clipboard += 1;
            return;
        };
        let Some(p) = self.pending.remove(i) else { return };
        let reason = if clip.is_none() || msg.data.is_empty() {
            Some(ClipboardFailure::NoData { limit: caps.max })
        } else if let Some(max) = caps.max
            && u64::try_from(msg.data.len()).unwrap_or(u64::MAX) > u64::from(max)
        {
            // Only reachable when the text conversion or a limit change made it larger.
            Some(ClipboardFailure::TooLarge {
                size: u64::try_from(msg.data.len()).unwrap_or(u64::MAX),
                max,
            })
        } else {
            None
        };
        if let Some(reason) = reason {
            fx.events.push(AgentEvent::ClipboardFailed {
                request: p.id,
                selection,
                clip_type: p.clip_type,
                reason,
            });
            return;
        }
        let data = if p.clip_type == ClipType::Text {
            text_in(msg.data, caps.line_end)
        } else {
            msg.data
        };
        fx.events.push(AgentEvent::ClipboardData {
            request: p.id,
            selection,
            clip_type: p.clip_type,
            data,
        });
    }

    /// A CLIPBOARD message over the limit was skipped by the reassembler: it
    /// answers the oldest request (the message's selection is unknown).
    pub(super) fn guest_data_too_large(&mut self, size: u32, max: u32, fx: &mut Effects) {
        let p = self.pending.pop_front();
        // The declared size includes the selection prefix and the type.
        let size = u64::from(size.saturating_sub(CLIPBOARD_OVERHEAD));
        fx.events.push(AgentEvent::ClipboardRefused {
            selection: p.map(|p| p.selection),
            direction: ClipboardDirection::FromGuest,
            size,
            max,
        });
        match p {
            Some(p) => fx.events.push(AgentEvent::ClipboardFailed {
                request: p.id,
                selection: p.selection,
                clip_type: p.clip_type,
                reason: ClipboardFailure::TooLarge { size, max },
            }),
            None => fx.stats.unsolicited_clipboard += 1,
        }
    }

    /// The guest pastes: answer NONE at once unless we own the selection with that type.
    pub(super) fn guest_request(&mut self, sel: u8, ty: u32, caps: &ClipCaps, now: Instant, fx: &mut Effects) {
        let selection = Selection::from_wire(sel);
        let clip = ClipType::from_wire(ty);
        let ok = match (selection, clip) {
            (Some(s), Some(t)) => {
                let owned = self.sel.get(s.index()).is_some_and(|st| match &st.owner {
                    Owner::Client(types) => types.contains(&t),
                    _ => false,
                });
                owned && self.wanted.len() < MAX_WANTED
            }
            _ => false,
        };
        match (selection, clip) {
            (Some(selection), Some(clip_type)) if ok => {
                self.wanted.push_back(Wanted {
                    selection,
                    clip_type,
                    due: now + CLIPBOARD_TIMEOUT,
                });
                fx.events.push(AgentEvent::ClipboardWanted { selection, clip_type });
            }
            _ => {
                tracing::debug!(sel, ty, "guest clipboard request we cannot serve: answering NONE");
                fx.stats.unserved_guest_requests += 1;
                if selection.is_some_and(|s| caps.supports(s)) {
                    fx.msgs.push(none_answer(sel));
                }
            }
        }
    }

    // ---- client → guest ----

    pub(super) fn client_grab(
        &mut self,
        selection: Selection,
        types: Vec<ClipType>,
        caps: &ClipCaps,
        fx: &mut Effects,
    ) {
        if !caps.supports(selection) || types.is_empty() {
            tracing::warn!(
                selection = selection.name(),
                "clipboard grab the agent cannot take; dropped"
            );
            return;
        }
        let mut unique = Vec::new();
        for t in types {
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        let st = self.state(selection);
        if matches!(st.owner, Owner::Client(_)) && !caps.no_release_on_regrab {
            fx.msgs.push(AgentMessage::ClipboardRelease {
                selection: selection.wire(),
            });
        }
        let serial = st.serial;
        st.serial = st.serial.wrapping_add(1);
        st.release_due = None;
        st.owner = Owner::Client(unique.clone());
        fx.msgs.push(AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: selection.wire(),
            serial,
            types: unique.iter().map(|t| t.wire()).collect(),
        }));
        // Guest requests for the previous grab cannot be served any more.
        self.answer_all_wanted(selection, fx);
    }

    pub(super) fn client_release(&mut self, selection: Selection, caps: &ClipCaps, fx: &mut Effects) {
        let st = self.state(selection);
        if !matches!(st.owner, Owner::Client(_)) {
            return;
        }
        st.owner = Owner::Nobody;
        if caps.supports(selection) {
            fx.msgs.push(AgentMessage::ClipboardRelease {
                selection: selection.wire(),
            });
        }
        self.answer_all_wanted(selection, fx);
    }

    pub(super) fn client_request(
        &mut self,
        id: RequestId,
        selection: Selection,
        clip_type: ClipType,
        caps: &ClipCaps,
        now: Instant,
        fx: &mut Effects,
    ) {
        let fail = if !caps.supports(selection) {
            Some(ClipboardFailure::Unsupported)
        } else if self.pending.len() >= MAX_PENDING_REQUESTS {
            Some(ClipboardFailure::TooManyRequests)
        } else {
            None
        };
        if let Some(reason) = fail {
            fx.events.push(AgentEvent::ClipboardFailed {
                request: id,
                selection,
                clip_type,
                reason,
            });
            return;
        }
        self.pending.push_back(Pending {
            id,
            selection,
            clip_type,
            sent_at: now,
        });
        fx.msgs.push(AgentMessage::ClipboardRequest {
            selection: selection.wire(),
            clip_type: clip_type.wire(),
        });
    }

    /// The embedder's answer to the oldest guest request of `selection` (and `clip_type`).
    pub(super) fn client_data(
        &mut self,
        selection: Selection,
        clip_type: ClipType,
        data: Vec<u8>,
        caps: &ClipCaps,
        fx: &mut Effects,
    ) {
        let Some(i) = self
            .wanted
            .iter()
            .position(|w| w.selection == selection && w.clip_type == clip_type)
        else {
            tracing::debug!(
                selection = selection.name(),
                "clipboard data the guest did not ask for; dropped"
            );
            fx.stats.unsolicited_clipboard += 1;
            return;
        };
        self.wanted.remove(i);
        let data = if clip_type == ClipType::Text {
            text_out(data, caps.line_end)
        } else {
            data
        };
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let data = match caps.max {
            Some(max) if size > u64::from(max) => {
                tracing::warn!(size, max, "clipboard data for the guest over the limit: refused");
                fx.events.push(AgentEvent::ClipboardRefused {
                    selection: Some(selection),
                    direction: ClipboardDirection::ToGuest,
                    size,
                    max,
                });
                Vec::new()
            }
            _ => data,
        };
        fx.msgs.push(AgentMessage::Clipboard(Clipboard {
            selection: selection.wire(),
            clip_type: clip_type.wire(),
            data,
        }));
    }

    /// The embedder has nothing for the oldest guest request of `selection`.
    pub(super) fn client_no_data(&mut self, selection: Selection, fx: &mut Effects) {
        if let Some(i) = self.wanted.iter().position(|w| w.selection == selection) {
            self.wanted.remove(i);
            fx.msgs.push(none_answer(selection.wire()));
        }
    }

    fn answer_all_wanted(&mut self, selection: Selection, fx: &mut Effects) {
        let before = self.wanted.len();
        self.wanted.retain(|w| w.selection != selection);
        for _ in self.wanted.len()..before {
            fx.msgs.push(none_answer(selection.wire()));
        }
    }

    // ---- time and resets ----

    /// When [`expire`](Self::expire) has something to do.
    pub(super) fn next_wake(&self, last_data: Option<Instant>) -> Option<Instant> {
        let requests = self.pending.iter().map(|p| request_due(p, last_data));
        let wanted = self.wanted.iter().map(|w| w.due);
        let releases = self.sel.iter().filter_map(|s| s.release_due);
        requests.chain(wanted).chain(releases).min()
    }

    /// Fails requests the guest let time out, answers guest requests the
    /// embedder let time out, delivers held releases.
    pub(super) fn expire(&mut self, now: Instant, last_data: Option<Instant>, fx: &mut Effects) {
        let (late, keep): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| request_due(p, last_data) <= now);
        self.pending = keep.into();
        for p in late {
            fx.events.push(AgentEvent::ClipboardFailed {
                request: p.id,
                selection: p.selection,
                clip_type: p.clip_type,
                reason: ClipboardFailure::Timeout,
            });
        }
        while let Some(w) = self.wanted.front().copied() {
            if w.due > now {
                break;
            }
            self.wanted.pop_front();
            tracing::debug!(
                selection = w.selection.name(),
                "the embedder did not answer the guest: NONE"
            );
            fx.msgs.push(none_answer(w.selection.wire()));
        }
        for selection in Selection::ALL {
            let st = self.state(selection);
            if st.release_due.is_some_and(|d| d <= now) {
                st.release_due = None;
                st.owner = Owner::Nobody;
                fx.events.push(AgentEvent::ClipboardRelease { selection });
            }
        }
    }

    /// The agent's stream broke: its answers to pending requests may be lost.
    pub(super) fn fail_pending(&mut self, reason: ClipboardFailure, fx: &mut Effects) {
        for p in self.pending.drain(..) {
            fx.events.push(AgentEvent::ClipboardFailed {
                request: p.id,
                selection: p.selection,
                clip_type: p.clip_type,
                reason,
            });
        }
    }

    /// The agent went away: requests fail, guest-owned selections are
    /// released, serials start again from zero.
    pub(super) fn reset(&mut self, fx: &mut Effects) {
        self.fail_pending(ClipboardFailure::AgentGone, fx);
        self.wanted.clear();
        for selection in Selection::ALL {
            let st = self.state(selection);
            if matches!(st.owner, Owner::Guest(_)) {
                fx.events.push(AgentEvent::ClipboardRelease { selection });
            }
            *st = SelState::default();
        }
    }

    /// Serials restart from zero (we announce with `request = 1`).
    pub(super) fn reset_serials(&mut self) {
        for s in &mut self.sel {
            s.serial = 0;
        }
    }

    /// Requests of the embedder waiting for the guest.
    pub(super) fn pending_requests(&self) -> usize {
        self.pending.len()
    }
}

fn request_due(p: &Pending, last_data: Option<Instant>) -> Instant {
    let since = last_data.map_or(p.sent_at, |d| d.max(p.sent_at));
    since + CLIPBOARD_TIMEOUT
}

fn none_answer(sel: u8) -> AgentMessage {
    AgentMessage::Clipboard(Clipboard {
        selection: sel,
        clip_type: clip_type::NONE,
        data: Vec::new(),
    })
}

/// Guest text as the embedder wants it: LF line ends, no trailing NUL.
fn text_in(mut data: Vec<u8>, line_end: Option<LineEnd>) -> Vec<u8> {
    while data.last() == Some(&0) {
        data.pop();
    }
    if line_end != Some(LineEnd::CrLf) {
        return data;
    }
    match String::from_utf8(data) {
        Ok(s) => text_from_guest(&s, line_end).into_bytes(),
        Err(e) => e.into_bytes(),
    }
}

/// Embedder text as the guest wants it.
fn text_out(data: Vec<u8>, line_end: Option<LineEnd>) -> Vec<u8> {
    if line_end != Some(LineEnd::CrLf) {
        return data;
    }
    match String::from_utf8(data) {
        Ok(s) => text_to_guest(&s, line_end).into_bytes(),
        Err(e) => e.into_bytes(),
    }
}
