//! Inputs channel messages (`channel InputsChannel` in spice.proto), plus the
//! scancode encodings the channel carries.
//!
//! Keys are named by a **PC XT set-1 scancode as `u16`**: the low byte is the
//! make code and `0x100` marks an E0-prefixed key (Right Ctrl = `0x11d`).
//! Pause ([`PAUSE`]) has no make/break pair; it is sent as its six-byte
//! sequence on press and nothing on release.

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::ProtoResult;

/// Server message numbers.
pub mod msg {
    pub const INIT: u16 = 101;
    pub const KEY_MODIFIERS: u16 = 102;
    pub const MOUSE_MOTION_ACK: u16 = 111;
}

/// Client message numbers.
pub mod msgc {
    pub const KEY_DOWN: u16 = 101;
    pub const KEY_UP: u16 = 102;
    pub const KEY_MODIFIERS: u16 = 103;
    pub const KEY_SCANCODE: u16 = 104;
    pub const MOUSE_MOTION: u16 = 111;
    pub const MOUSE_POSITION: u16 = 112;
    pub const MOUSE_PRESS: u16 = 113;
    pub const MOUSE_RELEASE: u16 = 114;
}

/// The server acknowledges motion in bunches of this many messages
/// (`SPICE_INPUT_MOTION_ACK_BUNCH`).
pub const MOTION_ACK_BUNCH: u32 = 4;
/// Most motion/position messages a client keeps unacknowledged.
pub const MAX_UNACKED_MOTION: u32 = MOTION_ACK_BUNCH * 2;
/// Largest KEY_SCANCODE body accepted (a key is at most 6 bytes; a few keys per message).
pub const MAX_SCANCODE_BYTES: u64 = 64;

/// `SPICE_MOUSE_BUTTON_*` ids (MOUSE_PRESS / MOUSE_RELEASE `button`).
pub mod button {
    pub const INVALID: u8 = 0;
    pub const LEFT: u8 = 1;
    pub const MIDDLE: u8 = 2;
    pub const RIGHT: u8 = 3;
    pub const UP: u8 = 4;
    pub const DOWN: u8 = 5;
    pub const SIDE: u8 = 6;
    pub const EXTRA: u8 = 7;
}

/// `SPICE_MOUSE_BUTTON_MASK_*` bits (the `buttons_state` of every mouse message).
pub mod button_mask {
    pub const LEFT: u16 = 1 << 0;
    pub const MIDDLE: u16 = 1 << 1;
    pub const RIGHT: u16 = 1 << 2;
    pub const UP: u16 = 1 << 3;
    pub const DOWN: u16 = 1 << 4;
    pub const SIDE: u16 = 1 << 5;
    pub const EXTRA: u16 = 1 << 6;
}

/// `SPICE_KEYBOARD_MODIFIER_FLAGS_*` (KEY_MODIFIERS and INIT).
pub mod modifier {
    pub const SCROLL_LOCK: u16 = 1 << 0;
    pub const NUM_LOCK: u16 = 1 << 1;
    pub const CAPS_LOCK: u16 = 1 << 2;
}

/// A mouse button SPICE knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
    /// Wheel up (a press and a release per step).
    WheelUp,
    /// Wheel down.
    WheelDown,
    /// "Back" side button.
    Side,
    /// "Forward" side button.
    Extra,
}

impl MouseButton {
    /// The `SPICE_MOUSE_BUTTON_*` id.
    pub fn id(self) -> u8 {
        match self {
            Self::Left => button::LEFT,
            Self::Middle => button::MIDDLE,
            Self::Right => button::RIGHT,
            Self::WheelUp => button::UP,
            Self::WheelDown => button::DOWN,
            Self::Side => button::SIDE,
            Self::Extra => button::EXTRA,
        }
    }

    /// The `SPICE_MOUSE_BUTTON_MASK_*` bit.
    pub fn mask(self) -> u16 {
        match self {
            Self::Left => button_mask::LEFT,
            Self::Middle => button_mask::MIDDLE,
            Self::Right => button_mask::RIGHT,
            Self::WheelUp => button_mask::UP,
            Self::WheelDown => button_mask::DOWN,
            Self::Side => button_mask::SIDE,
            Self::Extra => button_mask::EXTRA,
        }
    }

