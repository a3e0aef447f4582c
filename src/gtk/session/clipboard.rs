//! The clipboard side of [`Session`]: the desktop's CLIPBOARD and PRIMARY
//! selections (`gdk::Clipboard`) shared with the guest through its agent,
//! lazily both ways.
//!
//! - The guest copied ([`AgentEvent::ClipboardGrab`]): a [`GuestContent`]
//!   provider is set on the local clipboard, offering the grab's types as
//!   MIME types; nothing moves until a local application pastes, when
//!   GDK calls its `write_mime_type` and the data is asked from the guest.
//! - The desktop copied (the clipboard's `changed` signal, for content that
//!   is not ours): a grab with the local formats goes to the guest; when the
//!   guest pastes ([`AgentEvent::ClipboardWanted`]) the local clipboard is
//!   read (text as UTF-8 with LF line ends, images as PNG), bounded by the
//!   agent's MAX_CLIPBOARD.
//! - Data over the limit is refused both ways and reported with the
//!   `clipboard-refused` signal (never truncated).
//! - The `share-clipboard` property turns all of it off (and on).

use super::{Session, imp};
use crate::client::agent::{AgentEvent, ClipType, ClipboardDirection, ClipboardFailure, RequestId, Selection};
use gtk::gdk;
use gtk::gio;
use gtk::glib;
use gtk::glib::subclass::prelude::*;
use gtk::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

/// The selections shared with the guest.
pub(super) const SELECTIONS: [Selection; 2] = [Selection::Clipboard, Selection::Primary];

/// The MIME types offered locally for guest data of type `t`.
pub(crate) fn mime_types_for(t: ClipType) -> &'static [&'static str] {
    match t {
        ClipType::Text => &["text/plain;charset=utf-8", "text/plain"],
        ClipType::Png => &["image/png"],
        ClipType::Bmp => &["image/bmp"],
        ClipType::Tiff => &["image/tiff"],
        ClipType::Jpeg => &["image/jpeg"],
        ClipType::FileList => &[],
    }
}

/// The types the guest is offered for local content with these MIME types
/// (`text`, `image`: whether GDK can turn it into a string or a texture).
pub(crate) fn types_for_local(mimes: &[String], text: bool, image: bool) -> Vec<ClipType> {
    let mut types = Vec::new();
    let has = |m: &str| mimes.iter().any(|x| x.eq_ignore_ascii_case(m));
    if text || mimes.iter().any(|m| ClipType::from_mime(m) == Some(ClipType::Text)) {
        types.push(ClipType::Text);
    }
    if image || has("image/png") {
        types.push(ClipType::Png);
    }
    for t in [ClipType::Bmp, ClipType::Tiff, ClipType::Jpeg] {
        if t.mime().is_some_and(has) && !types.contains(&t) {
            types.push(t);
        }
    }
    types
}

/// Text as the guest gets it: LF line ends (the agent machine converts to
/// the guest's convention), invalid UTF-8 replaced.
pub(crate) fn normalize_text(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix('\0').unwrap_or(&text);
    text.replace("\r\n", "\n").into_bytes()
}

/// A pending request of a local paste for guest data.
type Waiter = tokio::sync::oneshot::Sender<Result<Vec<u8>, ClipboardFailure>>;

/// What the session keeps for the clipboard.
#[derive(Default)]
pub(crate) struct ClipState {
    /// Local pastes waiting for the guest's data.
    waiters: RefCell<HashMap<RequestId, Waiter>>,
    /// The selections whose local content we announced to the guest.
    grabbed: RefCell<Vec<Selection>>,
    /// Our handlers on the desktop clipboards.
    handlers: RefCell<Vec<(gdk::Clipboard, glib::SignalHandlerId)>>,
}

impl std::fmt::Debug for ClipState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipState")
            .field("waiters", &self.waiters.borrow().len())
            .field("grabbed", &self.grabbed.borrow())
            .finish_non_exhaustive()
    }
}

