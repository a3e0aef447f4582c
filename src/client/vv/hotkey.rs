//! remote-viewer hotkeys: the `.vv` keys `toggle-fullscreen=shift+f11`, … and
//! the `-H/--hotkeys action=key[+key],…` option.
//!
//! A hotkey is keys joined with `+`, case-insensitive: modifiers (`shift`,
//! `ctrl`, `alt`, `super`, …) and at most one other key (`f11`, `r`, `ins`,
//! `end`, …). Only `release-cursor` may be modifiers alone (`ctrl+alt`), as in
//! remote-viewer 11. Nothing here touches GTK: [`Hotkey::to_accelerator`]
//! gives the string `gtk::accelerator_parse` understands.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a hotkey or a hotkey list cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HotkeyError {
    #[error(
        "unknown hotkey action `{action}`; valid actions are toggle-fullscreen, release-cursor, zoom-in, zoom-out, zoom-reset, secure-attention, usb-device-reset, smartcard-insert, smartcard-remove"
    )]
    UnknownAction { action: String },
    #[error("`{item}` is not `action=keys`, as in toggle-fullscreen=shift+f11")]
    NotAnAssignment { item: String },
    #[error("the hotkey `{value}` has an empty key between `+` signs")]
    EmptyKey { value: String },
    #[error("the hotkey `{value}` has more than one non-modifier key (`{first}` and `{second}`)")]
    TwoKeys {
        value: String,
        first: String,
        second: String,
    },
    #[error("the hotkey `{value}` for {action} has only modifiers; only release-cursor may be modifiers alone")]
    ModifiersOnly { value: String, action: HotkeyAction },
    #[error("the hotkey `{value}` has the invalid key name `{key}`")]
    BadKeyName { value: String, key: String },
    #[error("the hotkey `{value}` is too long (at most {max} bytes)")]
    TooLong { value: String, max: usize },
}

/// The actions remote-viewer binds to hotkeys (virt-viewer 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HotkeyAction {
    ToggleFullscreen,
    ReleaseCursor,
    ZoomIn,
    ZoomOut,
    ZoomReset,
    /// Sends Ctrl+Alt+Del to the guest.
    SecureAttention,
    UsbDeviceReset,
    SmartcardInsert,
    SmartcardRemove,
}

impl HotkeyAction {
    /// Every action, in remote-viewer's order.
    pub const ALL: [Self; 9] = [
        Self::ToggleFullscreen,
        Self::ReleaseCursor,
        Self::ZoomIn,
        Self::ZoomOut,
        Self::ZoomReset,
        Self::SecureAttention,
        Self::UsbDeviceReset,
        Self::SmartcardInsert,
        Self::SmartcardRemove,
    ];

    /// The name used in `.vv` files and `--hotkeys`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ToggleFullscreen => "toggle-fullscreen",
            Self::ReleaseCursor => "release-cursor",
            Self::ZoomIn => "zoom-in",
            Self::ZoomOut => "zoom-out",
            Self::ZoomReset => "zoom-reset",
            Self::SecureAttention => "secure-attention",
            Self::UsbDeviceReset => "usb-device-reset",
            Self::SmartcardInsert => "smartcard-insert",
            Self::SmartcardRemove => "smartcard-remove",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// remote-viewer's default binding (`virt-viewer-app.c`).
    pub fn default_hotkey(self) -> Hotkey {
        let (mods, key) = match self {
            Self::ToggleFullscreen => (Modifiers::NONE, "F11"),
            Self::ReleaseCursor => (Modifiers::SHIFT, "F12"),
            Self::ZoomIn => (Modifiers::CONTROL, "plus"),
            Self::ZoomOut => (Modifiers::CONTROL, "minus"),
            Self::ZoomReset => (Modifiers::CONTROL, "0"),
            Self::SecureAttention => (Modifiers::CONTROL.with(Modifiers::ALT), "End"),
            Self::UsbDeviceReset => (Modifiers::CONTROL.with(Modifiers::SHIFT), "r"),
            Self::SmartcardInsert => (Modifiers::SHIFT, "F8"),
            Self::SmartcardRemove => (Modifiers::SHIFT, "F9"),
        };
        Hotkey {
            modifiers: mods,
            key: Some(key.to_owned()),
        }
    }
}

impl fmt::Display for HotkeyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of modifier keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Modifiers(u8);

impl Modifiers {
    pub const NONE: Self = Self(0);
    pub const SHIFT: Self = Self(1);
    pub const CONTROL: Self = Self(2);
    pub const ALT: Self = Self(4);
    pub const SUPER: Self = Self(8);
    pub const META: Self = Self(16);
    pub const HYPER: Self = Self(32);

