//! Preferences and the recent-connections list.
//!
//! Storage decision: **GSettings** (schema `io.github.sumac.Sumac`,
//! `resources/io.github.sumac.Sumac.gschema.xml`) when its compiled schema is
//! found (installed, Flatpak, or a dev run with `GSETTINGS_SCHEMA_DIR`);
//! otherwise a **key file** at `$XDG_CONFIG_HOME/sumac/settings.ini`
//! (group `[sumac]`, same key names), so a plain `cargo run` keeps its recent
//! connections across runs without installing anything.

use super::APP_ID;
use gtk::{gio, glib, prelude::*};
use std::cell::RefCell;
use std::path::PathBuf;

/// Keys used by the app (all present in the gschema).
pub mod keys {
    pub const RECENT: &str = "recent-connections";
    pub const RENDERER: &str = "renderer";
    pub const SCALING: &str = "scaling";
    pub const GRAB_HOTKEY: &str = "grab-hotkey";
    pub const AUTO_RECONNECT: &str = "auto-reconnect";
    pub const MICROPHONE: &str = "allow-microphone";
    pub const SHARE_CLIPBOARD: &str = "share-clipboard";
    pub const AUTO_RESIZE: &str = "auto-resize";
}

/// Defaults of the key-file backend (the gschema carries the same).
fn default_string(key: &str) -> &'static str {
    match key {
        keys::RENDERER => "auto",
        keys::GRAB_HOTKEY => "shift+f12",
        _ => "",
    }
}

fn default_bool(key: &str) -> bool {
    matches!(
        key,
        keys::SCALING | keys::MICROPHONE | keys::SHARE_CLIPBOARD | keys::AUTO_RESIZE
    )
}

const GROUP: &str = "sumac";

enum Backend {
    Settings(gio::Settings),
    KeyFile { path: PathBuf, file: glib::KeyFile },
}

/// The app's preferences (one per process, owned by the application).
pub struct Prefs {
    backend: RefCell<Backend>,
}

impl std::fmt::Debug for Prefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &*self.backend.borrow() {
            Backend::Settings(_) => "gsettings".to_owned(),
            Backend::KeyFile { path, .. } => format!("keyfile {}", path.display()),
        };
        f.debug_struct("Prefs").field("backend", &kind).finish()
    }
}

impl Prefs {
    /// GSettings when the schema is installed, the key file otherwise.
    pub fn open() -> Self {
        let schema = gio::SettingsSchemaSource::default().and_then(|src| src.lookup(APP_ID, true));
        let has_keys = schema.as_ref().is_some_and(|s| {
            [
                keys::RECENT,
                keys::RENDERER,
                keys::SCALING,
                keys::GRAB_HOTKEY,
                keys::AUTO_RECONNECT,
            ]
            .iter()
            .all(|k| s.has_key(k))
        });
        if let (Some(schema), true) = (schema, has_keys) {
            tracing::debug!("preferences in GSettings");
            let settings = gio::Settings::new_full(&schema, None::<&gio::SettingsBackend>, None);
            return Self {
                backend: RefCell::new(Backend::Settings(settings)),
            };
        }
        let path = glib::user_config_dir().join("sumac").join("settings.ini");
        Self::with_key_file(path)
    }