/// The desktop clipboard of `selection` (PRIMARY exists on X11 and on
/// Wayland compositors with the primary-selection protocol).
fn local_clipboard(selection: Selection) -> Option<gdk::Clipboard> {
    let display = gdk::Display::default()?;
    match selection {
        Selection::Clipboard => Some(display.clipboard()),
        Selection::Primary => Some(display.primary_clipboard()),
        Selection::Secondary => None,
    }
}

fn io_error(text: &str) -> glib::Error {
    glib::Error::new(gio::IOErrorEnum::Failed, text)
}

impl Session {
    /// Starts following the desktop clipboards (at connect).
    pub(super) fn clipboard_attach(&self) {
        let st = &self.imp().clip;
        if !st.handlers.borrow().is_empty() {
            return;
        }
        for sel in SELECTIONS {
            let Some(cb) = local_clipboard(sel) else { continue };
            let weak = self.downgrade();
            let id = cb.connect_changed(move |cb| {
                if let Some(s) = weak.upgrade() {
                    s.local_clipboard_changed(sel, cb);
                }
            });
            st.handlers.borrow_mut().push((cb, id));
        }
    }

    /// Stops following the desktop clipboards, drops guest content we put
    /// there and fails local pastes still waiting (session end, sharing off).
    pub(super) fn clipboard_detach(&self) {
        let st = &self.imp().clip;
        for (cb, id) in st.handlers.take() {
            cb.disconnect(id);
        }
        self.drop_guest_content(None);
        st.grabbed.borrow_mut().clear();
        for (_, w) in st.waiters.take() {
            let _ = w.send(Err(ClipboardFailure::AgentGone));
        }
    }

    /// Clears the local clipboards that hold guest content (of `only` that selection).
    fn drop_guest_content(&self, only: Option<Selection>) {
        for sel in SELECTIONS {
            if only.is_some_and(|o| o != sel) {
                continue;
            }
            if let Some(cb) = local_clipboard(sel)
                && self.owns(&cb)
            {
                // Unset: the selection is no longer owned by anyone.
                let _ = cb.set_content(None::<&gdk::ContentProvider>);
            }
        }
    }

    /// Whether `cb` holds this session's guest content.
    fn owns(&self, cb: &gdk::Clipboard) -> bool {
        cb.content()
            .and_downcast::<GuestContent>()
            .is_some_and(|c| c.imp().session.upgrade().as_ref() == Some(self))
    }

    fn sharing(&self) -> bool {
        self.imp().share_clipboard.get() && self.is_running()
    }

    /// The agent is ready (a new agent or a re-announce): offers what the
    /// desktop clipboards hold now.
    pub(super) fn clipboard_agent_ready(&self) {
        if !self.sharing() {
            return;
        }
        self.clipboard_attach();
        self.imp().clip.grabbed.borrow_mut().clear();
        for sel in SELECTIONS {
            if let Some(cb) = local_clipboard(sel) {
                self.local_clipboard_changed(sel, &cb);
            }
        }
    }

    /// The agent went away: guest content is gone, pastes fail.
    pub(super) fn clipboard_agent_gone(&self) {
        let st = &self.imp().clip;
        self.drop_guest_content(None);
        st.grabbed.borrow_mut().clear();
        for (_, w) in st.waiters.take() {
            let _ = w.send(Err(ClipboardFailure::AgentGone));
        }
    }