    const NAMES: [(Self, &'static str); 6] = [
        (Self::SHIFT, "<Shift>"),
        (Self::CONTROL, "<Control>"),
        (Self::ALT, "<Alt>"),
        (Self::SUPER, "<Super>"),
        (Self::META, "<Meta>"),
        (Self::HYPER, "<Hyper>"),
    ];

    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "shift" | "shift_l" | "shift_r" => Self::SHIFT,
            "ctrl" | "control" | "control_l" | "control_r" | "ctrl_l" | "ctrl_r" | "primary" => Self::CONTROL,
            "alt" | "alt_l" | "alt_r" | "mod1" => Self::ALT,
            "super" | "super_l" | "super_r" | "win" | "logo" => Self::SUPER,
            "meta" | "meta_l" | "meta_r" => Self::META,
            "hyper" | "hyper_l" | "hyper_r" => Self::HYPER,
            _ => return None,
        })
    }
}

/// One hotkey: modifiers plus at most one key (a GDK key name such as `F11`,
/// `Insert` or `r`). `key` is `None` only for a modifier-only release-cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hotkey {
    pub modifiers: Modifiers,
    pub key: Option<String>,
}

/// Longest hotkey string accepted (a defence against absurd `.vv` values).
pub const MAX_HOTKEY_LEN: usize = 128;

impl Hotkey {
    /// Parses `shift+f11`, `Ctrl+Alt+Ins`, `ctrl+alt` (modifiers only).
    pub fn parse(value: &str) -> Result<Self, HotkeyError> {
        let value = value.trim();
        if value.len() > MAX_HOTKEY_LEN {
            return Err(HotkeyError::TooLong {
                value: value.chars().take(32).collect::<String>() + "…",
                max: MAX_HOTKEY_LEN,
            });
        }
        let mut modifiers = Modifiers::NONE;
        let mut key: Option<String> = None;
        // `ctrl++` means Ctrl and the plus key: a trailing empty part after an
        // empty part is the `+` key itself.
        let parts = split_keys(value).ok_or_else(|| HotkeyError::EmptyKey {
            value: value.to_owned(),
        })?;
        for part in parts {
            if let Some(m) = Modifiers::from_word(&part) {
                modifiers = modifiers.with(m);
                continue;
            }
            let name = key_name(&part).ok_or_else(|| HotkeyError::BadKeyName {
                value: value.to_owned(),
                key: part.clone(),
            })?;
            if let Some(first) = &key {
                return Err(HotkeyError::TwoKeys {
                    value: value.to_owned(),
                    first: first.clone(),
                    second: name,
                });
            }
            key = Some(name);
        }
        if key.is_none() && modifiers.is_empty() {
            return Err(HotkeyError::EmptyKey {
                value: value.to_owned(),
            });
        }
        Ok(Self { modifiers, key })
    }

    /// Parses the hotkey for `action`, refusing modifier-only combinations for
    /// anything but release-cursor.
    pub fn parse_for(action: HotkeyAction, value: &str) -> Result<Self, HotkeyError> {
        let hotkey = Self::parse(value)?;
        if hotkey.key.is_none() && action != HotkeyAction::ReleaseCursor {
            return Err(HotkeyError::ModifiersOnly {
                value: value.trim().to_owned(),
                action,
            });
        }
        Ok(hotkey)
    }

    /// The GTK accelerator string (`<Shift>F11`, `<Control><Alt>Insert`), or
    /// `None` for a modifier-only hotkey, which GTK accelerators cannot
    /// express (the app watches the modifier state itself for those).
    pub fn to_accelerator(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut out = String::new();
        for (m, name) in Modifiers::NAMES {
            if self.modifiers.contains(m) {
                out.push_str(name);
            }
        }
        out.push_str(key);
        Some(out)
    }
}

impl FromStr for Hotkey {
    type Err = HotkeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Hotkey {
    /// remote-viewer's syntax, lower case: `ctrl+alt+insert`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (m, name) in Modifiers::NAMES {
            if self.modifiers.contains(m) {
                if !first {
                    f.write_str("+")?;
                }
                let word = name.trim_start_matches('<').trim_end_matches('>');
                let word = if word == "Control" { "ctrl" } else { word };
                f.write_str(&word.to_ascii_lowercase())?;
                first = false;
            }
        }
        if let Some(key) = &self.key {
            if !first {
                f.write_str("+")?;
            }
            f.write_str(&key.to_ascii_lowercase())?;
        }
        Ok(())
    }
}

