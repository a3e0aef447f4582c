//! A small, safe wrapper over libcacard (Debian's `libcacard-dev` 2.8), the
//! smartcard emulator spice-gtk and QEMU use: virtual readers, software
//! CAC cards made from certificates of an NSS database, physical readers
//! through NSS's PKCS#11 modules. No Rust crate binds it, so this crate holds
//! the few declarations Sumac needs; it is the only `unsafe` code of the
//! smartcard feature, each block with its `SAFETY` note.
//!
//! libcacard is process-wide (one emulator, one reader list, one event
//! queue): [`init`] runs once per process and later calls report what the
//! first one did. Its calls are thread-safe (readers and the event queue
//! have their own locks); [`wait_event`] blocks the calling thread until the
//! next event, and [`wake_waiter`] makes it return [`Event::Wakeup`].
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::OnceLock;

mod sys {
    use super::{c_char, c_int, c_void};

    #[repr(C)]
    pub struct VReader {
        _private: [u8; 0],
    }

    /// `VEvent` (eventt.h): a public struct.
    #[repr(C)]
    pub struct VEvent {
        pub next: *mut VEvent,
        pub kind: c_int,
        pub reader: *mut VReader,
        pub card: *mut c_void,
    }

    pub const VEVENT_READER_INSERT: c_int = 0;
    pub const VEVENT_READER_REMOVE: c_int = 1;
    pub const VEVENT_CARD_INSERT: c_int = 2;
    pub const VEVENT_CARD_REMOVE: c_int = 3;
    pub const VEVENT_LAST: c_int = 4;

    pub const VREADER_OK: c_int = 0;
    pub const VCARD_EMUL_OK: c_int = 0;
    pub const VCARD_EMUL_INIT_ALREADY_INITED: c_int = 2;

    unsafe extern "C" {
        pub fn vcard_emul_options(args: *const c_char) -> *mut c_void;
        pub fn vcard_emul_init(options: *const c_void) -> c_int;
        pub fn vcard_emul_force_card_insert(reader: *mut VReader) -> c_int;
        pub fn vcard_emul_force_card_remove(reader: *mut VReader) -> c_int;

        pub fn vreader_reference(reader: *mut VReader) -> *mut VReader;
        pub fn vreader_free(reader: *mut VReader);
        pub fn vreader_get_name(reader: *mut VReader) -> *const c_char;
        pub fn vreader_card_is_present(reader: *mut VReader) -> c_int;
        pub fn vreader_power_on(reader: *mut VReader, atr: *mut u8, len: *mut c_int) -> c_int;
        pub fn vreader_xfr_bytes(
            reader: *mut VReader,
            send: *mut u8,
            send_len: c_int,
            receive: *mut u8,
            receive_len: *mut c_int,
        ) -> c_int;
        pub fn vreader_get_reader_list() -> *mut c_void;
        pub fn vreader_list_delete(list: *mut c_void);
        pub fn vreader_list_get_first(list: *mut c_void) -> *mut c_void;
        pub fn vreader_list_get_next(entry: *mut c_void) -> *mut c_void;
        pub fn vreader_list_get_reader(entry: *mut c_void) -> *mut VReader;

        pub fn vevent_new(kind: c_int, reader: *mut VReader, card: *mut c_void) -> *mut VEvent;
        pub fn vevent_delete(event: *mut VEvent);
        pub fn vevent_queue_vevent(event: *mut VEvent);
        pub fn vevent_wait_next_vevent() -> *mut VEvent;
        pub fn vevent_get_next_vevent() -> *mut VEvent;
    }
}

/// Longest ATR kept (ISO 7816-3 allows 33 bytes).
pub const MAX_ATR: usize = 40;
/// Largest APDU response (an extended-length response plus SW1 SW2).
pub const MAX_RESPONSE: usize = 65_538;
/// Largest APDU accepted for the card (extended length: 4 + 3 + 65535 + 3).
pub const MAX_APDU: usize = 65_545;

/// Why the emulator did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("libcacard refused the options {0:?}")]
    Options(String),
    #[error("libcacard could not initialise (NSS database or certificates: {0})")]
    Init(String),
    #[error("an option contains a NUL byte")]
    Nul,
}

/// What [`init`] sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The NSS database (`sql:/path` or a directory); `None`: NSS's default.
    pub database: Option<String>,
    /// A software reader with a CAC card made of these certificates
    /// (nicknames in the database); empty: none.
    pub certificates: Vec<String>,
    /// The software reader's name.
    pub reader_name: String,
    /// Also the physical readers NSS finds (its PKCS#11 modules).
    pub hardware: bool,
}

/// The option string libcacard parses (`vcard_emul_options`), or `None` for
/// its defaults (hardware readers of NSS's default database).
pub fn option_string(o: &Options) -> Option<String> {
    if o.database.is_none() && o.certificates.is_empty() && o.hardware {
        return None;
    }
    let mut s = String::new();
    if let Some(db) = &o.database {
        s.push_str(&format!("db=\"{db}\" "));
    }
    s.push_str(if o.hardware { "use_hw=yes" } else { "use_hw=no" });
    if !o.certificates.is_empty() {
        s.push_str(&format!(" soft=(,{},CAC,,{})", o.reader_name, o.certificates.join(",")));
    }
    Some(s)
}

