//! The guest agent in [`Session`]: the `agent-connected` property, the
//! guest resolution following the displays (`resize-guest`), file transfers
//! (`send_file`, the `file-transfer-*` signals), and the routing of agent
//! events (the clipboard has its own module, `clipboard.rs`).
//!
//! Guest resize: every [`Display`] reports allocation changes; while
//! `resize-guest` is on, the layout of the displays is sent as
//! MONITORS_CONFIG [`RESIZE_DEBOUNCE`] after the last change (once every
//! display shows a complete frame), in device pixels (logical size × scale factor), one head per
//! display (its SPICE display id), side by side from left to right, with
//! the physical size taken from the monitor the window is on.

use super::{Session, imp};
use crate::client::agent::{AgentEvent, AgentHandle, MonitorSpec, TransferId};
use crate::gtk::Display;
use crate::i18n::gettext_f;
use gtk::glib;
use gtk::glib::subclass::prelude::*;
use gtk::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;

/// How long the displays' size must stay still before the guest is resized.
pub const RESIZE_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(300);

/// The agent state of a session.
#[derive(Debug, Default)]
pub(crate) struct AgentState {
    /// The debounce timer of the next MONITORS_CONFIG.
    resize_timer: RefCell<Option<glib::SourceId>>,
    /// The last layout sent (not sent again).
    last_layout: RefCell<Vec<MonitorSpec>>,
    /// The layout the running debounce timer was started for.
    pending_layout: RefCell<Option<Vec<MonitorSpec>>>,
    /// File names of the transfers, for the signals.
    names: RefCell<HashMap<TransferId, String>>,
    /// Whether the agent announced its capabilities.
    ready: Cell<bool>,
}

/// One display's part of a layout: head index and device-pixel size (and mm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub index: u32,
    pub width: u32,
    pub height: u32,
    pub width_mm: u16,
    pub height_mm: u16,
}

/// Most guest heads a layout names (spice-vdagent's limit is 16).
const MAX_HEADS: u32 = 16;

/// The MONITORS_CONFIG for these heads: index = guest head, side by side
/// left to right in index order, heads without a display disabled.
pub(crate) fn layout(heads: &[Head]) -> Vec<MonitorSpec> {
    let mut heads: Vec<Head> = heads.iter().copied().filter(|h| h.index < MAX_HEADS).collect();
    heads.sort_by_key(|h| h.index);
    heads.dedup_by_key(|h| h.index);
    let Some(last) = heads.last() else { return Vec::new() };
    let mut out = vec![MonitorSpec::default(); last.index as usize + 1];
    let mut x: i32 = 0;
    for h in heads {
        if let Some(slot) = out.get_mut(h.index as usize) {
            *slot = MonitorSpec {
                width_mm: h.width_mm,
                height_mm: h.height_mm,
                ..MonitorSpec::new(x, 0, h.width, h.height)
            };
        }
        x = x.saturating_add(i32::try_from(h.width).unwrap_or(i32::MAX));
    }
    out
}

/// `size` device pixels of a monitor `monitor_px` wide and `monitor_mm` wide, in millimetres.
fn millimetres(size: u32, monitor_px: i32, monitor_mm: i32) -> u16 {
    if monitor_px <= 0 || monitor_mm <= 0 {
        return 0;
    }
    let mm = u64::from(size) * monitor_mm as u64 / monitor_px as u64;
    u16::try_from(mm).unwrap_or(u16::MAX)
}

/// The head a display asks for, when it shows the guest and has a size.
fn display_head(d: &Display) -> Option<Head> {
    if !d.ready() || !d.is_mapped() {
        return None;
    }
    let scale = d.scale_factor().max(1);
    let width = u32::try_from(d.width().checked_mul(scale)?).ok().filter(|w| *w > 0)?;
    let height = u32::try_from(d.height().checked_mul(scale)?).ok().filter(|h| *h > 0)?;
    let (mut width_mm, mut height_mm) = (0, 0);
    if let Some(surface) = d.native().and_then(|n| n.surface())
        && let Some(monitor) = surface.display().monitor_at_surface(&surface)
    {
        let geo = monitor.geometry();
        width_mm = millimetres(width, geo.width().saturating_mul(scale), monitor.width_mm());
        height_mm = millimetres(height, geo.height().saturating_mul(scale), monitor.height_mm());
    }
    Some(Head {
        index: d.spice_display_id(),
        width,
        height,
        width_mm,
        height_mm,
    })
}