    fn local_clipboard_changed(&self, sel: Selection, cb: &gdk::Clipboard) {
        if !self.sharing() {
            return;
        }
        if self.owns(cb) {
            // Our own guest content (another session's is offered to this guest like any other).
            return;
        }
        let Some(agent) = self.agent() else { return };
        if !agent.info().is_some_and(|i| i.supports(sel)) {
            return;
        }
        let formats = cb.formats();
        let mimes: Vec<String> = formats.mime_types().iter().map(ToString::to_string).collect();
        let expanded = formats.union_deserialize_types();
        let text = expanded.contains_type(glib::Type::STRING);
        let image = expanded.contains_type(gdk::Texture::static_type());
        let types = types_for_local(&mimes, text, image);
        let grabbed = &self.imp().clip.grabbed;
        if types.is_empty() {
            if grabbed.borrow().contains(&sel) {
                grabbed.borrow_mut().retain(|s| *s != sel);
                if let Err(e) = agent.clipboard_release(sel) {
                    tracing::debug!(error = %e, "clipboard release not sent");
                }
            }
            return;
        }
        tracing::debug!(selection = sel.name(), ?types, "local clipboard changed: grab");
        match agent.clipboard_grab(sel, &types) {
            Ok(()) => {
                if !grabbed.borrow().contains(&sel) {
                    grabbed.borrow_mut().push(sel);
                }
            }
            Err(e) => tracing::debug!(error = %e, "clipboard grab not sent"),
        }
    }

    /// Handles the clipboard events of the agent; false for other events.
    pub(super) fn clipboard_event(&self, e: &AgentEvent) -> bool {
        match e {
            AgentEvent::ClipboardGrab { selection, types } => self.guest_grab(*selection, types),
            AgentEvent::ClipboardRelease { selection } => {
                if self.sharing() {
                    self.drop_guest_content(Some(*selection));
                }
            }
            AgentEvent::ClipboardData { request, data, .. } => {
                if let Some(w) = self.imp().clip.waiters.borrow_mut().remove(request) {
                    let _ = w.send(Ok(data.clone()));
                }
            }
            AgentEvent::ClipboardFailed { request, reason, .. } => {
                if let Some(w) = self.imp().clip.waiters.borrow_mut().remove(request) {
                    let _ = w.send(Err(*reason));
                }
            }
            AgentEvent::ClipboardWanted { selection, clip_type } => self.guest_wants(*selection, *clip_type),
            AgentEvent::ClipboardRefused {
                direction, size, max, ..
            } => self.emit_refused(*direction == ClipboardDirection::ToGuest, *size, *max),
            _ => return false,
        }
        true
    }

    pub(super) fn emit_refused(&self, to_guest: bool, size: u64, max: u32) {
        tracing::info!(to_guest, size, max, "clipboard data over the limit refused");
        self.emit_by_name::<()>("clipboard-refused", &[&to_guest, &size, &max]);
    }

    fn guest_grab(&self, sel: Selection, types: &[ClipType]) {
        if !self.sharing() {
            return;
        }
        let Some(cb) = local_clipboard(sel) else { return };
        self.imp().clip.grabbed.borrow_mut().retain(|s| *s != sel);
        let types: Vec<ClipType> = types
            .iter()
            .copied()
            .filter(|t| !mime_types_for(*t).is_empty())
            .collect();
        if types.is_empty() {
            self.drop_guest_content(Some(sel));
            return;
        }
        tracing::debug!(selection = sel.name(), ?types, "guest clipboard grab");
        let content = GuestContent::new(self, sel, &types);
        if let Err(e) = cb.set_content(Some(&content)) {
            tracing::warn!(error = %e, "cannot set the guest's clipboard content");
        }
    }