    /// The button of a `SPICE_MOUSE_BUTTON_*` id.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            button::LEFT => Self::Left,
            button::MIDDLE => Self::Middle,
            button::RIGHT => Self::Right,
            button::UP => Self::WheelUp,
            button::DOWN => Self::WheelDown,
            button::SIDE => Self::Side,
            button::EXTRA => Self::Extra,
            _ => return None,
        })
    }
}

/// Lock-key state (Caps, Num, Scroll), as KEY_MODIFIERS carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LockModifiers {
    pub caps_lock: bool,
    pub num_lock: bool,
    pub scroll_lock: bool,
}

impl LockModifiers {
    /// The wire flags.
    pub fn to_wire(self) -> u16 {
        let mut v = 0;
        if self.scroll_lock {
            v |= modifier::SCROLL_LOCK;
        }
        if self.num_lock {
            v |= modifier::NUM_LOCK;
        }
        if self.caps_lock {
            v |= modifier::CAPS_LOCK;
        }
        v
    }

    /// From wire flags; unknown bits are ignored.
    pub fn from_wire(v: u16) -> Self {
        Self {
            caps_lock: v & modifier::CAPS_LOCK != 0,
            num_lock: v & modifier::NUM_LOCK != 0,
            scroll_lock: v & modifier::SCROLL_LOCK != 0,
        }
    }
}

/// Pause in the `u16` scancode convention (keycodemapdb's xtkbd `0xe046`).
pub const PAUSE: u16 = 0x146;
/// What a real keyboard sends when Pause is pressed (nothing on release).
pub const PAUSE_SEQUENCE: [u8; 6] = [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5];
/// The E0 prefix byte.
const E0: u8 = 0xe0;
/// Break codes are make codes with this bit.
const BREAK: u8 = 0x80;

/// The Korean Hanja and Hangeul keys: single bytes sent on press only (keycodemapdb's xtkbd).
pub const HANJA: u16 = 0xf1;
pub const HANGEUL: u16 = 0xf2;

/// Whether `scancode` is a key Sumac can send: a make code (0x01..=0x7f),
/// optionally E0-prefixed (`0x100`), [`PAUSE`], [`HANJA`] or [`HANGEUL`].
pub fn is_valid_scancode(scancode: u16) -> bool {
    let make = scancode & 0xff;
    (scancode & !0x1ff == 0 && make != 0 && make < 0x80) || scancode == HANJA || scancode == HANGEUL
}

/// Keys that send bytes on press only (no break code): the guest never sees them held.
pub fn is_press_only(scancode: u16) -> bool {
    matches!(scancode, PAUSE | HANJA | HANGEUL)
}

/// The raw set-1 bytes of a press (`release == false`) or a release, in wire order.
/// Invalid scancodes give no bytes; Pause gives its sequence on press, nothing on release.
pub fn scancode_bytes(scancode: u16, release: bool) -> Vec<u8> {
    if scancode == PAUSE {
        return if release { Vec::new() } else { PAUSE_SEQUENCE.to_vec() };
    }
    if scancode == HANJA || scancode == HANGEUL {
        return if release {
            Vec::new()
        } else {
            vec![(scancode & 0xff) as u8]
        };
    }
    if !is_valid_scancode(scancode) {
        return Vec::new();
    }
    let make = (scancode & 0x7f) as u8;
    let code = if release { make | BREAK } else { make };
    if scancode & 0x100 != 0 {
        vec![E0, code]
    } else {
        vec![code]
    }
}