static INIT: OnceLock<Result<(), Error>> = OnceLock::new();

/// Starts the emulator (once per process: later calls return the first result).
pub fn init(options: &Options) -> Result<(), Error> {
    INIT.get_or_init(|| init_once(options)).clone()
}

fn init_once(options: &Options) -> Result<(), Error> {
    let opts = match option_string(options) {
        Some(s) => {
            let c = CString::new(s.clone()).map_err(|_| Error::Nul)?;
            // SAFETY: `c` is a valid NUL-terminated string for the call; libcacard copies what it
            // keeps into its own static options (the returned pointer is never freed by us).
            let p = unsafe { sys::vcard_emul_options(c.as_ptr()) };
            if p.is_null() {
                return Err(Error::Options(s));
            }
            p.cast_const()
        }
        None => std::ptr::null(),
    };
    // SAFETY: `opts` is NULL (defaults) or the pointer vcard_emul_options just returned.
    let r = unsafe { sys::vcard_emul_init(opts) };
    if r == sys::VCARD_EMUL_OK || r == sys::VCARD_EMUL_INIT_ALREADY_INITED {
        Ok(())
    } else {
        Err(Error::Init(format!("{:?}", options.database)))
    }
}

/// A reader (one reference to libcacard's `VReader`).
pub struct Reader(NonNull<sys::VReader>);

// SAFETY: a VReader is reference-counted and guards its state with its own mutex; libcacard's
// reader functions are called from several threads by QEMU and spice-gtk alike.
unsafe impl Send for Reader {}
// SAFETY: as above: every method goes through libcacard's locked functions.
unsafe impl Sync for Reader {}

impl Clone for Reader {
    fn clone(&self) -> Self {
        // SAFETY: self.0 is a live reference; vreader_reference returns the same pointer with one
        // more reference, owned by the new Reader.
        unsafe { sys::vreader_reference(self.0.as_ptr()) };
        Self(self.0)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: self.0 holds one reference, released exactly once here.
        unsafe { sys::vreader_free(self.0.as_ptr()) };
    }
}

impl PartialEq for Reader {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Reader {}

impl std::hash::Hash for Reader {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Reader").field(&self.name()).finish()
    }
}

impl Reader {
    /// Takes a new reference to `p` (which the caller keeps).
    fn borrowed(p: *mut sys::VReader) -> Option<Self> {
        let p = NonNull::new(p)?;
        // SAFETY: p is a live reader the caller holds a reference to; we take one more.
        unsafe { sys::vreader_reference(p.as_ptr()) };
        Some(Self(p))
    }

    /// Takes over a reference libcacard gave us.
    fn owned(p: *mut sys::VReader) -> Option<Self> {
        NonNull::new(p).map(Self)
    }

    /// An identity for this reader while it lives (its address).
    pub fn key(&self) -> usize {
        self.0.as_ptr() as usize
    }