impl Session {
    /// The guest agent of the running session.
    pub fn agent(&self) -> Option<AgentHandle> {
        self.imp()
            .handle
            .borrow()
            .as_ref()
            .map(crate::client::SessionHandle::agent)
    }

    pub(super) fn agent_connected_event(&self, up: bool) {
        let imp = self.imp();
        if !up {
            imp.agent.ready.set(false);
            imp.agent.last_layout.borrow_mut().clear();
            self.clipboard_agent_gone();
        }
        if imp.agent_connected.replace(up) != up {
            self.notify_agent_connected();
        }
    }

    pub(super) fn agent_event(&self, e: AgentEvent) {
        if self.clipboard_event(&e) {
            return;
        }
        let imp = self.imp();
        match e {
            AgentEvent::Ready(info) => {
                tracing::info!(caps = ?info.describe(), "guest agent ready");
                imp.agent.ready.set(true);
                imp.agent.last_layout.borrow_mut().clear();
                self.clipboard_agent_ready();
                self.schedule_guest_resize();
            }
            AgentEvent::Reply { to, success } => tracing::debug!(?to, success, "agent reply"),
            AgentEvent::FileStarted { id, name, size } => {
                imp.agent.names.borrow_mut().insert(id, name.clone());
                self.emit_by_name::<()>("file-transfer-started", &[&id.0, &name, &size]);
            }
            AgentEvent::FileProgress { id, sent, total } => {
                self.emit_by_name::<()>("file-transfer-progress", &[&id.0, &sent, &total]);
            }
            AgentEvent::FileDone { id, outcome } => {
                let name = imp.agent.names.borrow_mut().remove(&id).unwrap_or_default();
                let success = outcome.is_success();
                let message = if success { String::new() } else { outcome_text(&outcome) };
                tracing::info!(%id, %name, %outcome, "file transfer done");
                self.emit_by_name::<()>("file-transfer-done", &[&id.0, &name, &success, &message]);
            }
            other => tracing::debug!(event = ?other, "agent event"),
        }
    }

    /// Sends a file to the guest (drag and drop, "Send File…"). Returns the
    /// transfer id, whose progress comes as `file-transfer-*` signals, or
    /// the reason in words when it cannot start.
    pub fn send_file(&self, path: &Path) -> Result<u32, String> {
        let name = path
            .file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let Some(agent) = self.agent().filter(AgentHandle::is_connected) else {
            return Err(crate::i18n::gettext("No guest agent is running in the guest"));
        };
        if agent.info().is_some_and(|i| !i.file_transfer()) {
            return Err(crate::i18n::gettext("The guest does not accept files"));
        }
        match agent.send_file(path) {
            Ok(id) => {
                self.imp().agent.names.borrow_mut().insert(id, name);
                Ok(id.0)
            }
            Err(e) => Err(gettext_f(
                "Cannot send {file}: {error}",
                &[("file", &name), ("error", &e.to_string())],
            )),
        }
    }

    /// Cancels a transfer started with [`Session::send_file`].
    pub fn cancel_file(&self, id: u32) {
        if let Some(agent) = self.agent()
            && let Err(e) = agent.cancel_file(TransferId(id))
        {
            tracing::debug!(error = %e, "cancel not sent");
        }
    }

