//! Bounds-checked readers and writers over byte slices.
//!
//! All reads from network data go through [`ReadCursor`]; it never panics and
//! reports short input as [`DecodeError::NotEnoughBytes`].

use super::error::{DecodeError, ProtoResult};

/// Little-endian reader over a borrowed slice.
#[derive(Debug, Clone)]
pub struct ReadCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ReadCursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub fn len_remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.len_remaining() == 0
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// The whole underlying buffer (for offset-based sub-structures).
    pub fn whole(&self) -> &'a [u8] {
        self.buf
    }

    /// Fails with `NotEnoughBytes` unless `n` more bytes are available.
    pub fn ensure(&self, what: &'static str, n: usize) -> ProtoResult<()> {
        if self.len_remaining() < n {
            Err(DecodeError::NotEnoughBytes {
                what,
                received: self.len_remaining(),
                expected: n,
            })
        } else {
            Ok(())
        }
    }

    pub fn read_slice(&mut self, what: &'static str, n: usize) -> ProtoResult<&'a [u8]> {
        self.ensure(what, n)?;
        let end = self.pos + n; // cannot overflow: ensured pos + n <= len
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::NotEnoughBytes {
            what,
            received: self.len_remaining(),
            expected: n,
        })?;
        self.pos = end;
        Ok(s)
    }

    pub fn read_array<const N: usize>(&mut self, what: &'static str) -> ProtoResult<[u8; N]> {
        let s = self.read_slice(what, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn skip(&mut self, what: &'static str, n: usize) -> ProtoResult<()> {
        self.read_slice(what, n).map(|_| ())
    }

    /// Takes everything left.
    pub fn read_rest(&mut self) -> &'a [u8] {
        let s = self.remaining();
        self.pos = self.buf.len();
        s
    }

    pub fn read_u8(&mut self, what: &'static str) -> ProtoResult<u8> {
        Ok(self.read_array::<1>(what)?[0])
    }
    pub fn read_u16(&mut self, what: &'static str) -> ProtoResult<u16> {
        Ok(u16::from_le_bytes(self.read_array(what)?))
    }
    pub fn read_u32(&mut self, what: &'static str) -> ProtoResult<u32> {
        Ok(u32::from_le_bytes(self.read_array(what)?))
    }
    pub fn read_u64(&mut self, what: &'static str) -> ProtoResult<u64> {
        Ok(u64::from_le_bytes(self.read_array(what)?))
    }
    pub fn read_i16(&mut self, what: &'static str) -> ProtoResult<i16> {
        Ok(i16::from_le_bytes(self.read_array(what)?))
    }
    pub fn read_i32(&mut self, what: &'static str) -> ProtoResult<i32> {
        Ok(i32::from_le_bytes(self.read_array(what)?))
    }
    pub fn read_i64(&mut self, what: &'static str) -> ProtoResult<i64> {
        Ok(i64::from_le_bytes(self.read_array(what)?))
    }

    /// Fails if anything is left (for fixed-size structures that must be exact).
    pub fn expect_end(&self, what: &'static str) -> ProtoResult<()> {
        match self.len_remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { what, extra }),
        }
    }

    /// A new cursor over `buf[offset..]`, for structures reached by an offset
    /// from the start of a message body.
    pub fn at_offset(buf: &'a [u8], what: &'static str, offset: u32) -> ProtoResult<Self> {
        let off = usize::try_from(offset).map_err(|_| DecodeError::Overflow { what })?;
        if off > buf.len() {
            return Err(DecodeError::BadOffset {
                what,
                offset: u64::from(offset),
                len: buf.len(),
            });
        }
        Ok(Self { buf, pos: off })
    }
}

/// `count * elem` as usize, failing on overflow or when it exceeds `max`.
pub fn checked_array_len(what: &'static str, count: u64, elem: u64, max: u64) -> ProtoResult<usize> {
    let total = count.checked_mul(elem).ok_or(DecodeError::Overflow { what })?;
    if total > max {
        return Err(DecodeError::TooLarge { what, size: total, max });
    }
    usize::try_from(total).map_err(|_| DecodeError::Overflow { what })
}

/// Little-endian writer appending to a `Vec<u8>`.
#[derive(Debug, Default)]
pub struct WriteCursor {
    buf: Vec<u8>,
}

impl WriteCursor {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn write_u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn write_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn write_u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn write_i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn write_slice(&mut self, s: &[u8]) {
        self.buf.extend_from_slice(s);
    }
    /// Overwrites a u32 previously written at `pos` (for offsets known only later).
    pub fn patch_u32(&mut self, pos: usize, v: u32) {
        if let Some(dst) = self.buf.get_mut(pos..pos.saturating_add(4)) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_fail_without_panic() {
        let mut c = ReadCursor::new(&[1, 2, 3]);
        assert_eq!(c.read_u16("a").unwrap(), 0x0201);
        assert!(matches!(
            c.read_u32("b"),
            Err(DecodeError::NotEnoughBytes {
                received: 1,
                expected: 4,
                ..
            })
        ));
        assert_eq!(c.read_u8("c").unwrap(), 3);
        assert!(c.read_u8("d").is_err());
    }

    #[test]
    fn offsets_are_checked() {
        let buf = [0u8; 8];
        assert!(ReadCursor::at_offset(&buf, "x", 8).is_ok());
        assert!(ReadCursor::at_offset(&buf, "x", 9).is_err());
        assert!(ReadCursor::at_offset(&buf, "x", u32::MAX).is_err());
    }

    #[test]
    fn array_len_overflow() {
        assert!(checked_array_len("x", 0x8000_0002, 2, u64::MAX).is_ok());
        assert!(checked_array_len("x", u64::MAX, 2, u64::MAX).is_err());
        assert!(checked_array_len("x", 0x8000_0002, 2, 1 << 20).is_err());
    }
}
