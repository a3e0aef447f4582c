//! Where a migration goes: `DstInfo` of MIGRATE_BEGIN (main 101),
//! MIGRATE_BEGIN_SEAMLESS (116, followed by `u32 src_mig_version`) and the
//! same field list in MIGRATE_SWITCH_HOST (111).
//!
//! spice.proto declares the host and the certificate subject as pointers
//! (`uint8 *host_data[host_size] @zero_terminated`): on the wire each is a
//! `u32` offset from the start of the message body, and the generated
//! marshallers put the bytes after the fixed part of the whole message. So
//! the fixed part is `u16 port, u16 sport, u32 host_size, u32 host_offset,
//! u32 subject_size, u32 subject_offset` (20 bytes, then `src_mig_version`
//! for the seamless variant), and the sizes count the terminating NUL. A
//! missing subject has size 0 and offset 0.

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// Longest destination host name accepted (NUL excluded).
pub const MAX_HOST_LEN: usize = 1024;
/// Longest certificate subject accepted (NUL excluded).
pub const MAX_SUBJECT_LEN: usize = 4096;

/// The destination of a migration or of a switch-host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationDst {
    /// Plain port; 0 (or 0xffff, QEMU's "none" as a u16) when not offered.
    pub port: u16,
    /// TLS port; same convention.
    pub sport: u16,
    /// Host name or address, without its NUL.
    pub host: Vec<u8>,
    /// Expected subject of the destination's certificate, without its NUL
    /// (`None`: verify the host name).
    pub cert_subject: Option<Vec<u8>>,
}

/// Size of the fixed part of `DstInfo`.
pub const DST_INFO_FIXED: usize = 20;

/// A pointed-to, NUL-terminated byte string of the body.
fn pointed_string(
    body: &[u8],
    what: &'static str,
    size: u32,
    offset: u32,
    max: usize,
    required: bool,
) -> ProtoResult<Option<Vec<u8>>> {
    if size == 0 && offset == 0 && !required {
        return Ok(None);
    }
    if offset == 0 {
        return Err(DecodeError::invalid(what, 0u32));
    }
    let len = usize::try_from(size).map_err(|_| DecodeError::Overflow { what })?;
    if len == 0 {
        return Err(DecodeError::invalid(what, 0u32));
    }
    if len > max.saturating_add(1) {
        return Err(DecodeError::TooLarge {
            what,
            size: u64::from(size),
            max: max as u64 + 1,
        });
    }
    let mut r = ReadCursor::at_offset(body, what, offset)?;
    let bytes = r.read_slice(what, len)?;
    // @zero_terminated: the last byte counted by the size is the NUL.
    match bytes.split_last() {
        Some((0, text)) => {
            // The text ends at its first NUL (spice-gtk reads it as a C string).
            let text = text.split(|&b| b == 0).next().unwrap_or(&[]);
            Ok(Some(text.to_vec()))
        }
        Some((&last, _)) => Err(DecodeError::invalid(what, last)),
        None => Err(DecodeError::invalid(what, 0u32)),
    }
}

impl MigrationDst {
    /// Decodes `DstInfo` from the start of `body` (offsets count from the
    /// start of `body`); returns it and a cursor after its fixed part.
    pub fn decode_prefix(body: &[u8]) -> ProtoResult<(Self, ReadCursor<'_>)> {
        let mut r = ReadCursor::new(body);
        let port = r.read_u16("dst_info port")?;
        let sport = r.read_u16("dst_info sport")?;
        let host_size = r.read_u32("dst_info host_size")?;
        let host_offset = r.read_u32("dst_info host_data")?;
        let subject_size = r.read_u32("dst_info cert_subject_size")?;
        let subject_offset = r.read_u32("dst_info cert_subject_data")?;
        let host =
            pointed_string(body, "dst_info host", host_size, host_offset, MAX_HOST_LEN, true)?.unwrap_or_default();
        let cert_subject = pointed_string(
            body,
            "dst_info cert_subject",
            subject_size,
            subject_offset,
            MAX_SUBJECT_LEN,
            false,
        )?;
        Ok((
            Self {
                port,
                sport,
                host,
                cert_subject,
            },
            r,
        ))
    }

    /// The plain port, if one is offered.
    pub fn plain_port(&self) -> Option<u16> {
        usable_port(self.port)
    }

    /// The TLS port, if one is offered.
    pub fn tls_port(&self) -> Option<u16> {
        usable_port(self.sport)
    }

    /// The host as text (lossily decoded).
    pub fn host_text(&self) -> String {
        String::from_utf8_lossy(&self.host).into_owned()
    }

    /// The certificate subject as text, if any (an empty one counts as none).
    pub fn subject_text(&self) -> Option<String> {
        self.cert_subject
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }

