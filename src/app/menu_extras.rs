//! Entries of the session window's main menu kept apart from
//! `ui/session-menu.ui`: the section of `ui/session-menu-extras.ui` (the
//! Displays submenu and the stats overlay toggle), inserted after the
//! fullscreen and zoom entries, and the window actions behind them.

use crate::gtk::Display;
use gtk::gio;
use gtk::prelude::*;

/// Where the section goes: after the Send Key and the fullscreen/zoom sections.
const POSITION: i32 = 2;

/// Inserts the extra section into the main `menu` (when there is one) and
/// installs its actions on `window`.
pub fn install(window: &gtk::ApplicationWindow, display: &Display, menu: Option<&gio::Menu>, kiosk: bool) {
    super::stats_overlay::install(window, display, kiosk);
    let builder = gtk::Builder::from_string(include_str!("../../ui/session-menu-extras.ui"));
    if let Some(displays) = builder.object::<gio::Menu>("displays") {
        super::displays_menu::install(window, display, &displays);
    }
    let (Some(menu), Some(extras)) = (menu, builder.object::<gio::Menu>("view_extras")) else {
        return;
    };
    let at = POSITION.min(menu.n_items());
    for i in (0..extras.n_items()).rev() {
        if let Some(section) = extras.item_link(i, gio::MENU_LINK_SECTION) {
            menu.insert_section(at, None, &section);
        }
    }
}
