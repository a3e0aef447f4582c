//! The main menu's Displays submenu, as remote-viewer's View > Displays: one
//! check item per monitor the guest allows on the window's display channel
//! (MONITORS_CONFIG `max_allowed`, at most [`MAX_DISPLAYS`]), checked while
//! the guest shows that monitor. Choosing one sends the guest a monitors
//! config through the agent with that monitor turned on (at the size of the
//! last monitor shown) or off (never the last one); the guest's answer, a
//! new MONITORS_CONFIG, opens or closes the monitor's window
//! ([`super::controller`]) and checks or unchecks the item.
//!
//! The layout is the one the guest resize uses (`gtk::session::agent`):
//! monitors side by side in display order, disabled ones left in place.

use crate::client::agent::MonitorSpec;
use crate::display::MonitorHead;
use crate::gtk::session::agent::{Head, layout};
use crate::gtk::{Display, Session};
use crate::i18n::gettext_f;
use gtk::gio;
use gtk::prelude::*;
use std::cell::Cell;
use std::rc::Rc;

/// Most items of the submenu.
pub const MAX_DISPLAYS: u32 = 16;
/// The size of a monitor turned on when none shows (remote-viewer's default window).
const DEFAULT_SIZE: (u32, u32) = (1024, 768);

/// The action of display `index` (0-based): `display-1`, `display-2`...
fn action_name(index: u32) -> String {
    format!("display-{}", index.saturating_add(1))
}

/// How many items the submenu offers: what the guest allows (at least the
/// monitors it shows, at least one), at most [`MAX_DISPLAYS`].
pub fn offered(max_allowed: u16, heads: &[MonitorHead]) -> u32 {
    let shown = heads.iter().map(|h| h.monitor_id.saturating_add(1)).max().unwrap_or(1);
    u32::from(max_allowed).max(shown).clamp(1, MAX_DISPLAYS)
}

/// Whether the guest shows monitor `index`.
pub fn is_enabled(heads: &[MonitorHead], index: u32) -> bool {
    if heads.is_empty() {
        // A single-head guest that sent no MONITORS_CONFIG shows its only monitor.
        return index == 0;
    }
    heads
        .iter()
        .any(|h| h.monitor_id == index && h.width > 0 && h.height > 0)
}

/// The monitors config that turns monitor `index` on or off, from the
/// monitors the guest shows now (`heads`, not empty: see [`current_heads`]);
/// `None` when it changes nothing or would turn the last monitor off.
pub fn toggled_layout(heads: &[MonitorHead], index: u32, enable: bool) -> Option<Vec<MonitorSpec>> {
    if heads.is_empty() || index >= MAX_DISPLAYS || is_enabled(heads, index) == enable {
        return None;
    }
    let mut shown: Vec<Head> = heads
        .iter()
        .filter(|h| h.width > 0 && h.height > 0)
        .map(|h| Head {
            index: h.monitor_id,
            width: h.width,
            height: h.height,
            width_mm: 0,
            height_mm: 0,
        })
        .collect();
    if enable {
        let (width, height) = shown.last().map_or(DEFAULT_SIZE, |h| (h.width, h.height));
        shown.push(Head {
            index,
            width,
            height,
            width_mm: 0,
            height_mm: 0,
        });
    } else {
        shown.retain(|h| h.index != index);
        if shown.is_empty() {
            return None;
        }
    }
    Some(layout(&shown)).filter(|l| !l.is_empty())
}

/// The window actions `win.display-N` and the items of `submenu`, kept in
/// step with `display`'s channel.
pub fn install(window: &gtk::ApplicationWindow, display: &Display, submenu: &gio::Menu) {
    let Some(session) = display.session() else { return };
    let channel = display.channel_id();
    let items = Rc::new(Cell::new(0u32));
    let refresh = {
        let window = window.downgrade();
        let submenu = submenu.clone();
        let items = Rc::clone(&items);
        move |s: &Session| {
            if let Some(w) = window.upgrade() {
                refresh(&w, s, channel, &submenu, &items);
            }
        }
    };
    refresh(&session);
    let r = refresh.clone();
    session.connect_monitors_changed(move |s, ch| {
        if ch == u32::from(channel) {
            r(s);
        }
    });
    session.connect_agent_connected_notify(move |s| refresh(s));
}

/// The guest's monitors on `channel` and how many it allows.
fn guest_monitors(session: &Session, channel: u8) -> (u16, Vec<MonitorHead>) {
    let max = session
        .display_state(channel)
        .and_then(|s| s.lock().ok().map(|s| s.monitors_max()))
        .unwrap_or(0);
    (max, session.monitors(channel))
}