    /// Encodes `DstInfo` followed by `extra` fixed fields (e.g.
    /// `src_mig_version`), then the pointed-to strings, as spice-server does.
    pub fn encode_with(&self, w: &mut WriteCursor, extra: &[u32]) {
        let start = w.len();
        let fixed = DST_INFO_FIXED + extra.len() * 4;
        let host_len = self.host.len() + 1;
        let host_at = fixed;
        let subject = self.cert_subject.as_ref();
        let subject_at = host_at + host_len;
        w.write_u16(self.port);
        w.write_u16(self.sport);
        w.write_u32(u32::try_from(host_len).unwrap_or(u32::MAX));
        w.write_u32(u32::try_from(host_at).unwrap_or(u32::MAX));
        match subject {
            Some(s) => {
                w.write_u32(u32::try_from(s.len() + 1).unwrap_or(u32::MAX));
                w.write_u32(u32::try_from(subject_at).unwrap_or(u32::MAX));
            }
            None => {
                w.write_u32(0);
                w.write_u32(0);
            }
        }
        for v in extra {
            w.write_u32(*v);
        }
        debug_assert_eq!(w.len() - start, fixed);
        w.write_slice(&self.host);
        w.write_u8(0);
        if let Some(s) = subject {
            w.write_slice(s);
            w.write_u8(0);
        }
    }
}

/// 0 and 0xffff (QEMU passes -1 for "no such port", which becomes 0xffff
/// as a u16) mean "none".
fn usable_port(p: u16) -> Option<u16> {
    (p != 0 && p != u16::MAX).then_some(p)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn dst(subject: Option<&str>) -> MigrationDst {
        MigrationDst {
            port: 5930,
            sport: 5931,
            host: b"127.0.0.1".to_vec(),
            cert_subject: subject.map(|s| s.as_bytes().to_vec()),
        }
    }

    fn encoded(d: &MigrationDst, extra: &[u32]) -> Vec<u8> {
        let mut w = WriteCursor::new();
        d.encode_with(&mut w, extra);
        w.into_inner()
    }

    #[test]
    fn round_trips_with_and_without_subject() {
        for d in [dst(None), dst(Some("C=XX,O=Test,CN=dst"))] {
            let body = encoded(&d, &[]);
            let (back, r) = MigrationDst::decode_prefix(&body).unwrap();
            assert_eq!(back, d);
            assert_eq!(r.position(), DST_INFO_FIXED);
        }
        // The seamless variant: src_mig_version right after the fixed part.
        let body = encoded(&dst(None), &[7]);
        let (_, mut r) = MigrationDst::decode_prefix(&body).unwrap();
        assert_eq!(r.read_u32("v").unwrap(), 7);
    }

    #[test]
    fn layout_is_spice_servers() {
        let body = encoded(&dst(Some("CN=x")), &[]);
        // port, sport, host_size (with NUL), host offset, subject size, subject offset.
        assert_eq!(&body[..4], &[0x2a, 0x17, 0x2b, 0x17]);
        assert_eq!(u32::from_le_bytes(body[4..8].try_into().unwrap()), 10);
        assert_eq!(u32::from_le_bytes(body[8..12].try_into().unwrap()), 20);
        assert_eq!(u32::from_le_bytes(body[12..16].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(body[16..20].try_into().unwrap()), 30);
        assert_eq!(&body[20..], b"127.0.0.1\0CN=x\0");
    }

    #[test]
    fn ports_of_none() {
        let mut d = dst(None);
        assert_eq!((d.plain_port(), d.tls_port()), (Some(5930), Some(5931)));
        d.port = 0xffff;
        d.sport = 0;
        assert_eq!((d.plain_port(), d.tls_port()), (None, None));
        assert_eq!(dst(Some("")).subject_text(), None);
    }

    fn patch(body: &mut [u8], at: usize, v: u32) {
        body[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn hostile_offsets_and_sizes_are_refused() {
        let good = encoded(&dst(Some("CN=x")), &[]);
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            MigrationDst::decode_prefix(&b).unwrap_err()
        };
        // Host offset past the end, and at the very end.
        bad(&|b| patch(b, 8, 10_000));
        bad(&|b| {
            let n = u32::try_from(b.len()).unwrap();
            patch(b, 8, n);
        });
        // Host size running past the end; huge size; zero size; offset 0.
        bad(&|b| patch(b, 4, 1000));
        bad(&|b| patch(b, 4, u32::MAX));
        bad(&|b| patch(b, 4, 0));
        bad(&|b| patch(b, 8, 0));
        // Subject: size without offset, offset without NUL at the end.
        bad(&|b| patch(b, 16, 0));
        bad(&|b| patch(b, 12, 3));
        // Missing NUL on the host.
        bad(&|b| patch(b, 4, 9));
        // Truncated fixed part.
        assert!(MigrationDst::decode_prefix(&good[..19]).is_err());
        // A host longer than the cap.
        let mut long = dst(None);
        long.host = vec![b'a'; MAX_HOST_LEN + 1];
        assert!(MigrationDst::decode_prefix(&encoded(&long, &[])).is_err());
        long.host.truncate(MAX_HOST_LEN);
        assert!(MigrationDst::decode_prefix(&encoded(&long, &[])).is_ok());
    }

    #[test]
    fn text_stops_at_the_first_nul() {
        let mut body = encoded(&dst(None), &[]);
        // "127\0..." inside the counted bytes: the host is "127".
        body[23] = 0;
        let (d, _) = MigrationDst::decode_prefix(&body).unwrap();
        assert_eq!(d.host, b"127");
    }
}