    /// The key-file backend at `path` (created on first write).
    pub fn with_key_file(path: PathBuf) -> Self {
        let file = glib::KeyFile::new();
        if path.exists()
            && let Err(e) = file.load_from_file(&path, glib::KeyFileFlags::NONE)
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the settings file; using defaults");
        }
        tracing::debug!(path = %path.display(), "preferences in a key file");
        Self {
            backend: RefCell::new(Backend::KeyFile { path, file }),
        }
    }

    /// The GSettings object, when that backend is used (for `gio::Settings::bind`).
    pub fn gsettings(&self) -> Option<gio::Settings> {
        match &*self.backend.borrow() {
            Backend::Settings(s) => Some(s.clone()),
            Backend::KeyFile { .. } => None,
        }
    }

    /// Where the key file lives, if that backend is used.
    pub fn key_file_path(&self) -> Option<PathBuf> {
        match &*self.backend.borrow() {
            Backend::Settings(_) => None,
            Backend::KeyFile { path, .. } => Some(path.clone()),
        }
    }

    pub fn string(&self, key: &str) -> String {
        match &*self.backend.borrow() {
            Backend::Settings(s) => s.string(key).into(),
            Backend::KeyFile { file, .. } => file
                .string(GROUP, key)
                .map_or_else(|_| default_string(key).to_owned(), String::from),
        }
    }

    pub fn set_string(&self, key: &str, value: &str) {
        match &mut *self.backend.borrow_mut() {
            Backend::Settings(s) => {
                if let Err(e) = s.set_string(key, value) {
                    tracing::warn!(key, error = %e, "cannot store a setting");
                }
            }
            Backend::KeyFile { path, file } => {
                file.set_string(GROUP, key, value);
                save(path, file);
            }
        }
    }

    pub fn boolean(&self, key: &str) -> bool {
        match &*self.backend.borrow() {
            Backend::Settings(s) => s.boolean(key),
            Backend::KeyFile { file, .. } => file.boolean(GROUP, key).unwrap_or_else(|_| default_bool(key)),
        }
    }

    pub fn set_boolean(&self, key: &str, value: bool) {
        match &mut *self.backend.borrow_mut() {
            Backend::Settings(s) => {
                if let Err(e) = s.set_boolean(key, value) {
                    tracing::warn!(key, error = %e, "cannot store a setting");
                }
            }
            Backend::KeyFile { path, file } => {
                file.set_boolean(GROUP, key, value);
                save(path, file);
            }
        }
    }

    /// The recent connections, newest first (cleaned).
    pub fn recent(&self) -> Vec<String> {
        let raw: Vec<String> = match &*self.backend.borrow() {
            Backend::Settings(s) => s.strv(keys::RECENT).iter().map(|g| g.to_string()).collect(),
            Backend::KeyFile { file, .. } => file
                .string_list(GROUP, keys::RECENT)
                .map(|l| l.iter().map(|g| g.to_string()).collect())
                .unwrap_or_default(),
        };
        super::recent::normalize(raw)
    }

    /// Remembers `address` (password stripped) as the newest connection.
    pub fn add_recent(&self, address: &str) {
        let mut list = self.recent();
        if !super::recent::push(&mut list, address) {
            return;
        }
        self.store_recent(&list);
    }

    /// Forgets `address` (as [`Self::recent`] lists it).
    pub fn remove_recent(&self, address: &str) {
        let mut list = self.recent();
        let before = list.len();
        list.retain(|e| e != address);
        if list.len() != before {
            self.store_recent(&list);
        }
    }

    fn store_recent(&self, list: &[String]) {
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        match &mut *self.backend.borrow_mut() {
            Backend::Settings(s) => {
                if let Err(e) = s.set_strv(keys::RECENT, refs.as_slice()) {
                    tracing::warn!(error = %e, "cannot store the recent connections");
                }
            }
            Backend::KeyFile { path, file } => {
                file.set_value(GROUP, keys::RECENT, &key_file_list(&refs));
                save(path, file);
            }
        }
    }
}

/// A string list in GKeyFile syntax (`a;b;`, with backslash, `;`, control
/// characters and a leading space escaped), as `g_key_file_set_string_list` writes it.
fn key_file_list(items: &[&str]) -> String {
    let mut out = String::new();
    for item in items {
        for (i, c) in item.chars().enumerate() {
            match c {
                '\\' => out.push_str("\\\\"),
                ';' => out.push_str("\\;"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                ' ' if i == 0 => out.push_str("\\s"),
                c => out.push(c),
            }
        }
        out.push(';');
    }
    out
}

fn save(path: &std::path::Path, file: &glib::KeyFile) {
    if let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the settings directory");
        return;
    }
    if let Err(e) = file.save_to_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the settings file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_lists_round_trip() {
        let items = ["a;b", "c\\d", " lead", "plain"];
        let file = glib::KeyFile::new();
        file.set_value(GROUP, keys::RECENT, &key_file_list(&items));
        let back: Vec<String> = file
            .string_list(GROUP, keys::RECENT)
            .unwrap()
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(back, items);
    }

    #[test]
    fn key_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("settings.ini");
        let p = Prefs::with_key_file(path.clone());
        assert_eq!(p.string(keys::RENDERER), "auto");
        assert!(p.boolean(keys::SCALING));
        assert_eq!(p.string(keys::GRAB_HOTKEY), "shift+f12");
        p.set_string(keys::RENDERER, "cairo");
        p.set_boolean(keys::SCALING, false);
        p.add_recent("spice://a:5900?password=secret");
        p.add_recent("/tmp/b.vv");
        // A new instance reads what the first one wrote.
        let q = Prefs::with_key_file(path.clone());
        assert_eq!(q.string(keys::RENDERER), "cairo");
        assert!(!q.boolean(keys::SCALING));
        assert_eq!(q.recent(), ["/tmp/b.vv", "spice://a:5900"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret"));
        assert!(text.contains("recent-connections=/tmp/b.vv;spice://a:5900;"), "{text}");
        assert_eq!(q.key_file_path(), Some(path.clone()));
        q.remove_recent("spice://a:5900");
        q.remove_recent("not there");
        assert_eq!(Prefs::with_key_file(path).recent(), ["/tmp/b.vv"]);
    }
}
