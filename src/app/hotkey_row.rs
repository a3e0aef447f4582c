//! [`HotkeyRow`] (GType `SumacHotkeyRow`, template `ui/hotkey-row.ui`): a
//! preferences row that records a hotkey from a key press instead of free
//! text. Its button shows the hotkey as an accelerator; clicked, it says
//! "Press a key combination…" and takes the next key pressed with its
//! modifiers (modifier keys alone only add to the combination). Escape
//! cancels, Backspace restores the default, leaving the button cancels.
//! Property `hotkey`: remote-viewer's syntax (`shift+f12`), what the
//! `grab-hotkey` setting holds (bound to it by the preferences window).

use crate::client::vv::hotkey::{Hotkey, HotkeyAction, Modifiers};
use gtk::gdk;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

mod imp {
    use super::*;
    use adw::subclass::prelude::*;
    use std::cell::{Cell, RefCell};

    #[derive(Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(file = "../../ui/hotkey-row.ui")]
    #[properties(wrapper_type = super::HotkeyRow)]
    pub struct HotkeyRow {
        #[template_child]
        pub(super) button: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub(super) shortcut: TemplateChild<gtk::ShortcutLabel>,
        /// The hotkey in remote-viewer's syntax (`shift+f12`).
        #[property(get, set = Self::set_hotkey)]
        pub(super) hotkey: RefCell<String>,
        /// What Backspace restores.
        #[property(get, set)]
        pub(super) default_hotkey: RefCell<String>,
        /// Waiting for a key press.
        #[property(get)]
        pub(super) recording: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for HotkeyRow {
        const NAME: &'static str = "SumacHotkeyRow";
        type Type = super::HotkeyRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for HotkeyRow {
        fn constructed(&self) {
            self.parent_constructed();
            let row = self.obj();
            let weak = row.downgrade();
            self.button.connect_clicked(move |_| {
                if let Some(row) = weak.upgrade() {
                    row.start_recording();
                }
            });
            // Capture: before the window's own keys (Escape closes the preferences).
            let keys = gtk::EventControllerKey::new();
            keys.set_propagation_phase(gtk::PropagationPhase::Capture);
            let weak = row.downgrade();
            keys.connect_key_pressed(move |ctrl, keyval, keycode, state| {
                let Some(row) = weak.upgrade() else {
                    return glib::Propagation::Proceed;
                };
                if !row.recording() {
                    return glib::Propagation::Proceed;
                }
                row.key_pressed(keyval, keycode, state, ctrl.group());
                glib::Propagation::Stop
            });
            self.button.add_controller(keys);
            let focus = gtk::EventControllerFocus::new();
            let weak = row.downgrade();
            focus.connect_leave(move |_| {
                if let Some(row) = weak.upgrade() {
                    row.stop_recording();
                }
            });
            self.button.add_controller(focus);
        }
    }

    impl HotkeyRow {
        fn set_hotkey(&self, value: String) {
            self.shortcut.set_accelerator(&accelerator(&value));
            self.hotkey.replace(value);
        }
    }

    impl WidgetImpl for HotkeyRow {}
    impl ListBoxRowImpl for HotkeyRow {}
    impl PreferencesRowImpl for HotkeyRow {}
    impl ActionRowImpl for HotkeyRow {}
}

glib::wrapper! {
    /// A preferences row recording a hotkey (GType `SumacHotkeyRow`).
    pub struct HotkeyRow(ObjectSubclass<imp::HotkeyRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl HotkeyRow {
    /// A row titled `title` showing `hotkey`; Backspace restores `default`.
    pub fn new(title: &str, subtitle: &str, default: &str) -> Self {
        glib::Object::builder()
            .property("title", title)
            .property("subtitle", subtitle)
            .property("default-hotkey", default)
            .build()
    }

    fn start_recording(&self) {
        let imp = self.imp();
        imp.recording.set(true);
        imp.stack.set_visible_child_name("recording");
        imp.button.grab_focus();
        self.notify_recording();
        tracing::debug!("recording a hotkey");
    }

    fn stop_recording(&self) {
        let imp = self.imp();
        if !imp.recording.replace(false) {
            return;
        }
        imp.stack.set_visible_child_name("shown");
        self.notify_recording();
        tracing::debug!("hotkey recording stopped");
    }

    fn key_pressed(&self, keyval: gdk::Key, keycode: u32, state: gdk::ModifierType, group: u32) {
        // The key on its own, without what Shift makes of it (Shift+1 is `1`, not `!`).
        let base = WidgetExt::display(self)
            .translate_key(keycode, gdk::ModifierType::empty(), i32::try_from(group).unwrap_or(0))
            .map_or(keyval, |(k, ..)| k);
        let modifiers = modifiers_of(state);
        tracing::debug!(key = ?base.name(), ?modifiers, "key pressed while recording a hotkey");
        match recorded(base, modifiers) {
            Recorded::Wait => {}
            Recorded::Cancel => self.stop_recording(),
            Recorded::Default => {
                let default = self.default_hotkey();
                self.stop_recording();
                self.set_hotkey(default);
            }
            Recorded::Hotkey(h) => {
                tracing::info!(hotkey = %h, "hotkey recorded");
                self.stop_recording();
                self.set_hotkey(h.to_string());
            }
        }
    }
}

/// What a key press does to a recording.
#[derive(Debug, PartialEq, Eq)]
enum Recorded {
    /// A modifier key: wait for the rest of the combination.
    Wait,
    /// Escape: keep the old hotkey.
    Cancel,
    /// Backspace: the default hotkey.
    Default,
    Hotkey(Hotkey),
}

fn modifiers_of(state: gdk::ModifierType) -> Modifiers {
    let mut m = Modifiers::NONE;
    for (mask, modifier) in [
        (gdk::ModifierType::SHIFT_MASK, Modifiers::SHIFT),
        (gdk::ModifierType::CONTROL_MASK, Modifiers::CONTROL),
        (gdk::ModifierType::ALT_MASK, Modifiers::ALT),
        (gdk::ModifierType::SUPER_MASK, Modifiers::SUPER),
        (gdk::ModifierType::META_MASK, Modifiers::META),
        (gdk::ModifierType::HYPER_MASK, Modifiers::HYPER),
    ] {
        if state.contains(mask) {
            m = m.with(modifier);
        }
    }
    m
}

/// The recording's answer to `key` (unshifted) pressed with `modifiers`.
fn recorded(key: gdk::Key, modifiers: Modifiers) -> Recorded {
    const MODIFIER_KEYS: [gdk::Key; 15] = [
        gdk::Key::Shift_L,
        gdk::Key::Shift_R,
        gdk::Key::Control_L,
        gdk::Key::Control_R,
        gdk::Key::Alt_L,
        gdk::Key::Alt_R,
        gdk::Key::Meta_L,
        gdk::Key::Meta_R,
        gdk::Key::Super_L,
        gdk::Key::Super_R,
        gdk::Key::Hyper_L,
        gdk::Key::Hyper_R,
        gdk::Key::ISO_Level3_Shift,
        gdk::Key::Caps_Lock,
        gdk::Key::Num_Lock,
    ];
    let is_modifier = MODIFIER_KEYS.contains(&key);
    if is_modifier {
        return Recorded::Wait;
    }
    if modifiers.is_empty() && key == gdk::Key::Escape {
        return Recorded::Cancel;
    }
    if modifiers.is_empty() && key == gdk::Key::BackSpace {
        return Recorded::Default;
    }
    let Some(name) = key.to_lower().name() else {
        return Recorded::Wait;
    };
    match Hotkey::parse_for(HotkeyAction::ReleaseCursor, name.as_str()) {
        Ok(h) => Recorded::Hotkey(Hotkey { modifiers, key: h.key }),
        Err(_) => Recorded::Wait,
    }
}

/// The GTK accelerator `GtkShortcutLabel` shows for `value` (remote-viewer's
/// syntax); a modifier-only hotkey (`ctrl+alt`) is shown with its last
/// modifier as the key. Empty when `value` is not a hotkey.
fn accelerator(value: &str) -> String {
    let Ok(h) = Hotkey::parse(value) else {
        return String::new();
    };
    if let Some(accel) = h.to_accelerator() {
        return accel;
    }
    let present: Vec<(Modifiers, &str, &str)> = [
        (Modifiers::SHIFT, "<Shift>", "Shift_L"),
        (Modifiers::CONTROL, "<Control>", "Control_L"),
        (Modifiers::ALT, "<Alt>", "Alt_L"),
        (Modifiers::SUPER, "<Super>", "Super_L"),
    ]
    .into_iter()
    .filter(|(m, ..)| h.modifiers.contains(*m))
    .collect();
    let Some(((_, _, key), rest)) = present.split_last() else {
        return String::new();
    };
    rest.iter().map(|(_, name, _)| *name).collect::<String>() + key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_presses_make_hotkeys() {
        let ctrl_alt = Modifiers::CONTROL.with(Modifiers::ALT);
        let Recorded::Hotkey(h) = recorded(gdk::Key::F10, ctrl_alt) else {
            panic!("no hotkey");
        };
        assert_eq!(h.to_string(), "ctrl+alt+f10");
        let Recorded::Hotkey(h) = recorded(gdk::Key::R, Modifiers::SHIFT) else {
            panic!("no hotkey");
        };
        assert_eq!(h.to_string(), "shift+r");
        assert_eq!(recorded(gdk::Key::Control_L, Modifiers::NONE), Recorded::Wait);
        assert_eq!(recorded(gdk::Key::Alt_L, Modifiers::CONTROL), Recorded::Wait);
        assert_eq!(recorded(gdk::Key::Escape, Modifiers::NONE), Recorded::Cancel);
        assert_eq!(recorded(gdk::Key::BackSpace, Modifiers::NONE), Recorded::Default);
        // With a modifier they are hotkeys like any other key.
        assert!(matches!(
            recorded(gdk::Key::Escape, Modifiers::SHIFT),
            Recorded::Hotkey(_)
        ));
    }

    #[test]
    fn accelerators_shown() {
        assert_eq!(accelerator("shift+f12"), "<Shift>F12");
        assert_eq!(accelerator("ctrl+alt+f10"), "<Control><Alt>F10");
        assert_eq!(accelerator("ctrl+alt"), "<Control>Alt_L");
        assert_eq!(accelerator("+++"), "");
        assert_eq!(
            modifiers_of(gdk::ModifierType::CONTROL_MASK | gdk::ModifierType::ALT_MASK),
            Modifiers::CONTROL.with(Modifiers::ALT)
        );
    }
}
