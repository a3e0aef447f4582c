//! Session recordings (`.spicerec`): every message each channel received, with
//! its arrival time, so a session can be replayed without a server for
//! deterministic tests, decoder benchmarks and bug reports.
//!
//! Format (all integers little endian):
//! ```text
//! "SUMACREC" u32 version=1
//! record*: u8 kind
//!   kind 1 (channel):  u8 channel_type, u8 channel_id
//!   kind 2 (message):  u8 channel_type, u8 channel_id, u64 micros_since_start, u16 msg_type, u32 len, len bytes
//! ```
//! Sub-messages of a list are recorded as separate messages, in dispatch order.

use super::error::ChannelKey;
use crate::proto::ChannelType;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;
use thiserror::Error;

const MAGIC: &[u8; 8] = b"SUMACREC";
const VERSION: u32 = 1;
/// Largest message a recording may hold (same cap as the live client).
const MAX_RECORDED_MESSAGE: u32 = crate::proto::frame::DEFAULT_MAX_MESSAGE;

/// Problems reading or writing a recording.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("cannot access the recording: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a Sumac recording (bad magic)")]
    BadMagic,
    #[error("recording version {0} is not supported (this Sumac reads version 1)")]
    BadVersion(u32),
    #[error("corrupt recording: {0}")]
    Corrupt(&'static str),
}

/// One entry of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEntry {
    /// A channel finished its link.
    Channel(ChannelKey),
    /// A message received on a channel.
    Message {
        channel: ChannelKey,
        micros: u64,
        msg_type: u16,
        body: Vec<u8>,
    },
}

/// Writes a recording; shared by every channel thread of a session.
pub struct Recorder {
    start: Instant,
    out: Mutex<Option<BufWriter<Box<dyn Write + Send>>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, RecordError> {
        Self::new(Box::new(std::fs::File::create(path)?))
    }

    pub fn new(w: Box<dyn Write + Send>) -> Result<Self, RecordError> {
        let mut w = BufWriter::new(w);
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        Ok(Self {
            start: Instant::now(),
            out: Mutex::new(Some(w)),
        })
    }

    fn write(&self, bytes: &[u8]) {
        let mut guard = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = guard.as_mut()
            && let Err(e) = w.write_all(bytes)
        {
            tracing::warn!(error = %e, "recording stopped: write failed");
            *guard = None;
        }
    }

    pub(crate) fn channel(&self, key: ChannelKey) {
        self.write(&[1, key.channel_type.0, key.id]);
    }

    pub(crate) fn message(&self, key: ChannelKey, msg_type: u16, body: &[u8]) {
        let micros = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let Ok(len) = u32::try_from(body.len()) else { return };
        let mut rec = Vec::with_capacity(19 + body.len());
        rec.extend_from_slice(&[2, key.channel_type.0, key.id]);
        rec.extend_from_slice(&micros.to_le_bytes());
        rec.extend_from_slice(&msg_type.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(body);
        self.write(&rec);
    }

    /// Flushes buffered records to the file.
    pub fn flush(&self) -> Result<(), RecordError> {
        let mut guard = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = guard.as_mut() {
            w.flush()?;
        }
        Ok(())
    }
}

impl crate::channel::driver::Tap for Recorder {
    fn message(&self, channel: ChannelKey, msg_type: u16, body: &[u8]) {
        Recorder::message(self, channel, msg_type, body);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Reads a recording entry by entry, checking every length before allocating.
pub struct RecordReader<R: Read> {
    r: R,
}

impl<R: Read> RecordReader<R> {
    pub fn new(mut r: R) -> Result<Self, RecordError> {
        let mut head = [0u8; 12];
        r.read_exact(&mut head)?;
        if head.get(..8) != Some(MAGIC.as_slice()) {
            return Err(RecordError::BadMagic);
        }
        let mut v = [0u8; 4];
        v.copy_from_slice(head.get(8..12).ok_or(RecordError::BadMagic)?);
        let version = u32::from_le_bytes(v);
        if version != VERSION {
            return Err(RecordError::BadVersion(version));
        }
        Ok(Self { r })
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => RecordError::Corrupt("truncated record"),
            _ => RecordError::Io(e),
        })?;
        Ok(b)
    }

    /// The next entry, or None at a clean end of file.
    pub fn next_entry(&mut self) -> Result<Option<RecordEntry>, RecordError> {
        let mut kind = [0u8; 1];
        if self.r.read(&mut kind)? == 0 {
            return Ok(None);
        }
        let [ty, id] = self.read_array::<2>()?;
        let channel = ChannelKey {
            channel_type: ChannelType(ty),
            id,
        };
        match kind[0] {
            1 => Ok(Some(RecordEntry::Channel(channel))),
            2 => {
                let micros = u64::from_le_bytes(self.read_array()?);
                let msg_type = u16::from_le_bytes(self.read_array()?);
                let len = u32::from_le_bytes(self.read_array()?);
                if len > MAX_RECORDED_MESSAGE {
                    return Err(RecordError::Corrupt("message larger than the message cap"));
                }
                let mut body = Vec::new();
                (&mut self.r).take(u64::from(len)).read_to_end(&mut body)?;
                if body.len() != len as usize {
                    return Err(RecordError::Corrupt("truncated message"));
                }
                Ok(Some(RecordEntry::Message {
                    channel,
                    micros,
                    msg_type,
                    body,
                }))
            }
            _ => Err(RecordError::Corrupt("unknown record kind")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn round_trip() {
        let buf = Shared::default();
        let rec = Recorder::new(Box::new(buf.clone())).unwrap();
        let key = ChannelKey {
            channel_type: ChannelType::DISPLAY,
            id: 1,
        };
        rec.channel(key);
        rec.message(key, 302, &[1, 2, 3]);
        drop(rec);
        let bytes = buf.0.lock().unwrap().clone();
        let mut r = RecordReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.next_entry().unwrap(), Some(RecordEntry::Channel(key)));
        match r.next_entry().unwrap() {
            Some(RecordEntry::Message {
                channel,
                msg_type,
                body,
                ..
            }) => {
                assert_eq!((channel, msg_type, body), (key, 302, vec![1, 2, 3]));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_entry().unwrap(), None);
    }

    #[test]
    fn hostile_recordings() {
        assert!(matches!(
            RecordReader::new(&b"NOTAREC!\x01\0\0\0"[..]),
            Err(RecordError::BadMagic)
        ));
        assert!(matches!(
            RecordReader::new(&b"SUMACREC\x02\0\0\0"[..]),
            Err(RecordError::BadVersion(2))
        ));
        let mut huge = b"SUMACREC\x01\0\0\0".to_vec();
        huge.extend_from_slice(&[2, 2, 0]);
        huge.extend_from_slice(&0u64.to_le_bytes());
        huge.extend_from_slice(&302u16.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut r = RecordReader::new(huge.as_slice()).unwrap();
        assert!(matches!(r.next_entry(), Err(RecordError::Corrupt(_))));
        let mut short = b"SUMACREC\x01\0\0\0".to_vec();
        short.extend_from_slice(&[2, 2, 0, 1, 2]);
        let mut r = RecordReader::new(short.as_slice()).unwrap();
        assert!(r.next_entry().is_err());
    }
}