    /// Asks the guest for its clipboard data (a local paste).
    pub(crate) async fn guest_clipboard_data(&self, sel: Selection, t: ClipType) -> Result<Vec<u8>, glib::Error> {
        let agent = self.agent().ok_or_else(|| io_error("no guest agent"))?;
        let id = agent.clipboard_request(sel, t).map_err(|e| io_error(&e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.imp().clip.waiters.borrow_mut().insert(id, tx);
        match rx.await {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(reason)) => {
                tracing::info!(%reason, "guest clipboard paste failed");
                Err(io_error(&reason.to_string()))
            }
            Err(_) => Err(io_error("the session ended")),
        }
    }

    /// The guest pastes from our grab: read the local clipboard and answer.
    fn guest_wants(&self, sel: Selection, t: ClipType) {
        let Some(agent) = self.agent() else { return };
        let cb = local_clipboard(sel).filter(|_| self.sharing());
        let Some(cb) = cb else {
            let _ = agent.clipboard_no_data(sel);
            return;
        };
        let limit = agent
            .info()
            .map_or(crate::client::agent::DEFAULT_MAX_CLIPBOARD, |i| i.max_clipboard);
        let limit = match usize::try_from(limit) {
            Ok(l) if l > 0 => l,
            _ => crate::client::agent::MAX_QUEUED_AGENT_BYTES,
        };
        let weak = self.downgrade();
        glib::spawn_future_local(async move {
            let result = read_local(&cb, t, limit).await;
            let answer = match result {
                Ok(Local::Data(data)) => agent.clipboard_data(sel, t, data),
                Ok(Local::TooLarge(size)) => {
                    if let Some(s) = weak.upgrade() {
                        s.emit_refused(true, size, u32::try_from(limit).unwrap_or(u32::MAX));
                    }
                    agent.clipboard_no_data(sel)
                }
                Err(e) => {
                    tracing::info!(selection = sel.name(), error = %e, "cannot read the local clipboard");
                    agent.clipboard_no_data(sel)
                }
            };
            if let Err(e) = answer {
                tracing::debug!(error = %e, "clipboard answer not sent");
            }
        });
    }
}

/// Local clipboard data read for the guest.
enum Local {
    Data(Vec<u8>),
    /// Over the limit: the size read.
    TooLarge(u64),
}

/// Reads all of `stream`, keeping at most `limit` bytes (the rest is
/// counted, not kept).
async fn read_bounded(stream: gio::InputStream, limit: usize) -> Result<Local, glib::Error> {
    let mut data = Vec::new();
    let mut total: u64 = 0;
    loop {
        let chunk = stream.read_bytes_future(64 * 1024, glib::Priority::DEFAULT).await?;
        if chunk.is_empty() {
            break;
        }
        total = total.saturating_add(chunk.len() as u64);
        if total <= limit as u64 {
            data.extend_from_slice(&chunk);
        } else {
            data = Vec::new();
        }
    }
    let _ = stream.close_future(glib::Priority::DEFAULT).await;
    if total > limit as u64 {
        return Ok(Local::TooLarge(total));
    }
    Ok(Local::Data(data))
}

async fn read_local(cb: &gdk::Clipboard, t: ClipType, limit: usize) -> Result<Local, glib::Error> {
    let formats = cb.formats();
    match t {
        ClipType::Text => {
            let direct = ["text/plain;charset=utf-8", "UTF8_STRING"];
            if direct.iter().any(|m| formats.contain_mime_type(m)) {
                let (stream, _) = cb.read_future(&direct, glib::Priority::DEFAULT).await?;
                return Ok(match read_bounded(stream, limit).await? {
                    Local::Data(d) => Local::Data(normalize_text(&d)),
                    over => over,
                });
            }
            let text = cb.read_text_future().await?.unwrap_or_default();
            let data = normalize_text(text.as_bytes());
            Ok(if data.len() > limit {
                Local::TooLarge(data.len() as u64)
            } else {
                Local::Data(data)
            })
        }
        ClipType::Png if !formats.contain_mime_type("image/png") => {
            let texture = cb
                .read_texture_future()
                .await?
                .ok_or_else(|| io_error("the clipboard holds no image"))?;
            let png = texture.save_to_png_bytes().to_vec();
            Ok(if png.len() > limit {
                Local::TooLarge(png.len() as u64)
            } else {
                Local::Data(png)
            })
        }
        other => {
            let mime = other.mime().ok_or_else(|| io_error("no MIME type"))?;
            let (stream, _) = cb.read_future(&[mime], glib::Priority::DEFAULT).await?;
            read_bounded(stream, limit).await
        }
    }
}

impl imp::Session {
    pub(super) fn set_share_clipboard_prop(&self, on: bool) {
        if self.share_clipboard.replace(on) == on {
            return;
        }
        let obj = self.obj();
        if on {
            obj.clipboard_agent_ready();
        } else {
            // Our grabs are withdrawn; guest content leaves the desktop.
            if let Some(agent) = obj.agent() {
                for sel in self.clip.grabbed.borrow().iter() {
                    let _ = agent.clipboard_release(*sel);
                }
            }
            obj.clipboard_detach();
        }
        obj.notify_share_clipboard();
    }
}

mod content {
    use super::*;