fn refresh(window: &gtk::ApplicationWindow, session: &Session, channel: u8, submenu: &gio::Menu, items: &Cell<u32>) {
    let (max, heads) = guest_monitors(session, channel);
    let count = offered(max, &heads);
    for index in 0..count {
        let name = action_name(index);
        let on = is_enabled(&heads, index);
        let action = match window.lookup_action(&name).and_downcast::<gio::SimpleAction>() {
            Some(a) => a,
            None => {
                let a = gio::SimpleAction::new_stateful(&name, None, &on.to_variant());
                let s = session.downgrade();
                a.connect_activate(move |a, _| {
                    let on = a.state().and_then(|v| v.get::<bool>()).unwrap_or(false);
                    if let Some(s) = s.upgrade() {
                        toggle(&s, channel, index, !on);
                    }
                });
                window.add_action(&a);
                a
            }
        };
        action.set_state(&on.to_variant());
        action.set_enabled(session.agent_connected() && count > 1);
    }
    if items.replace(count) != count {
        submenu.remove_all();
        for index in 0..count {
            let label = gettext_f("Display _{number}", &[("number", &(index + 1).to_string())]);
            submenu.append(Some(&label), Some(&format!("win.{}", action_name(index))));
        }
    }
}

/// The monitors the guest shows on `channel`: its MONITORS_CONFIG, or its
/// primary surface as monitor 0 when it sent none (a single-head guest).
fn current_heads(session: &Session, channel: u8) -> Vec<MonitorHead> {
    let heads = session.monitors(channel);
    if !heads.is_empty() {
        return heads;
    }
    let primary = session.display_state(channel).and_then(|s| {
        s.lock()
            .ok()
            .and_then(|s| s.primary().map(|(id, p)| (id, p.width, p.height)))
    });
    primary
        .map(|(surface_id, width, height)| MonitorHead {
            monitor_id: 0,
            surface_id,
            width,
            height,
            x: 0,
            y: 0,
            flags: 0,
        })
        .into_iter()
        .collect()
}

/// Asks the guest to turn monitor `index` of `channel` on or off.
fn toggle(session: &Session, channel: u8, index: u32, enable: bool) {
    let heads = current_heads(session, channel);
    let Some(specs) = toggled_layout(&heads, index, enable) else {
        tracing::info!(index, enable, "displays: nothing to change (or the last monitor)");
        return;
    };
    let Some(agent) = session.agent() else { return };
    tracing::info!(display = index + 1, enable, ?specs, "displays: monitors config sent");
    if let Err(e) = agent.monitors_config(&specs) {
        tracing::warn!(error = %e, "displays: monitors config not sent");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(monitor_id: u32, width: u32, height: u32, x: u32) -> MonitorHead {
        MonitorHead {
            monitor_id,
            surface_id: 0,
            width,
            height,
            x,
            y: 0,
            flags: 0,
        }
    }

    #[test]
    fn the_menu_offers_what_the_guest_allows() {
        assert_eq!(offered(0, &[]), 1);
        assert_eq!(offered(2, &[head(0, 800, 600, 0)]), 2);
        assert_eq!(offered(1, &[head(0, 800, 600, 0), head(2, 640, 480, 800)]), 3);
        assert_eq!(offered(64, &[]), MAX_DISPLAYS);
        assert!(is_enabled(&[], 0) && !is_enabled(&[], 1));
        assert!(!is_enabled(&[head(0, 800, 600, 0), head(1, 0, 0, 0)], 1));
    }

    #[test]
    fn turning_a_display_on_and_off() {
        let one = [head(0, 800, 600, 0)];
        let on = toggled_layout(&one, 1, true).unwrap();
        assert_eq!(
            on,
            [MonitorSpec::new(0, 0, 800, 600), MonitorSpec::new(800, 0, 800, 600)]
        );
        // The third one while the second is off: the second stays off, in its place.
        let on = toggled_layout(&one, 2, true).unwrap();
        assert_eq!(on.len(), 3);
        assert!(!on[1].enabled && on[2].enabled);
        assert_eq!((on[2].x, on[2].width), (800, 800));
        let two = [head(0, 800, 600, 0), head(1, 640, 480, 800)];
        let off = toggled_layout(&two, 1, false).unwrap();
        assert_eq!(off, [MonitorSpec::new(0, 0, 800, 600)]);
        let off = toggled_layout(&two, 0, false).unwrap();
        assert_eq!(off.len(), 2);
        assert!(!off[0].enabled);
        assert_eq!(off[1], MonitorSpec::new(0, 0, 640, 480));
        // Nothing to do, and never the last monitor off.
        assert_eq!(toggled_layout(&two, 1, true), None);
        assert_eq!(toggled_layout(&one, 0, false), None);
        assert_eq!(toggled_layout(&[], 0, false), None);
        assert_eq!(toggled_layout(&one, MAX_DISPLAYS, true), None);
    }
}
