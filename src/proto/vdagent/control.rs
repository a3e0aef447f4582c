//! Display, mouse and audio-control agent messages: MONITORS_CONFIG,
//! MOUSE_STATE, DISPLAY_CONFIG, REPLY, GRAPHICS_DEVICE_INFO and
//! AUDIO_VOLUME_SYNC.
//!
//! Size rules follow spice-common's message checks: a fixed-size message must
//! be exactly its size; a message with an explicit element count must hold
//! those elements, and bytes after them are ignored.

use super::error::EncodeError;
use super::{count_fits, wire_count};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// `VD_AGENT_CONFIG_MONITORS_FLAG_*`.
pub mod monitors_flag {
    /// The `x`, `y` of each head are meaningful.
    pub const USE_POS: u32 = 1;
    /// A `{u16 height_mm, u16 width_mm}` per head follows the heads.
    pub const PHYSICAL_SIZE: u32 = 2;
}

/// `VD_AGENT_DISPLAY_CONFIG_FLAG_*`.
pub mod display_flag {
    pub const DISABLE_WALLPAPER: u32 = 1;
    pub const DISABLE_FONT_SMOOTH: u32 = 2;
    pub const DISABLE_ANIMATION: u32 = 4;
    /// `depth` is meaningful.
    pub const SET_COLOR_DEPTH: u32 = 8;
}

/// `VD_AGENT_*BUTTON_MASK` bits of [`MouseState::buttons`].
pub mod button {
    pub const LEFT: u32 = 1 << 1;
    pub const MIDDLE: u32 = 1 << 2;
    pub const RIGHT: u32 = 1 << 3;
    /// Wheel up.
    pub const UP: u32 = 1 << 4;
    /// Wheel down.
    pub const DOWN: u32 = 1 << 5;
    /// Side (back) button.
    pub const SIDE: u32 = 1 << 6;
    /// Extra (forward) button.
    pub const EXTRA: u32 = 1 << 7;
}

/// `VDAgentReply.error` values.
pub mod reply_error {
    pub const SUCCESS: u32 = 1;
    pub const ERROR: u32 = 2;
}

/// Bytes of one `VDAgentMonConfig`.
pub const MON_CONFIG_SIZE: usize = 20;
/// Bytes of one `VDAgentMonitorMM`.
pub const MONITOR_MM_SIZE: usize = 4;
/// Bytes of `VDAgentMouseState`.
pub const MOUSE_STATE_SIZE: usize = 13;
/// Smallest `VDAgentDeviceDisplayInfo`: four u32 and a one-byte address (its NUL).
pub const DEVICE_DISPLAY_INFO_MIN: usize = 17;

/// One head of a MONITORS_CONFIG. Width and height 0 mark a disabled head
/// (only for agents with SPARSE_MONITORS_CONFIG).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonConfig {
    pub height: u32,
    pub width: u32,
    /// Bits per pixel (spice-gtk sends 32).
    pub depth: u32,
    pub x: i32,
    pub y: i32,
    /// Physical size in millimetres; on the wire only with `PHYSICAL_SIZE`
    /// (decoded as 0 and not sent otherwise). 0 means unknown.
    pub height_mm: u16,
    pub width_mm: u16,
}

impl MonConfig {
    /// A 0×0 entry: a disabled head kept in place (sparse monitors config).
    pub fn is_disabled(&self) -> bool {
        self.width == 0 && self.height == 0
    }
}

/// `VD_AGENT_MONITORS_CONFIG`: the client's wanted guest layout, one entry
/// per head. Wire: `u32 count, u32 flags, count × VDAgentMonConfig
/// {u32 height, u32 width, u32 depth, i32 x, i32 y}` (height first), then
/// `count × {u16 height_mm, u16 width_mm}` if `flags` has `PHYSICAL_SIZE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorsConfig {
    /// `monitors_flag::*`, kept as received (unknown bits included).
    pub flags: u32,
    pub monitors: Vec<MonConfig>,
}

