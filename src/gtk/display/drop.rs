//! Files dropped on a [`Display`](super::Display) go to the guest: a
//! `gtk::DropTarget` for `gdk::FileList` hands each local file to
//! [`Session::send_file`](crate::gtk::Session::send_file); progress and
//! results come as the session's `file-transfer-*` signals. A file that
//! cannot even start (no agent, a directory, unreadable) is reported with
//! `file-transfer-done` at once (id 0).

use gtk::gdk;
use gtk::prelude::*;

/// Installs the drop target on `display`.
pub(super) fn install(display: &super::Display) {
    let target = gtk::DropTarget::new(gdk::FileList::static_type(), gdk::DragAction::COPY);
    let weak = display.downgrade();
    target.connect_drop(move |_, value, _, _| {
        let Some(display) = weak.upgrade() else { return false };
        let Ok(files) = value.get::<gdk::FileList>() else {
            return false;
        };
        let Some(session) = display.session() else { return false };
        let paths: Vec<std::path::PathBuf> = files.files().iter().filter_map(|f| f.path()).collect();
        if paths.is_empty() {
            return false;
        }
        tracing::info!(files = paths.len(), "files dropped on the display");
        send_files(&session, &paths);
        true
    });
    display.add_controller(target);
}

/// Sends `paths` to the guest, reporting files that cannot start.
pub fn send_files(session: &crate::gtk::Session, paths: &[std::path::PathBuf]) {
    for path in paths {
        if let Err(message) = session.send_file(path) {
            let name = path
                .file_name()
                .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            tracing::info!(%name, %message, "file not sent");
            session.emit_by_name::<()>("file-transfer-done", &[&0u32, &name, &false, &message]);
        }
    }
}
