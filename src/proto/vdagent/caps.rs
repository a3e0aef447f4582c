//! Guest-agent capabilities (`VD_AGENT_CAP_*`), exchanged in ANNOUNCE_CAPABILITIES.
//!
//! The bitmap is the same little-endian list of u32 words as the link-phase
//! capability sets (bit N lives in word N/32, bit N%32), so it reuses
//! [`CapSet`]. What the two ends may use is the intersection of both
//! announcements ([`CapSet::intersect`]): a message layout that depends on a
//! capability (the clipboard selection prefix, the grab serial, file-transfer
//! error details) is only on the wire when both ends announced it.

use crate::proto::caps::CapSet;

/// An agent capability bitmap (the same word layout as a link capability set).
pub type AgentCaps = CapSet;

/// The agent understands MOUSE_STATE (server-mode mouse through the agent).
pub const MOUSE_STATE: u32 = 0;
/// MONITORS_CONFIG is understood.
pub const MONITORS_CONFIG: u32 = 1;
/// The sender answers MONITORS_CONFIG / DISPLAY_CONFIG with REPLY.
pub const REPLY: u32 = 2;
/// The first clipboard protocol (data pushed without grab/request); obsolete.
pub const CLIPBOARD: u32 = 3;
/// DISPLAY_CONFIG (wallpaper, font smoothing, animation, colour depth) is understood.
pub const DISPLAY_CONFIG: u32 = 4;
/// Clipboard by demand: GRAB, REQUEST, CLIPBOARD, RELEASE.
pub const CLIPBOARD_BY_DEMAND: u32 = 5;
/// Clipboard messages start with `u8 selection, u8 reserved[3]`.
pub const CLIPBOARD_SELECTION: u32 = 6;
/// MONITORS_CONFIG may keep disabled heads in place as 0×0 entries.
pub const SPARSE_MONITORS_CONFIG: u32 = 7;
/// The guest's text line ends are LF.
pub const GUEST_LINEEND_LF: u32 = 8;
/// The guest's text line ends are CR LF.
pub const GUEST_LINEEND_CRLF: u32 = 9;
/// MAX_CLIPBOARD is understood.
pub const MAX_CLIPBOARD: u32 = 10;
/// AUDIO_VOLUME_SYNC is understood.
pub const AUDIO_VOLUME_SYNC: u32 = 11;
/// MONITORS_CONFIG positions (`x`, `y`) are honoured.
pub const MONITORS_CONFIG_POSITION: u32 = 12;
/// The guest refuses file transfers (set by the agent, read by the client).
pub const FILE_XFER_DISABLED: u32 = 13;
/// FILE_XFER_STATUS may carry error details (free space, GIO error code).
pub const FILE_XFER_DETAILED_ERRORS: u32 = 14;
/// GRAPHICS_DEVICE_INFO is understood.
pub const GRAPHICS_DEVICE_INFO: u32 = 15;
/// A new GRAB is not preceded by a RELEASE of the previous one.
pub const CLIPBOARD_NO_RELEASE_ON_REGRAB: u32 = 16;
/// CLIPBOARD_GRAB carries a `u32 serial` after the selection prefix.
pub const CLIPBOARD_GRAB_SERIAL: u32 = 17;
/// One past the last capability this module knows.
pub const END: u32 = 18;

/// Every capability's name, indexed by bit number.
const NAMES: [&str; END as usize] = [
    "MOUSE_STATE",
    "MONITORS_CONFIG",
    "REPLY",
    "CLIPBOARD",
    "DISPLAY_CONFIG",
    "CLIPBOARD_BY_DEMAND",
    "CLIPBOARD_SELECTION",
    "SPARSE_MONITORS_CONFIG",
    "GUEST_LINEEND_LF",
    "GUEST_LINEEND_CRLF",
    "MAX_CLIPBOARD",
    "AUDIO_VOLUME_SYNC",
    "MONITORS_CONFIG_POSITION",
    "FILE_XFER_DISABLED",
    "FILE_XFER_DETAILED_ERRORS",
    "GRAPHICS_DEVICE_INFO",
    "CLIPBOARD_NO_RELEASE_ON_REGRAB",
    "CLIPBOARD_GRAB_SERIAL",
];

/// The name of a capability bit (`"?"` for bits this module does not know).
pub fn name(bit: u32) -> &'static str {
    usize::try_from(bit)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("?")
}

/// The capabilities a SPICE client announces to the agent: the set spice-gtk
/// 0.42 announces (reference §1.7). Clipboard-by-demand with selections and
/// grab serials, monitors config with positions, REPLY, DISPLAY_CONFIG,
/// MOUSE_STATE, detailed file-transfer errors and no release on re-grab.
pub fn client_caps() -> AgentCaps {
    AgentCaps::from_bits(&[
        MOUSE_STATE,
        MONITORS_CONFIG,
        REPLY,
        DISPLAY_CONFIG,
        CLIPBOARD_BY_DEMAND,
        CLIPBOARD_SELECTION,
        MONITORS_CONFIG_POSITION,
        FILE_XFER_DETAILED_ERRORS,
        CLIPBOARD_NO_RELEASE_ON_REGRAB,
        CLIPBOARD_GRAB_SERIAL,
    ])
}

/// The names of the bits set in `caps`, for logs (`"?<n>"` for unknown bits).
pub fn describe(caps: &AgentCaps) -> Vec<String> {
    (0..caps.word_count().saturating_mul(32))
        .filter(|&bit| caps.has(bit))
        .map(|bit| match name(bit) {
            "?" => format!("?{bit}"),
            known => known.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_caps_are_spice_gtks_set() {
        let caps = client_caps();
        // bits 0,1,2,4,5,6,12,14,16,17
        assert_eq!(caps.words(), &[0b11_0101_0000_0111_0111]);
        for bit in [CLIPBOARD, SPARSE_MONITORS_CONFIG, MAX_CLIPBOARD, FILE_XFER_DISABLED] {
            assert!(!caps.has(bit), "{}", name(bit));
        }
    }

    #[test]
    fn names_and_description() {
        assert_eq!(name(CLIPBOARD_GRAB_SERIAL), "CLIPBOARD_GRAB_SERIAL");
        assert_eq!(name(END), "?");
        assert_eq!(name(u32::MAX), "?");
        let caps = AgentCaps::from_bits(&[MOUSE_STATE, 40]);
        assert_eq!(describe(&caps), ["MOUSE_STATE", "?40"]);
    }

    #[test]
    fn negotiation_is_the_intersection() {
        let agent = AgentCaps::from_bits(&[CLIPBOARD_BY_DEMAND, CLIPBOARD_SELECTION, GUEST_LINEEND_LF, 33]);
        let both = client_caps().intersect(&agent);
        assert!(both.has(CLIPBOARD_SELECTION) && both.has(CLIPBOARD_BY_DEMAND));
        assert!(!both.has(GUEST_LINEEND_LF) && !both.has(CLIPBOARD_GRAB_SERIAL) && !both.has(33));
    }
}