impl MonitorsConfig {
    fn physical(&self) -> bool {
        self.flags & monitors_flag::PHYSICAL_SIZE != 0
    }

    pub(super) fn encode(&self, w: &mut WriteCursor) -> Result<(), EncodeError> {
        w.write_u32(wire_count("monitors config heads", self.monitors.len())?);
        w.write_u32(self.flags);
        for m in &self.monitors {
            w.write_u32(m.height);
            w.write_u32(m.width);
            w.write_u32(m.depth);
            w.write_i32(m.x);
            w.write_i32(m.y);
        }
        if self.physical() {
            for m in &self.monitors {
                w.write_u16(m.height_mm);
                w.write_u16(m.width_mm);
            }
        }
        Ok(())
    }

    pub(super) fn decode(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let count = r.read_u32("monitors config count")?;
        let flags = r.read_u32("monitors config flags")?;
        let mut cfg = Self {
            flags,
            monitors: Vec::new(),
        };
        let elem = if cfg.physical() {
            MON_CONFIG_SIZE + MONITOR_MM_SIZE
        } else {
            MON_CONFIG_SIZE
        };
        let n = count_fits(&r, "monitors config heads", count, elem)?;
        cfg.monitors.reserve_exact(n);
        for _ in 0..n {
            cfg.monitors.push(MonConfig {
                height: r.read_u32("head height")?,
                width: r.read_u32("head width")?,
                depth: r.read_u32("head depth")?,
                x: r.read_i32("head x")?,
                y: r.read_i32("head y")?,
                height_mm: 0,
                width_mm: 0,
            });
        }
        if cfg.physical() {
            for m in &mut cfg.monitors {
                m.height_mm = r.read_u16("head height_mm")?;
                m.width_mm = r.read_u16("head width_mm")?;
            }
        }
        Ok(cfg)
    }
}

/// `VD_AGENT_MOUSE_STATE` (server → agent in server mouse mode through the
/// agent): `{u32 x, u32 y, u32 buttons, u8 display_id}`, exactly 13 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MouseState {
    pub x: u32,
    pub y: u32,
    /// `button::*` bits.
    pub buttons: u32,
    pub display_id: u8,
}

impl MouseState {
    pub(super) fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.x);
        w.write_u32(self.y);
        w.write_u32(self.buttons);
        w.write_u8(self.display_id);
    }

    pub(super) fn decode(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let m = Self {
            x: r.read_u32("mouse state x")?,
            y: r.read_u32("mouse state y")?,
            buttons: r.read_u32("mouse state buttons")?,
            display_id: r.read_u8("mouse state display_id")?,
        };
        r.expect_end("mouse state")?;
        Ok(m)
    }
}

/// `VD_AGENT_DISPLAY_CONFIG` (client → agent): `{u32 flags, u32 depth}`, exactly 8 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DisplayConfig {
    /// `display_flag::*`.
    pub flags: u32,
    /// Colour depth, meaningful with `SET_COLOR_DEPTH`.
    pub depth: u32,
}

/// `VD_AGENT_REPLY` (agent → client): `{u32 type, u32 error}`, exactly 8
/// bytes; answers MONITORS_CONFIG or DISPLAY_CONFIG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The message type answered (`msg_type::MONITORS_CONFIG`, ...).
    pub msg_type: u32,
    /// `reply_error::SUCCESS` or `reply_error::ERROR`.
    pub error: u32,
}

/// Reads exactly two u32 (REPLY, DISPLAY_CONFIG).
pub(super) fn decode_u32_pair(body: &[u8], what: &'static str) -> ProtoResult<(u32, u32)> {
    let mut r = ReadCursor::new(body);
    let a = r.read_u32(what)?;
    let b = r.read_u32(what)?;
    r.expect_end(what)?;
    Ok((a, b))
}