/// Splits on `+`, treating a `+` that follows a `+` separator (or starts
/// nothing: `ctrl++`) as the plus key. `None` if a part is empty.
fn split_keys(value: &str) -> Option<Vec<String>> {
    if value == "+" {
        return Some(vec!["plus".to_owned()]);
    }
    let mut parts = Vec::new();
    let mut rest = value;
    loop {
        match rest.split_once('+') {
            None => {
                if rest.trim().is_empty() {
                    return None;
                }
                parts.push(rest.trim().to_owned());
                return Some(parts);
            }
            Some((head, tail)) => {
                if head.trim().is_empty() {
                    return None;
                }
                parts.push(head.trim().to_owned());
                if tail == "+" {
                    parts.push("plus".to_owned());
                    return Some(parts);
                }
                rest = tail;
            }
        }
    }
}

/// The GDK key name for a remote-viewer key word: common short forms are
/// expanded (`ins` → `Insert`, `del` → `Delete`, `pgup` → `Page_Up`),
/// function keys are upper-cased (`f11` → `F11`), letters are lower-case.
/// Anything else must look like a key name (ASCII letters, digits, `_`).
fn key_name(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let named = match lower.as_str() {
        "ins" | "insert" => "Insert",
        "del" | "delete" => "Delete",
        "esc" | "escape" => "Escape",
        "bksp" | "backspace" => "BackSpace",
        "enter" | "return" => "Return",
        "home" => "Home",
        "end" => "End",
        "pgup" | "pageup" | "page_up" | "prior" => "Page_Up",
        "pgdn" | "pagedown" | "page_down" | "next" => "Page_Down",
        "space" => "space",
        "tab" => "Tab",
        "plus" => "plus",
        "minus" => "minus",
        "equal" => "equal",
        "kp_add" => "KP_Add",
        "kp_subtract" => "KP_Subtract",
        "print" | "printscreen" | "sysrq" => "Print",
        "pause" | "break" => "Pause",
        "up" => "Up",
        "down" => "Down",
        "left" => "Left",
        "right" => "Right",
        "menu" => "Menu",
        _ => "",
    };
    if !named.is_empty() {
        return Some(named.to_owned());
    }
    if let Some(num) = lower.strip_prefix('f')
        && let Ok(n) = num.parse::<u8>()
        && (1..=35).contains(&n)
        && !num.starts_with('0')
    {
        return Some(format!("F{n}"));
    }
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase().to_string()),
        (Some(c), None) if c.is_ascii_punctuation() => Some(c.to_string()),
        (Some(_), Some(_)) if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => Some(word.to_owned()),
        _ => None,
    }
}

/// The hotkeys of a session: the action → key map remote-viewer builds from
/// its defaults, the `.vv` keys and `--hotkeys`.
///
/// Semantics (as remote-viewer): a `.vv` key replaces that action's default;
/// `--hotkeys` replaces the whole map, so the actions it does not list are
/// **disabled**.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hotkeys {
    bindings: Vec<(HotkeyAction, Hotkey)>,
}

impl Default for Hotkeys {
    /// remote-viewer's defaults (smartcard and USB actions included).
    fn default() -> Self {
        Self {
            bindings: HotkeyAction::ALL.iter().map(|a| (*a, a.default_hotkey())).collect(),
        }
    }
}

impl Hotkeys {
    /// No hotkey at all (kiosk mode).
    pub fn none() -> Self {
        Self { bindings: Vec::new() }
    }

