//! What the session window shows of hotkeys (the grab hint, accelerators)
//! and its header-bar USB button.

use super::*;

/// The pointer-grab hint remote-viewer puts in front of the title, naming
/// the release hotkey.
pub fn grab_hint(release: &Hotkey) -> String {
    gettext_f(
        "(Press {hotkey} to release pointer)",
        &[("hotkey", &hotkey_label(release))],
    )
}

/// A hotkey as people write it: `Ctrl+Alt`, `Shift+F12`, `Ctrl+Alt+R`.
pub fn hotkey_label(hotkey: &Hotkey) -> String {
    let mut parts: Vec<String> = [
        (Modifiers::CONTROL, "Ctrl"),
        (Modifiers::ALT, "Alt"),
        (Modifiers::SHIFT, "Shift"),
        (Modifiers::SUPER, "Super"),
        (Modifiers::META, "Meta"),
        (Modifiers::HYPER, "Hyper"),
    ]
    .into_iter()
    .filter(|(m, _)| hotkey.modifiers.contains(*m))
    .map(|(_, name)| name.to_owned())
    .collect();
    if let Some(key) = &hotkey.key {
        let mut chars = key.chars();
        parts.push(match (chars.next(), chars.next()) {
            (Some(c), None) => c.to_uppercase().collect(),
            _ => key.clone(),
        });
    }
    parts.join("+")
}

/// `title` with `hint` in front while the pointer is grabbed, without it
/// otherwise (an existing hint is never doubled).
pub fn with_grab_hint(title: &str, hint: &str, grabbed: bool) -> String {
    let base = title
        .strip_prefix(hint)
        .map_or(title, |rest| rest.strip_prefix(' ').unwrap_or(rest));
    if grabbed {
        format!("{hint} {base}")
    } else {
        base.to_owned()
    }
}

/// Sets the application accelerators of the session actions from `hotkeys`
/// (remote-viewer's defaults, the `.vv` keys or `-H`).
pub fn apply_accels(app: &adw::Application, hotkeys: &Hotkeys) {
    for action in HotkeyAction::ALL {
        let Some(name) = window_action(action) else { continue };
        let mut accels: Vec<String> = hotkeys
            .get(action)
            .and_then(|h| h.to_accelerator())
            .into_iter()
            .collect();
        // The keypad twins of the default zoom keys, as remote-viewer binds them.
        if hotkeys.get(action) == Some(&action.default_hotkey()) {
            match action {
                HotkeyAction::ZoomIn => accels.extend(["<Control>KP_Add".into(), "<Control>equal".into()]),
                HotkeyAction::ZoomOut => accels.push("<Control>KP_Subtract".into()),
                HotkeyAction::ZoomReset => accels.push("<Control>KP_0".into()),
                _ => {}
            }
        }
        accels.retain(|a| gtk::accelerator_parse(a).is_some());
        let refs: Vec<&str> = accels.iter().map(String::as_str).collect();
        app.set_accels_for_action(name, &refs);
    }
}

/// The window action behind a hotkey action (usb-device-reset has none yet;
/// release-cursor is handled by the display's keyboard grab).
pub fn window_action(action: HotkeyAction) -> Option<&'static str> {
    match action {
        HotkeyAction::ToggleFullscreen => Some("win.fullscreen"),
        HotkeyAction::ZoomIn => Some("win.zoom-in"),
        HotkeyAction::ZoomOut => Some("win.zoom-out"),
        HotkeyAction::ZoomReset => Some("win.zoom-reset"),
        HotkeyAction::SecureAttention => Some("win.secure-attention"),
        HotkeyAction::SmartcardInsert => Some("win.smartcard-insert"),
        HotkeyAction::SmartcardRemove => Some("win.smartcard-remove"),
        // Grab release is the display's input handler's own hotkey (it may be
        // modifier-only, which no GTK accelerator can express).
        HotkeyAction::ReleaseCursor | HotkeyAction::UsbDeviceReset => None,
    }
}

/// The header-bar button that opens the session's USB devices dialog.
pub(super) fn usb_button(display: &Display) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name("media-removable-symbolic")
        .tooltip_text(gettext("USB Devices"))
        .build();
    let display = display.downgrade();
    button.connect_clicked(move |b| {
        let Some(session) = display.upgrade().and_then(|d| d.session()) else {
            return;
        };
        let parent = b.root().and_downcast::<gtk::Window>();
        crate::gtk::UsbDialog::new(&session, parent.as_ref()).present();
    });
    button
}

/// Caps the natural width of `title`'s labels (ellipsized at the end): a
/// long guest title is shortened in the header bar instead of widening the window.
pub fn cap_title_width(title: &adw::WindowTitle) {
    let mut stack = vec![title.clone().upcast::<gtk::Widget>()];
    while let Some(widget) = stack.pop() {
        if let Some(label) = widget.downcast_ref::<gtk::Label>() {
            label.set_ellipsize(gtk::pango::EllipsizeMode::End);
            label.set_max_width_chars(32);
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grab_hint_in_title() {
        let hint = grab_hint(&Hotkey::parse("ctrl+alt").unwrap());
        let grabbed = with_grab_hint("vm1 – Sumac", &hint, true);
        assert_eq!(grabbed, "(Press Ctrl+Alt to release pointer) vm1 – Sumac");
        assert_eq!(with_grab_hint(&grabbed, &hint, true), grabbed, "never doubled");
        assert_eq!(with_grab_hint(&grabbed, &hint, false), "vm1 – Sumac");
        assert_eq!(with_grab_hint("vm1 – Sumac", &hint, false), "vm1 – Sumac");
        assert_eq!(with_grab_hint("", &hint, true), "(Press Ctrl+Alt to release pointer) ");
    }

    #[test]
    fn hotkey_labels() {
        let label = |s: &str| hotkey_label(&Hotkey::parse(s).unwrap());
        assert_eq!(label("ctrl+alt"), "Ctrl+Alt");
        assert_eq!(label("alt+ctrl"), "Ctrl+Alt");
        assert_eq!(label("shift+f12"), "Shift+F12");
        assert_eq!(label("Ctrl+Alt+r"), "Ctrl+Alt+R");
        assert_eq!(label("super+pgup"), "Super+Page_Up");
        assert_eq!(
            grab_hint(&Hotkey::parse("shift+f12").unwrap()),
            "(Press Shift+F12 to release pointer)"
        );
    }

    #[test]
    fn titles() {
        assert_eq!(window_title(None, "vm1", 0, 1), "vm1 – Sumac");
        assert_eq!(window_title(None, "vm1", 1, 2), "vm1 (2) – Sumac");
        assert_eq!(window_title(Some("Proxmox VM %d"), "ignored", 0, 1), "Proxmox VM 1");
        assert_eq!(window_title(Some(""), "vm", 0, 1), "vm – Sumac");
    }

    #[test]
    fn zoom_steps_clamp() {
        assert_eq!(step_zoom(100, 1), 110);
        assert_eq!(step_zoom(100, -1), 90);
        assert_eq!(step_zoom(15, -1), 10);
        assert_eq!(step_zoom(395, 1), 400);
        assert_eq!(step_zoom(400, 1), 400);
    }

    #[test]
    fn every_bound_action_exists_in_the_window() {
        let bound: Vec<_> = HotkeyAction::ALL.into_iter().filter_map(window_action).collect();
        assert_eq!(bound.len(), 7);
        for a in bound {
            assert!(a.starts_with("win."), "{a}");
        }
    }
}
