//! The "Send key" menu: key combinations remote-viewer offers, as PC/XT
//! (set 1) scancodes in [`InputsHandle`](crate::client::inputs::InputsHandle)'s
//! convention: low byte = make code, `0x100` = E0-prefixed.

/// Left Control.
pub const XT_CTRL_L: u16 = 0x1d;
/// Left Alt.
pub const XT_ALT_L: u16 = 0x38;
/// Delete (extended).
pub const XT_DELETE: u16 = 0x153;
/// Backspace.
pub const XT_BACKSPACE: u16 = 0x0e;
/// Print Screen / SysRq (extended).
pub const XT_PRINT: u16 = 0x137;

/// Scancode of function key `n` (1–12).
pub fn xt_function_key(n: u8) -> Option<u16> {
    match n {
        // F1..F10 are consecutive.
        1..=10 => Some(0x3b + u16::from(n) - 1),
        11 => Some(0x57),
        12 => Some(0x58),
        _ => None,
    }
}

/// One entry of the Send key menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCombo {
    /// Action target (stable, used in `win.send-key::<id>`).
    pub id: String,
    /// Label as shown (not translated: key names).
    pub label: String,
    /// Scancodes pressed in order and released in reverse.
    pub scancodes: Vec<u16>,
}

/// The menu, in remote-viewer's order: Ctrl+Alt+Del, Ctrl+Alt+Backspace,
/// Ctrl+Alt+F1…F12, PrintScreen.
pub fn send_key_combos() -> Vec<KeyCombo> {
    let mut v = vec![
        KeyCombo {
            id: "ctrl-alt-del".into(),
            label: "Ctrl+Alt+Del".into(),
            scancodes: vec![XT_CTRL_L, XT_ALT_L, XT_DELETE],
        },
        KeyCombo {
            id: "ctrl-alt-backspace".into(),
            label: "Ctrl+Alt+Backspace".into(),
            scancodes: vec![XT_CTRL_L, XT_ALT_L, XT_BACKSPACE],
        },
    ];
    for n in 1..=12u8 {
        if let Some(f) = xt_function_key(n) {
            v.push(KeyCombo {
                id: format!("ctrl-alt-f{n}"),
                label: format!("Ctrl+Alt+F{n}"),
                scancodes: vec![XT_CTRL_L, XT_ALT_L, f],
            });
        }
    }
    v.push(KeyCombo {
        id: "print".into(),
        label: "PrintScreen".into(),
        scancodes: vec![XT_PRINT],
    });
    v
}

/// Looks an entry up by its id.
pub fn combo_by_id(id: &str) -> Option<KeyCombo> {
    send_key_combos().into_iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_has_remote_viewer_entries() {
        let combos = send_key_combos();
        assert_eq!(combos.len(), 2 + 12 + 1);
        assert_eq!(combos[0].scancodes, [0x1d, 0x38, 0x153]);
        assert_eq!(combos[1].scancodes, [0x1d, 0x38, 0x0e]);
        // F1 = 0x3b, F10 = 0x44, F11 = 0x57, F12 = 0x58 (set 1).
        assert_eq!(combo_by_id("ctrl-alt-f1").unwrap().scancodes, [0x1d, 0x38, 0x3b]);
        assert_eq!(combo_by_id("ctrl-alt-f10").unwrap().scancodes, [0x1d, 0x38, 0x44]);
        assert_eq!(combo_by_id("ctrl-alt-f11").unwrap().scancodes, [0x1d, 0x38, 0x57]);
        assert_eq!(combo_by_id("ctrl-alt-f12").unwrap().label, "Ctrl+Alt+F12");
        assert_eq!(combo_by_id("print").unwrap().scancodes, [0x137]);
        assert_eq!(combo_by_id("nope"), None);
        assert_eq!(xt_function_key(0), None);
        assert_eq!(xt_function_key(13), None);
        let mut ids: Vec<_> = combos.iter().map(|c| c.id.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), combos.len());
    }
}