    #[derive(Default)]
    pub struct GuestContent {
        pub(super) session: glib::WeakRef<Session>,
        pub(super) selection: std::cell::Cell<Option<Selection>>,
        pub(super) types: RefCell<Vec<ClipType>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for GuestContent {
        const NAME: &'static str = "SumacGuestContent";
        type Type = super::GuestContent;
        type ParentType = gdk::ContentProvider;
    }

    impl ObjectImpl for GuestContent {}

    impl gdk::subclass::prelude::ContentProviderImpl for GuestContent {
        fn formats(&self) -> gdk::ContentFormats {
            let mut b = gdk::ContentFormats::builder();
            for t in self.types.borrow().iter() {
                for m in mime_types_for(*t) {
                    b = b.add_mime_type(*m);
                }
            }
            b.build()
        }

        fn write_mime_type_future(
            &self,
            mime_type: &str,
            stream: &gio::OutputStream,
            io_priority: glib::Priority,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), glib::Error>> + 'static>> {
            let session = self.session.upgrade();
            let sel = self.selection.get();
            let wanted = ClipType::from_mime(mime_type).filter(|t| self.types.borrow().contains(t));
            let stream = stream.clone();
            Box::pin(async move {
                let (Some(session), Some(sel), Some(t)) = (session, sel, wanted) else {
                    return Err(glib::Error::new(gio::IOErrorEnum::NotSupported, "not offered"));
                };
                let data = session.guest_clipboard_data(sel, t).await?;
                stream.write_all_future(data, io_priority).await.map_err(|(_, e)| e)?;
                Ok(())
            })
        }
    }
}

glib::wrapper! {
    /// The guest's clipboard offer on a local clipboard (data fetched on paste).
    pub struct GuestContent(ObjectSubclass<content::GuestContent>)
        @extends gdk::ContentProvider;
}

impl GuestContent {
    fn new(session: &Session, selection: Selection, types: &[ClipType]) -> Self {
        let obj: Self = glib::Object::new();
        let imp = obj.imp();
        imp.session.set(Some(session));
        imp.selection.set(Some(selection));
        imp.types.replace(types.to_vec());
        obj
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_formats_become_guest_types() {
        let m = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            types_for_local(&m(&["text/plain;charset=utf-8"]), false, false),
            [ClipType::Text]
        );
        assert_eq!(types_for_local(&m(&["image/png"]), false, false), [ClipType::Png]);
        assert_eq!(
            types_for_local(&m(&["image/jpeg", "text/html"]), false, true),
            [ClipType::Png, ClipType::Jpeg]
        );
        assert!(types_for_local(&m(&["application/x-foo"]), false, false).is_empty());
        assert_eq!(types_for_local(&[], true, false), [ClipType::Text]);
    }

    #[test]
    fn text_reaches_the_guest_with_lf() {
        assert_eq!(normalize_text(b"a\r\nb\r\n"), b"a\nb\n");
        assert_eq!(normalize_text(b"x\0"), b"x");
        assert_eq!(normalize_text(b"\xff"), "\u{fffd}".as_bytes());
    }

    #[test]
    fn every_shared_type_has_mime_types() {
        for t in [
            ClipType::Text,
            ClipType::Png,
            ClipType::Bmp,
            ClipType::Tiff,
            ClipType::Jpeg,
        ] {
            let mimes = mime_types_for(t);
            assert!(!mimes.is_empty());
            assert_eq!(ClipType::from_mime(mimes[0]), Some(t));
        }
    }
}