    /// A display changed size (or became ready): the guest follows after
    /// [`RESIZE_DEBOUNCE`] when `resize-guest` is on.
    pub(crate) fn schedule_guest_resize(&self) {
        let imp = self.imp();
        if !imp.resize_guest.get() || !imp.agent.ready.get() {
            return;
        }
        // Allocations come often (every resize step, a redraw that queues a resize): the
        // timer restarts only when the layout they make changes.
        let now = self.displays_layout();
        if now.is_some() && now == *imp.agent.pending_layout.borrow() && imp.agent.resize_timer.borrow().is_some() {
            return;
        }
        if let Some(old) = imp.agent.resize_timer.take() {
            old.remove();
        }
        if now.as_ref().is_some_and(|l| *l == *imp.agent.last_layout.borrow()) {
            imp.agent.pending_layout.replace(None);
            return;
        }
        imp.agent.pending_layout.replace(now);
        let weak = self.downgrade();
        let id = glib::timeout_add_local_once(RESIZE_DEBOUNCE, move || {
            if let Some(s) = weak.upgrade() {
                s.imp().agent.resize_timer.take();
                s.imp().agent.pending_layout.replace(None);
                s.resize_guest_now();
            }
        });
        imp.agent.resize_timer.replace(Some(id));
    }

    /// The layout the displays in windows ask for; `None` until every one of them shows the
    /// guest (a head left out would be disabled in the guest: a second monitor whose window is
    /// still opening, for example).
    fn displays_layout(&self) -> Option<Vec<MonitorSpec>> {
        let displays: Vec<Display> = self.all_displays().into_iter().filter(|d| d.root().is_some()).collect();
        let heads: Vec<Head> = displays.iter().filter_map(display_head).collect();
        if heads.len() != displays.len() {
            return None;
        }
        Some(layout(&heads)).filter(|l| !l.is_empty())
    }

    fn resize_guest_now(&self) {
        let imp = self.imp();
        if !imp.resize_guest.get() {
            return;
        }
        let Some(specs) = self.displays_layout() else {
            tracing::debug!("not every display shows the guest yet: no monitors config");
            return;
        };
        if *imp.agent.last_layout.borrow() == specs {
            return;
        }
        let Some(agent) = self.agent() else { return };
        if agent.info().is_some_and(|i| !i.monitors_config()) {
            return;
        }
        tracing::debug!(?specs, "resizing the guest to the displays (monitors config)");
        match agent.monitors_config(&specs) {
            Ok(()) => {
                imp.agent.last_layout.replace(specs);
            }
            Err(e) => tracing::info!(error = %e, "monitors config not sent"),
        }
    }
}

/// A transfer outcome in the user's words.
pub fn outcome_text(outcome: &crate::client::agent::TransferOutcome) -> String {
    use crate::client::agent::TransferOutcome as O;
    use crate::i18n::gettext;
    match outcome {
        O::Success => gettext("Sent"),
        O::Cancelled => gettext("Cancelled"),
        O::CancelledByGuest => gettext("Cancelled by the guest"),
        O::GuestError { .. } => gettext("The guest could not write the file"),
        O::NotEnoughSpace { free: Some(b) } => gettext_f(
            "Not enough space in the guest ({free} free)",
            &[("free", glib::format_size(*b).as_str())],
        ),
        O::NotEnoughSpace { free: None } => gettext("Not enough space in the guest"),
        O::SessionLocked => gettext("The guest session is locked"),
        O::GuestAgentNotConnected => gettext("No user session in the guest can receive the file"),
        O::Disabled => gettext("The guest does not accept files"),
        O::ReadError(e) => gettext_f("Reading the file failed: {error}", &[("error", e)]),
        O::AgentGone => gettext("The guest agent went away"),
        O::TimedOut => gettext("The guest agent stopped answering"),
        O::TooManyTransfers => gettext("Too many transfers are queued"),
        other => gettext_f("The transfer failed: {error}", &[("error", &other.to_string())]),
    }
}

impl imp::Session {
    pub(super) fn set_resize_guest_prop(&self, on: bool) {
        if self.resize_guest.replace(on) == on {
            return;
        }
        let obj = self.obj();
        if on {
            obj.schedule_guest_resize();
        } else {
            if let Some(t) = self.agent.resize_timer.take() {
                t.remove();
            }
            self.agent.pending_layout.replace(None);
        }
        obj.notify_resize_guest();
    }
}