    /// Parses `--hotkeys toggle-fullscreen=shift+f11,release-cursor=ctrl+alt`.
    /// Only the listed actions are bound.
    pub fn parse_list(list: &str) -> Result<Self, HotkeyError> {
        let mut out = Self::none();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (action, keys) = item
                .split_once('=')
                .ok_or_else(|| HotkeyError::NotAnAssignment { item: item.to_owned() })?;
            let action = HotkeyAction::from_name(action).ok_or_else(|| HotkeyError::UnknownAction {
                action: action.trim().to_owned(),
            })?;
            out.set(action, Hotkey::parse_for(action, keys)?);
        }
        Ok(out)
    }

    /// Binds `action` to `hotkey` (replacing its previous binding).
    pub fn set(&mut self, action: HotkeyAction, hotkey: Hotkey) {
        match self.bindings.iter_mut().find(|(a, _)| *a == action) {
            Some(slot) => slot.1 = hotkey,
            None => self.bindings.push((action, hotkey)),
        }
    }

    /// Removes the binding of `action`.
    pub fn unset(&mut self, action: HotkeyAction) {
        self.bindings.retain(|(a, _)| *a != action);
    }

    pub fn get(&self, action: HotkeyAction) -> Option<&Hotkey> {
        self.bindings.iter().find(|(a, _)| *a == action).map(|(_, h)| h)
    }

    /// Every binding, in the order they were set.
    pub fn iter(&self) -> impl Iterator<Item = (HotkeyAction, &Hotkey)> {
        self.bindings.iter().map(|(a, h)| (*a, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hk(s: &str) -> Hotkey {
        Hotkey::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_remote_viewer_and_proxmox_forms() {
        let h = hk("shift+f11");
        assert_eq!(h.modifiers, Modifiers::SHIFT);
        assert_eq!(h.key.as_deref(), Some("F11"));
        assert_eq!(h.to_accelerator().as_deref(), Some("<Shift>F11"));
        assert_eq!(h.to_string(), "shift+f11");

        // Proxmox's secure-attention and release-cursor.
        assert_eq!(
            hk("Ctrl+Alt+Ins").to_accelerator().as_deref(),
            Some("<Control><Alt>Insert")
        );
        assert_eq!(hk("Ctrl+Alt+R").to_accelerator().as_deref(), Some("<Control><Alt>r"));
        assert_eq!(
            hk(" CONTROL + shift + PgUp ").to_accelerator().as_deref(),
            Some("<Shift><Control>Page_Up")
        );
        assert_eq!(hk("ctrl++").to_accelerator().as_deref(), Some("<Control>plus"));
        assert_eq!(hk("super+kp_add").to_accelerator().as_deref(), Some("<Super>KP_Add"));
        assert_eq!(
            hk("f5"),
            Hotkey {
                modifiers: Modifiers::NONE,
                key: Some("F5".into())
            }
        );
    }

    #[test]
    fn modifier_only_is_for_release_cursor() {
        let h = Hotkey::parse_for(HotkeyAction::ReleaseCursor, "ctrl+alt").expect("allowed");
        assert_eq!(h.key, None);
        assert_eq!(h.to_accelerator(), None);
        assert_eq!(h.to_string(), "ctrl+alt");
        let e = Hotkey::parse_for(HotkeyAction::ToggleFullscreen, "ctrl+alt").expect_err("refused");
        assert!(matches!(
            e,
            HotkeyError::ModifiersOnly {
                action: HotkeyAction::ToggleFullscreen,
                ..
            }
        ));
        assert!(e.to_string().contains("toggle-fullscreen"), "{e}");
    }

    #[test]
    fn bad_hotkeys_are_refused() {
        assert!(matches!(Hotkey::parse(""), Err(HotkeyError::EmptyKey { .. })));
        assert!(matches!(Hotkey::parse("ctrl++alt"), Err(HotkeyError::EmptyKey { .. })));
        assert!(matches!(Hotkey::parse("shift+"), Err(HotkeyError::EmptyKey { .. })));
        assert!(matches!(Hotkey::parse("a+b"), Err(HotkeyError::TwoKeys { .. })));
        assert!(matches!(Hotkey::parse("ctrl+a<b"), Err(HotkeyError::BadKeyName { .. })));
        let long = "a".repeat(MAX_HOTKEY_LEN + 1);
        assert!(matches!(Hotkey::parse(&long), Err(HotkeyError::TooLong { .. })));
    }

    #[test]
    fn hotkey_lists_replace_the_defaults() {
        let d = Hotkeys::default();
        assert_eq!(d.get(HotkeyAction::ToggleFullscreen), Some(&hk("f11")));
        assert_eq!(d.get(HotkeyAction::SecureAttention), Some(&hk("ctrl+alt+end")));
        assert_eq!(d.iter().count(), HotkeyAction::ALL.len());

        let l = Hotkeys::parse_list("toggle-fullscreen=shift+f11, release-cursor=ctrl+alt,").expect("valid");
        assert_eq!(l.get(HotkeyAction::ToggleFullscreen), Some(&hk("shift+f11")));
        assert_eq!(l.get(HotkeyAction::ReleaseCursor).and_then(|h| h.key.clone()), None);
        // Unlisted actions are disabled.
        assert_eq!(l.get(HotkeyAction::ZoomIn), None);

        assert!(matches!(
            Hotkeys::parse_list("fullscreen=f11"),
            Err(HotkeyError::UnknownAction { action }) if action == "fullscreen"
        ));
        assert!(matches!(
            Hotkeys::parse_list("zoom-in"),
            Err(HotkeyError::NotAnAssignment { .. })
        ));
        assert!(Hotkeys::parse_list("zoom-in=ctrl+alt").is_err());
    }
}
