//! `zlib_glz` oracle (hostile-inputs row 25): bytes 0..4 = the declared GLZ size (u32 little-
//! endian), the rest a zlib stream. Inflating must stop at the declared size (a stream that
//! inflates further, or has a bad adler32, is an error), `scratch` must never hold more than the
//! declared size, and the inflated GLZ image goes through the `glz_sequence` checks.

use sumac::codec::glz::{Absent, GlzWindow};
use sumac::codec::{ImageBuf, zlib_glz};

pub fn fuzz(data: &[u8]) -> bool {
    let Some((size, z)) = data.split_first_chunk::<4>() else {
        return false;
    };
    let size = u32::from_le_bytes(*size);
    let window = GlzWindow::new(1 << 20);
    let mut out = ImageBuf::new();
    let mut scratch = Vec::new();
    let r = zlib_glz::inflate_capped(size, z, &mut scratch);
    assert!(scratch.len() <= size as usize, "inflated past the declared size");
    assert!(
        scratch.capacity() <= (size as usize).saturating_add(1).max(64 * 1024) * 2,
        "scratch grew too much"
    );
    if r.is_err() {
        assert!(zlib_glz::decode(size, z, &window, &mut out, &mut scratch, Absent::Missing).is_err());
        return false;
    }
    let inflated = scratch.clone();
    let ok = zlib_glz::decode(size, z, &window, &mut out, &mut scratch, Absent::Missing).is_ok();
    let window2 = GlzWindow::new(1 << 20);
    assert_eq!(
        super::glz_sequence::decode_checked(&window2, &inflated, &mut ImageBuf::new()),
        ok
    );
    ok
}