/// The agent signals of `SumacSession`.
pub(super) fn signals() -> Vec<glib::subclass::Signal> {
    use glib::subclass::Signal;
    vec![
        Signal::builder("clipboard-refused")
            .param_types([bool::static_type(), u64::static_type(), u32::static_type()])
            .build(),
        Signal::builder("file-transfer-started")
            .param_types([u32::static_type(), String::static_type(), u64::static_type()])
            .build(),
        Signal::builder("file-transfer-progress")
            .param_types([u32::static_type(), u64::static_type(), u64::static_type()])
            .build(),
        Signal::builder("file-transfer-done")
            .param_types([
                u32::static_type(),
                String::static_type(),
                bool::static_type(),
                String::static_type(),
            ])
            .build(),
    ]
}

/// Typed connectors for the agent signals.
impl Session {
    /// `clipboard-refused(to_guest, size, max)`: clipboard data larger than
    /// the limit (`max` bytes) was refused, never truncated.
    pub fn connect_clipboard_refused<F: Fn(&Self, bool, u64, u32) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "clipboard-refused",
            false,
            glib::closure_local!(move |s: &Self, to_guest: bool, size: u64, max: u32| f(s, to_guest, size, max)),
        )
    }

    /// `file-transfer-started(id, name, size)`: the guest was offered the file.
    pub fn connect_file_transfer_started<F: Fn(&Self, u32, &str, u64) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "file-transfer-started",
            false,
            glib::closure_local!(move |s: &Self, id: u32, name: &str, size: u64| f(s, id, name, size)),
        )
    }

    /// `file-transfer-progress(id, sent, total)`.
    pub fn connect_file_transfer_progress<F: Fn(&Self, u32, u64, u64) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "file-transfer-progress",
            false,
            glib::closure_local!(move |s: &Self, id: u32, sent: u64, total: u64| f(s, id, sent, total)),
        )
    }

    /// `file-transfer-done(id, name, success, message)`: `success` only when
    /// the guest confirmed every byte; `message` says what went wrong.
    pub fn connect_file_transfer_done<F: Fn(&Self, u32, &str, bool, &str) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "file-transfer-done",
            false,
            glib::closure_local!(move |s: &Self, id: u32, name: &str, ok: bool, message: &str| f(
                s, id, name, ok, message
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(index: u32, width: u32, height: u32) -> Head {
        Head {
            index,
            width,
            height,
            width_mm: 0,
            height_mm: 0,
        }
    }

    #[test]
    fn layouts_put_heads_side_by_side() {
        assert!(layout(&[]).is_empty());
        assert_eq!(layout(&[head(0, 1024, 700)]), [MonitorSpec::new(0, 0, 1024, 700)]);
        let l = layout(&[head(2, 800, 600), head(0, 1000, 500)]);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0], MonitorSpec::new(0, 0, 1000, 500));
        assert!(!l[1].enabled, "a head without a window is disabled");
        assert_eq!(l[2], MonitorSpec::new(1000, 0, 800, 600));
        assert!(layout(&[head(99, 10, 10)]).is_empty(), "beyond the agent's heads");
    }

    #[gtk::test]
    fn agent_properties_default_and_need_a_session() {
        let s = Session::new();
        assert!(s.share_clipboard(), "shared by default, as remote-viewer");
        assert!(!s.resize_guest(), "off by default, as spice-gtk's resize-guest");
        assert!(!s.agent_connected());
        assert!(s.agent().is_none());
        assert!(s.send_file(Path::new("/etc/hostname")).is_err());
        s.set_resize_guest(true);
        assert!(s.resize_guest());
        s.set_share_clipboard(false);
        assert!(!s.share_clipboard());
        s.cancel_file(7);
    }

    #[test]
    fn physical_size_follows_the_monitor() {
        assert_eq!(millimetres(960, 1920, 510), 255);
        assert_eq!(millimetres(960, 0, 510), 0);
        assert_eq!(millimetres(960, 1920, 0), 0);
    }
}
