//! The shared folder while connected, as remote-viewer's "Share folder"
//! and "Read-only" preferences: main-menu entries "Share Folder…" (a folder
//! chooser), "Share Read-Only" (a check item) and "Stop Sharing Folder",
//! over [`Session::set_shared_folder`]: a change drops the guest's open
//! connections to the share and serves the new folder (or nothing).
//!
//! Window actions: `win.share-folder` (opens the chooser),
//! `win.share-folder-path` (string: the folder to share, what the chooser
//! activates), `win.share-read-only` (boolean state), `win.stop-sharing-folder`.

use crate::client::sharing::SharedFolder;
use crate::gtk::Session;
use crate::i18n::gettext;
use gtk::prelude::*;
use gtk::{gio, glib};
use std::path::PathBuf;

/// The folder shared after the user chose `path` (`None`: stop sharing),
/// keeping the read-only choice.
pub fn folder_for(path: Option<PathBuf>, read_only: bool) -> Option<SharedFolder> {
    path.map(|p| SharedFolder::new(p, read_only))
}

fn read_only(window: &gtk::ApplicationWindow) -> bool {
    window
        .lookup_action("share-read-only")
        .and_then(|a| a.state())
        .and_then(|v| v.get::<bool>())
        .unwrap_or(false)
}

fn share(session: &Session, folder: Option<SharedFolder>) {
    match &folder {
        Some(f) => tracing::info!(folder = %f.path.display(), read_only = f.read_only, "shared folder set"),
        None => tracing::info!("folder sharing stopped"),
    }
    if !session.set_shared_folder(folder) {
        tracing::info!("not connected: the shared folder is not changed");
    }
}

/// Installs the actions on `window` and the entries in `section`.
pub fn install(window: &gtk::ApplicationWindow, session: &Session, section: &gio::Menu) {
    let path = gio::SimpleAction::new("share-folder-path", Some(glib::VariantTy::STRING));
    {
        let (session, window) = (session.downgrade(), window.downgrade());
        path.connect_activate(move |_, param| {
            let (Some(s), Some(w)) = (session.upgrade(), window.upgrade()) else {
                return;
            };
            let Some(p) = param.and_then(|p| p.get::<String>()) else {
                return;
            };
            share(&s, folder_for(Some(PathBuf::from(p)), read_only(&w)));
        });
    }
    window.add_action(&path);

    let choose = gio::SimpleAction::new("share-folder", None);
    {
        let window = window.downgrade();
        choose.connect_activate(move |_, _| {
            if let Some(w) = window.upgrade() {
                choose_folder(&w);
            }
        });
    }
    window.add_action(&choose);

    let initial_ro = session.shared_folder().is_some_and(|f| f.read_only);
    let ro = gio::SimpleAction::new_stateful("share-read-only", None, &initial_ro.to_variant());
    {
        let session = session.downgrade();
        ro.connect_change_state(move |a, value| {
            let (Some(s), Some(on)) = (session.upgrade(), value.and_then(|v| v.get::<bool>())) else {
                return;
            };
            a.set_state(&on.to_variant());
            if let Some(current) = s.shared_folder() {
                share(&s, folder_for(Some(current.path), on));
            }
        });
    }
    window.add_action(&ro);

    let stop = gio::SimpleAction::new("stop-sharing-folder", None);
    {
        let session = session.downgrade();
        stop.connect_activate(move |_, _| {
            if let Some(s) = session.upgrade() {
                share(&s, None);
            }
        });
    }
    window.add_action(&stop);

    section.append(Some(&gettext("S_hare Folder…")), Some("win.share-folder"));
    section.append(Some(&gettext("Share Read-Onl_y")), Some("win.share-read-only"));
    section.append(Some(&gettext("S_top Sharing Folder")), Some("win.stop-sharing-folder"));
}

/// The folder chooser; the folder chosen goes to `win.share-folder-path`.
fn choose_folder(window: &gtk::ApplicationWindow) {
    let chooser = gtk::FileChooserNative::new(
        Some(&gettext("Share a Folder with the Guest")),
        Some(window),
        gtk::FileChooserAction::SelectFolder,
        Some(&gettext("_Share")),
        Some(&gettext("_Cancel")),
    );
    chooser.set_modal(true);
    let weak = window.downgrade();
    // The dialog keeps itself alive through this slot until it answers.
    let keep = std::rc::Rc::new(std::cell::RefCell::new(Some(chooser.clone())));
    chooser.connect_response(move |c, response| {
        keep.borrow_mut().take();
        if response == gtk::ResponseType::Accept
            && let (Some(w), Some(path)) = (weak.upgrade(), c.file().and_then(|f| f.path()))
        {
            gio::prelude::ActionGroupExt::activate_action(
                &w,
                "share-folder-path",
                Some(&path.to_string_lossy().to_variant()),
            );
        }
        c.destroy();
    });
    chooser.show();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_only_choice_is_kept() {
        assert_eq!(folder_for(None, true), None);
        assert_eq!(
            folder_for(Some("/srv/share".into()), true),
            Some(SharedFolder::new("/srv/share", true))
        );
    }
}
