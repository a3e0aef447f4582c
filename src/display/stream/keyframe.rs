//! Which encoded frames start a decodable sequence (key frames), per codec:
//! a decoder falling back to another one replays from the last one (the
//! GStreamer decoders, `crate::gst`). Plain byte inspection of untrusted
//! data: nothing here panics or allocates; fuzzed through `display_stream`.

use crate::proto::channel::display::video_codec;

/// Whether `data`, one frame of `codec` as spice-server sends it, is a key
/// frame (or, for H.264/H.265, carries parameter sets or an IRAP picture).
pub fn is_key_frame(codec: u8, data: &[u8]) -> bool {
    match codec {
        video_codec::MJPEG => true,
        // VP8 frame tag: bit 0 of the first byte is 0 for a key frame.
        video_codec::VP8 => data.first().is_some_and(|b| b & 1 == 0),
        video_codec::VP9 => vp9_key(data),
        video_codec::H264 => nal_types(data, 1).any(|t| matches!(t & 0x1f, 5 | 7)),
        // IRAP pictures (BLA, IDR, CRA: 16..=21) or a VPS/SPS.
        video_codec::H265 => nal_types(data, 2).any(|t| matches!((t >> 1) & 0x3f, 16..=21 | 32 | 33)),
        _ => false,
    }
}

/// VP9 uncompressed header: frame_marker (2 bits, `0b10`), profile (2 bits,
/// low first), a reserved bit when the profile is 3, show_existing_frame,
/// frame_type (0 = key frame).
fn vp9_key(data: &[u8]) -> bool {
    let Some(&b) = data.first() else { return false };
    let bit = |i: u32| (b >> (7 - i)) & 1;
    if bit(0) != 1 || bit(1) != 0 {
        return false;
    }
    let profile = bit(2) | (bit(3) << 1);
    let at = if profile == 3 { 5 } else { 4 };
    // show_existing_frame shows an old frame: not a key frame.
    bit(at) == 0 && bit(at + 1) == 0
}

/// The first header byte of each NAL unit of an Annex B byte stream
/// (`header_len` is 1 for H.264 and 2 for H.265; only the first byte is given).
fn nal_types(data: &[u8], header_len: usize) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0usize;
    std::iter::from_fn(move || {
        loop {
            let rest = data.get(i..)?;
            let at = rest.windows(3).position(|w| w == [0, 0, 1])?;
            i = i.checked_add(at)?.checked_add(3)?;
            if data.len().saturating_sub(i) >= header_len {
                return data.get(i).copied();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frames_are_told_apart_per_codec() {
        assert!(is_key_frame(video_codec::VP8, &[0x50, 0x2d, 0x01]));
        assert!(!is_key_frame(video_codec::VP8, &[0x51, 0x2d, 0x01]));
        assert!(!is_key_frame(video_codec::VP8, &[]));
        // VP9 profile 0: 10 0 0 | show_existing 0 | frame_type 0.
        assert!(is_key_frame(video_codec::VP9, &[0b1000_0010]));
        assert!(!is_key_frame(video_codec::VP9, &[0b1000_0110]));
        assert!(!is_key_frame(video_codec::VP9, &[0b1000_1000]), "show_existing_frame");
        // Profile 3 has a reserved bit before show_existing_frame.
        assert!(is_key_frame(video_codec::VP9, &[0b1011_0000]));
        assert!(!is_key_frame(video_codec::VP9, &[0b0000_0000]), "bad marker");
        let sps = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0, 0, 1, 0x65, 0x88];
        assert!(is_key_frame(video_codec::H264, &sps));
        assert!(!is_key_frame(video_codec::H264, &[0, 0, 0, 1, 0x41, 0x9a]));
        assert!(!is_key_frame(video_codec::H264, &[0, 0, 1]));
        // H.265: IDR_W_RADL (19) and TRAIL_R (1).
        assert!(is_key_frame(video_codec::H265, &[0, 0, 1, 19 << 1, 1, 0xaf]));
        assert!(!is_key_frame(video_codec::H265, &[0, 0, 1, 1 << 1, 1, 0xaf]));
        assert!(is_key_frame(video_codec::MJPEG, &[]));
        assert!(!is_key_frame(99, &[0]));
    }
}