/// The `u32` codes of KEY_DOWN (`release == false`) or KEY_UP messages for one key:
/// the set-1 bytes packed little-endian (the server pushes bytes until a zero one).
/// Most keys give one code; Pause gives two on press (six bytes do not fit in one).
pub fn key_codes(scancode: u16, release: bool) -> Vec<u32> {
    scancode_bytes(scancode, release)
        .chunks(3)
        .map(|chunk| chunk.iter().rev().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        .collect()
}

/// Inputs channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputsServer {
    Base(ServerBase),
    /// `INPUTS_INIT {u16 keyboard_modifiers}`.
    Init {
        modifiers: u16,
    },
    /// `KEY_MODIFIERS {u16 modifiers}`: the guest's lock keys changed.
    KeyModifiers {
        modifiers: u16,
    },
    /// `MOUSE_MOTION_ACK`: [`MOTION_ACK_BUNCH`] motion messages were processed.
    MouseMotionAck,
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl InputsServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Init { .. } => msg::INIT,
            Self::KeyModifiers { .. } => msg::KEY_MODIFIERS,
            Self::MouseMotionAck => msg::MOUSE_MOTION_ACK,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Init { modifiers } | Self::KeyModifiers { modifiers } => w.write_u16(*modifiers),
            Self::MouseMotionAck | Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::INIT => Self::Init {
                modifiers: r.read_u16("inputs_init modifiers")?,
            },
            msg::KEY_MODIFIERS => Self::KeyModifiers {
                modifiers: r.read_u16("key_modifiers")?,
            },
            msg::MOUSE_MOTION_ACK => Self::MouseMotionAck,
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// Inputs channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputsClient {
    Base(ClientBase),
    /// `KEY_DOWN {u32 code}` (see [`key_codes`]).
    KeyDown {
        code: u32,
    },
    /// `KEY_UP {u32 code}`.
    KeyUp {
        code: u32,
    },
    /// `KEY_MODIFIERS {u16 modifiers}`: set the guest's lock keys.
    KeyModifiers {
        modifiers: u16,
    },
    /// `KEY_SCANCODE`: raw set-1 bytes (needs `INPUTS_CAP_KEY_SCANCODE`).
    KeyScancode(Vec<u8>),
    /// `MOUSE_MOTION {i32 dx, i32 dy, u16 buttons_state}` (server mouse mode).
    MouseMotion {
        dx: i32,
        dy: i32,
        buttons: u16,
    },
    /// `MOUSE_POSITION {u32 x, u32 y, u16 buttons_state, u8 display_id}` (client mouse mode).
    MousePosition {
        x: u32,
        y: u32,
        buttons: u16,
        display_id: u8,
    },
    /// `MOUSE_PRESS {u8 button, u16 buttons_state}`.
    MousePress {
        button: u8,
        buttons: u16,
    },
    /// `MOUSE_RELEASE {u8 button, u16 buttons_state}`.
    MouseRelease {
        button: u8,
        buttons: u16,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl InputsClient {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::KeyDown { .. } => msgc::KEY_DOWN,
            Self::KeyUp { .. } => msgc::KEY_UP,
            Self::KeyModifiers { .. } => msgc::KEY_MODIFIERS,
            Self::KeyScancode(_) => msgc::KEY_SCANCODE,
            Self::MouseMotion { .. } => msgc::MOUSE_MOTION,
            Self::MousePosition { .. } => msgc::MOUSE_POSITION,
            Self::MousePress { .. } => msgc::MOUSE_PRESS,
            Self::MouseRelease { .. } => msgc::MOUSE_RELEASE,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::KeyDown { code } | Self::KeyUp { code } => w.write_u32(*code),
            Self::KeyModifiers { modifiers } => w.write_u16(*modifiers),
            Self::KeyScancode(bytes) => w.write_slice(bytes),
            Self::MouseMotion { dx, dy, buttons } => {
                w.write_i32(*dx);
                w.write_i32(*dy);
                w.write_u16(*buttons);
            }
            Self::MousePosition {
                x,
                y,
                buttons,
                display_id,
            } => {
                w.write_u32(*x);
                w.write_u32(*y);
                w.write_u16(*buttons);
                w.write_u8(*display_id);
            }
            Self::MousePress { button, buttons } | Self::MouseRelease { button, buttons } => {
                w.write_u8(*button);
                w.write_u16(*buttons);
            }
            Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msgc::KEY_DOWN => Self::KeyDown {
                code: r.read_u32("key_down code")?,
            },
            msgc::KEY_UP => Self::KeyUp {
                code: r.read_u32("key_up code")?,
            },
            msgc::KEY_MODIFIERS => Self::KeyModifiers {
                modifiers: r.read_u16("key_modifiers")?,
            },
            msgc::KEY_SCANCODE => {
                let n = checked_array_len("key_scancode", body.len() as u64, 1, MAX_SCANCODE_BYTES)?;
                Self::KeyScancode(r.read_slice("key_scancode", n)?.to_vec())
            }
            msgc::MOUSE_MOTION => Self::MouseMotion {
                dx: r.read_i32("mouse_motion dx")?,
                dy: r.read_i32("mouse_motion dy")?,
                buttons: r.read_u16("mouse_motion buttons")?,
            },
            msgc::MOUSE_POSITION => Self::MousePosition {
                x: r.read_u32("mouse_position x")?,
                y: r.read_u32("mouse_position y")?,
                buttons: r.read_u16("mouse_position buttons")?,
                display_id: r.read_u8("mouse_position display_id")?,
            },
            msgc::MOUSE_PRESS => Self::MousePress {
                button: r.read_u8("mouse_press button")?,
                buttons: r.read_u16("mouse_press buttons")?,
            },
            msgc::MOUSE_RELEASE => Self::MouseRelease {
                button: r.read_u8("mouse_release button")?,
                buttons: r.read_u16("mouse_release buttons")?,
            },
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(InputsServer, InputsClient);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::DecodeError;
    use crate::proto::base::Message;

    fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let body = m.to_body();
        assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
    }

    #[test]
    fn server_round_trips() {
        rt(InputsServer::Base(ServerBase::SetAck {
            generation: 1,
            window: 10,
        }));
        rt(InputsServer::Init { modifiers: 0x7 });
        rt(InputsServer::KeyModifiers { modifiers: 4 });
        rt(InputsServer::MouseMotionAck);
        rt(InputsServer::Unknown {
            msg_type: 150,
            data: vec![1, 2],
        });
    }

    #[test]
    fn client_round_trips() {
        rt(InputsClient::Base(ClientBase::Pong { id: 1, timestamp: 2 }));
        rt(InputsClient::KeyDown { code: 0x1de0 });
        rt(InputsClient::KeyUp { code: 0x9de0 });
        rt(InputsClient::KeyModifiers { modifiers: 2 });
        rt(InputsClient::KeyScancode(vec![0xe0, 0x1d, 0xe0, 0x9d]));
        rt(InputsClient::KeyScancode(Vec::new()));
        rt(InputsClient::MouseMotion {
            dx: -5,
            dy: i32::MAX,
            buttons: button_mask::LEFT | button_mask::EXTRA,
        });
        rt(InputsClient::MousePosition {
            x: 1919,
            y: 0,
            buttons: 0,
            display_id: 3,
        });
        rt(InputsClient::MousePress {
            button: button::SIDE,
            buttons: button_mask::SIDE,
        });
        rt(InputsClient::MouseRelease {
            button: button::RIGHT,
            buttons: 0,
        });
    }

    #[test]
    fn wire_layouts_match_spice_proto() {
        let m = InputsClient::MousePosition {
            x: 0x0102_0304,
            y: 5,
            buttons: 0x0a0b,
            display_id: 9,
        };
        assert_eq!(m.msg_type(), 112);
        assert_eq!(m.to_body(), vec![4, 3, 2, 1, 5, 0, 0, 0, 0x0b, 0x0a, 9]);
        let m = InputsClient::MouseMotion {
            dx: -1,
            dy: 2,
            buttons: 4,
        };
        assert_eq!(m.to_body(), vec![0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 4, 0]);
        let m = InputsClient::MousePress { button: 3, buttons: 4 };
        assert_eq!((m.msg_type(), m.to_body()), (113, vec![3, 4, 0]));
        assert_eq!(InputsServer::Init { modifiers: 6 }.to_body(), vec![6, 0]);
    }

    #[test]
    fn truncated_messages_are_errors() {
        assert!(matches!(
            InputsServer::decode(msg::INIT, &[1]),
            Err(DecodeError::NotEnoughBytes { .. })
        ));
        assert!(InputsServer::decode(msg::KEY_MODIFIERS, &[]).is_err());
        assert!(InputsClient::decode(msgc::KEY_DOWN, &[1, 2, 3]).is_err());
        assert!(InputsClient::decode(msgc::KEY_UP, &[]).is_err());
        assert!(InputsClient::decode(msgc::KEY_MODIFIERS, &[1]).is_err());
        assert!(InputsClient::decode(msgc::MOUSE_MOTION, &[0; 9]).is_err());
        assert!(InputsClient::decode(msgc::MOUSE_POSITION, &[0; 10]).is_err());
        assert!(InputsClient::decode(msgc::MOUSE_PRESS, &[1, 0]).is_err());
        assert!(InputsClient::decode(msgc::MOUSE_RELEASE, &[1]).is_err());
    }

    #[test]
    fn oversize_scancode_is_refused() {
        let ok = vec![0x1e; MAX_SCANCODE_BYTES as usize];
        assert!(InputsClient::decode(msgc::KEY_SCANCODE, &ok).is_ok());
        let big = vec![0x1e; MAX_SCANCODE_BYTES as usize + 1];
        assert!(matches!(
            InputsClient::decode(msgc::KEY_SCANCODE, &big),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn scancode_encodings_follow_spice_gtk() {
        // 'A' (0x1e): one byte, release sets 0x80.
        assert_eq!(scancode_bytes(0x1e, false), vec![0x1e]);
        assert_eq!(scancode_bytes(0x1e, true), vec![0x9e]);
        assert_eq!(key_codes(0x1e, false), vec![0x1e]);
        assert_eq!(key_codes(0x1e, true), vec![0x9e]);
        // Right Ctrl (E0 1D): `0xe0 | code << 8`, release 0x80 on the code.
        assert_eq!(scancode_bytes(0x11d, false), vec![0xe0, 0x1d]);
        assert_eq!(scancode_bytes(0x11d, true), vec![0xe0, 0x9d]);
        assert_eq!(key_codes(0x11d, false), vec![0x1de0]);
        assert_eq!(key_codes(0x11d, true), vec![0x9de0]);
        // Delete (E0 53).
        assert_eq!(key_codes(0x153, true), vec![0xd3e0]);
        // Pause: the whole sequence on press, nothing on release.
        assert_eq!(scancode_bytes(PAUSE, false), PAUSE_SEQUENCE.to_vec());
        assert!(scancode_bytes(PAUSE, true).is_empty());
        assert_eq!(key_codes(PAUSE, false), vec![0x45_1de1, 0xc5_9de1]);
        assert!(key_codes(PAUSE, true).is_empty());
        // Hanja/Hangeul: one byte on press, nothing on release.
        assert_eq!(scancode_bytes(HANJA, false), vec![0xf1]);
        assert_eq!(key_codes(HANGEUL, false), vec![0xf2]);
        assert!(key_codes(HANGEUL, true).is_empty());
        assert!(is_press_only(PAUSE) && is_press_only(HANJA) && !is_press_only(0x1e));
        // Invalid keys give nothing.
        for bad in [0u16, 0x80, 0xf0, 0xff, 0x100, 0x180, 0x1f1, 0x200, 0xffff] {
            assert!(!is_valid_scancode(bad), "{bad:#x}");
            assert!(scancode_bytes(bad, false).is_empty(), "{bad:#x}");
            assert!(key_codes(bad, true).is_empty(), "{bad:#x}");
        }
    }

    #[test]
    fn buttons_and_modifiers() {
        for id in 0..=8u8 {
            match MouseButton::from_id(id) {
                Some(b) => assert_eq!(b.id(), id),
                None => assert!(id == button::INVALID || id > button::EXTRA),
            }
        }
        assert_eq!(MouseButton::Right.mask(), 4);
        assert_eq!(MouseButton::Extra.mask(), 64);
        let all = LockModifiers {
            caps_lock: true,
            num_lock: true,
            scroll_lock: true,
        };
        assert_eq!(all.to_wire(), 7);
        assert_eq!(
            LockModifiers::from_wire(0xfff4),
            LockModifiers {
                caps_lock: true,
                ..LockModifiers::default()
            }
        );
        assert_eq!(LockModifiers::from_wire(all.to_wire()), all);
    }
}