    pub fn name(&self) -> String {
        // SAFETY: the reader is live; the name is owned by it and NUL-terminated (or NULL).
        let p = unsafe { sys::vreader_get_name(self.0.as_ptr()) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: p is non-NULL and points to the reader's NUL-terminated name, alive as long as
        // the reader (we copy it out at once).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    pub fn card_present(&self) -> bool {
        // SAFETY: the reader is live.
        unsafe { sys::vreader_card_is_present(self.0.as_ptr()) == sys::VREADER_OK }
    }

    /// Powers the card on; its ATR, or `None` without a card.
    pub fn power_on(&self) -> Option<Vec<u8>> {
        let mut atr = [0u8; MAX_ATR];
        let mut len = c_int::try_from(MAX_ATR).unwrap_or(0);
        // SAFETY: the reader is live; `atr` has room for `len` bytes and libcacard writes at
        // most `len` bytes and stores the length written in `len`.
        let r = unsafe { sys::vreader_power_on(self.0.as_ptr(), atr.as_mut_ptr(), &mut len) };
        if r != sys::VREADER_OK {
            return None;
        }
        let len = usize::try_from(len).unwrap_or(0).min(MAX_ATR);
        Some(atr.get(..len).unwrap_or_default().to_vec())
    }

    /// Sends an APDU to the card; its response (data + SW1 SW2), or
    /// libcacard's reader status (1: no card).
    pub fn transfer(&self, apdu: &[u8]) -> Result<Vec<u8>, u32> {
        if apdu.len() > MAX_APDU {
            return Err(1);
        }
        let mut send = apdu.to_vec();
        let send_len = c_int::try_from(send.len()).map_err(|_| 1u32)?;
        let mut receive = vec![0u8; MAX_RESPONSE];
        let mut receive_len = c_int::try_from(receive.len()).unwrap_or(0);
        // SAFETY: the reader is live; `send` holds `send_len` bytes (libcacard only reads them,
        // the pointer is non-const in its API); `receive` has room for `receive_len` bytes and
        // libcacard writes at most that many and stores the count in `receive_len`.
        let r = unsafe {
            sys::vreader_xfr_bytes(
                self.0.as_ptr(),
                send.as_mut_ptr(),
                send_len,
                receive.as_mut_ptr(),
                &mut receive_len,
            )
        };
        if r != sys::VREADER_OK {
            return Err(u32::try_from(r).unwrap_or(1));
        }
        receive.truncate(usize::try_from(receive_len).unwrap_or(0).min(MAX_RESPONSE));
        Ok(receive)
    }

    /// Inserts the software card (software readers only).
    pub fn insert_card(&self) -> bool {
        // SAFETY: the reader is live; libcacard refuses readers that are not its software ones.
        unsafe { sys::vcard_emul_force_card_insert(self.0.as_ptr()) == sys::VCARD_EMUL_OK }
    }

    /// Removes the software card (software readers only).
    pub fn remove_card(&self) -> bool {
        // SAFETY: as for insert_card.
        unsafe { sys::vcard_emul_force_card_remove(self.0.as_ptr()) == sys::VCARD_EMUL_OK }
    }
}

/// Every reader libcacard knows now.
pub fn readers() -> Vec<Reader> {
    let mut out = Vec::new();
    // SAFETY: returns a copy of the list (with its own references) or NULL; freed below.
    let list = unsafe { sys::vreader_get_reader_list() };
    if list.is_null() {
        return out;
    }
    // SAFETY: list is the live copy; entries belong to it until vreader_list_delete.
    let mut entry = unsafe { sys::vreader_list_get_first(list) };
    while !entry.is_null() {
        // SAFETY: entry is a live entry of `list`; the returned reader carries a new reference,
        // which Reader::owned takes over.
        if let Some(r) = Reader::owned(unsafe { sys::vreader_list_get_reader(entry) }) {
            out.push(r);
        }
        // SAFETY: entry is a live entry of `list`.
        entry = unsafe { sys::vreader_list_get_next(entry) };
    }
    // SAFETY: list came from vreader_get_reader_list and is deleted once.
    unsafe { sys::vreader_list_delete(list) };
    out
}

/// An emulator event.
#[derive(Debug)]
pub enum Event {
    ReaderInsert(Reader),
    ReaderRemove(Reader),
    CardInsert(Reader),
    CardRemove(Reader),
    /// [`wake_waiter`] was called (or an event without a reader).
    Wakeup,
}

fn convert(e: *mut sys::VEvent) -> Option<Event> {
    let e = NonNull::new(e)?;
    // SAFETY: e is a live event handed to us by the queue; we read its public fields, take our
    // own reference to its reader, then delete the event (which drops the event's references).
    let (kind, reader) = unsafe {
        let ev = e.as_ref();
        (ev.kind, Reader::borrowed(ev.reader))
    };
    // SAFETY: the event came from the queue and is deleted exactly once.
    unsafe { sys::vevent_delete(e.as_ptr()) };
    Some(match (kind, reader) {
        (sys::VEVENT_READER_INSERT, Some(r)) => Event::ReaderInsert(r),
        (sys::VEVENT_READER_REMOVE, Some(r)) => Event::ReaderRemove(r),
        (sys::VEVENT_CARD_INSERT, Some(r)) => Event::CardInsert(r),
        (sys::VEVENT_CARD_REMOVE, Some(r)) => Event::CardRemove(r),
        _ => Event::Wakeup,
    })
}

/// The next event, waiting for it.
pub fn wait_event() -> Event {
    // SAFETY: blocks on libcacard's event queue and returns an event we own (or NULL).
    convert(unsafe { sys::vevent_wait_next_vevent() }).unwrap_or(Event::Wakeup)
}

/// The next event if one is queued.
pub fn poll_event() -> Option<Event> {
    // SAFETY: returns a queued event we own, or NULL.
    convert(unsafe { sys::vevent_get_next_vevent() })
}

/// Makes a thread blocked in [`wait_event`] return [`Event::Wakeup`].
pub fn wake_waiter() {
    // SAFETY: an event without reader or card; the queue takes ownership of it.
    unsafe {
        let e = sys::vevent_new(sys::VEVENT_LAST, std::ptr::null_mut(), std::ptr::null_mut());
        if !e.is_null() {
            sys::vevent_queue_vevent(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_strings() {
        let o = Options {
            database: Some("sql:/tmp/db".into()),
            certificates: vec!["a".into(), "b".into(), "c".into()],
            reader_name: "Sumac Software Smartcard".into(),
            hardware: false,
        };
        assert_eq!(
            option_string(&o).unwrap(),
            "db=\"sql:/tmp/db\" use_hw=no soft=(,Sumac Software Smartcard,CAC,,a,b,c)"
        );
        let hw = Options {
            database: None,
            certificates: vec![],
            reader_name: String::new(),
            hardware: true,
        };
        assert_eq!(option_string(&hw), None);
    }
}