/// `VD_AGENT_AUDIO_VOLUME_SYNC` (client → agent): `{u8 is_playback, u8 mute,
/// u8 nchannels, u16 volume[nchannels]}`; bytes after the volumes are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioVolumeSync {
    /// Playback (true) or record (false) stream.
    pub is_playback: bool,
    pub mute: bool,
    /// One volume per channel (at most 255 on the wire).
    pub volumes: Vec<u16>,
}

impl AudioVolumeSync {
    pub(super) fn encode(&self, w: &mut WriteCursor) -> Result<(), EncodeError> {
        let n = u8::try_from(self.volumes.len()).map_err(|_| EncodeError::TooLong {
            what: "audio volume channels",
            len: self.volumes.len(),
            max: u64::from(u8::MAX),
        })?;
        w.write_u8(u8::from(self.is_playback));
        w.write_u8(u8::from(self.mute));
        w.write_u8(n);
        for &v in &self.volumes {
            w.write_u16(v);
        }
        Ok(())
    }

    pub(super) fn decode(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let is_playback = r.read_u8("audio volume is_playback")? != 0;
        let mute = r.read_u8("audio volume mute")? != 0;
        let n = r.read_u8("audio volume nchannels")?;
        let n = count_fits(&r, "audio volumes", u32::from(n), 2)?;
        let mut volumes = Vec::with_capacity(n);
        for _ in 0..n {
            volumes.push(r.read_u16("audio volume")?);
        }
        Ok(Self {
            is_playback,
            mute,
            volumes,
        })
    }
}

/// One `VDAgentDeviceDisplayInfo`: which guest device output shows a SPICE
/// (channel, monitor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceDisplayInfo {
    pub channel_id: u32,
    pub monitor_id: u32,
    pub device_display_id: u32,
    /// The device address (e.g. `pci/0000/02.0`). On the wire it is
    /// `u32 len` + `len` bytes ending with NUL; decoding keeps the bytes
    /// before the first NUL, as text (invalid UTF-8 replaced).
    pub device_address: String,
}

/// `VD_AGENT_GRAPHICS_DEVICE_INFO` body: `u32 count` + entries; an address
/// length of 0 is invalid; bytes after the entries are ignored.
pub(super) fn encode_device_info(w: &mut WriteCursor, infos: &[DeviceDisplayInfo]) -> Result<(), EncodeError> {
    w.write_u32(wire_count("graphics device info entries", infos.len())?);
    for i in infos {
        if i.device_address.contains('\0') {
            return Err(EncodeError::InteriorNul { what: "device address" });
        }
        w.write_u32(i.channel_id);
        w.write_u32(i.monitor_id);
        w.write_u32(i.device_display_id);
        w.write_u32(wire_count("device address", i.device_address.len().saturating_add(1))?);
        w.write_slice(i.device_address.as_bytes());
        w.write_u8(0);
    }
    Ok(())
}

pub(super) fn decode_device_info(body: &[u8]) -> ProtoResult<Vec<DeviceDisplayInfo>> {
    let mut r = ReadCursor::new(body);
    let count = r.read_u32("graphics device info count")?;
    let n = count_fits(&r, "graphics device info entries", count, DEVICE_DISPLAY_INFO_MIN)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let channel_id = r.read_u32("device info channel_id")?;
        let monitor_id = r.read_u32("device info monitor_id")?;
        let device_display_id = r.read_u32("device info device_display_id")?;
        let len = r.read_u32("device info address length")?;
        if len == 0 {
            return Err(DecodeError::invalid("device info address length", len));
        }
        let len = usize::try_from(len).map_err(|_| DecodeError::Overflow {
            what: "device info address length",
        })?;
        let raw = r.read_slice("device info address", len)?;
        let text = raw.split(|&b| b == 0).next().unwrap_or_default();
        out.push(DeviceDisplayInfo {
            channel_id,
            monitor_id,
            device_display_id,
            device_address: String::from_utf8_lossy(text).into_owned(),
        });
    }
    Ok(out)
}
