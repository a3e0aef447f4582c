//! Descriptors and control requests on endpoint 0.

use super::MassStorage;
use super::bot::{EP_IN, EP_OUT};
use super::store::BlockStore;
use crate::usbredir::proto::{EpInfo, EpInfoEntry, InterfaceEntry, InterfaceInfo, ep_index, ep_type, status};

/// Max packet size of endpoint 0.
const EP0_MAX_PACKET: u8 = 64;
/// Bulk max packet size at high speed, and in the other-speed (full) configuration.
pub(super) const BULK_MAX_PACKET_HS: u16 = 512;
const BULK_MAX_PACKET_FS: u16 = 64;
/// Interface class, subclass (SCSI transparent) and protocol (bulk-only).
pub(super) const INTERFACE: InterfaceEntry = InterfaceEntry {
    number: 0,
    class: 0x08,
    subclass: 0x06,
    protocol: 0x50,
};

const CONFIG_TOTAL: u8 = 9 + 9 + 7 + 7;
const CONFIG_LEN: usize = CONFIG_TOTAL as usize;

/// Standard request codes.
mod req {
    pub const GET_STATUS: u8 = 0;
    pub const CLEAR_FEATURE: u8 = 1;
    pub const SET_FEATURE: u8 = 3;
    pub const SET_ADDRESS: u8 = 5;
    pub const GET_DESCRIPTOR: u8 = 6;
    pub const GET_CONFIGURATION: u8 = 8;
    pub const SET_CONFIGURATION: u8 = 9;
    pub const GET_INTERFACE: u8 = 10;
    pub const SET_INTERFACE: u8 = 11;
    /// Mass-storage class requests.
    pub const GET_MAX_LUN: u8 = 0xfe;
    pub const BULK_ONLY_RESET: u8 = 0xff;
}

/// The configuration descriptor with its interface and endpoints; `other`
/// gives the other-speed (full-speed) one.
fn config_descriptor(other: bool) -> [u8; CONFIG_LEN] {
    let (ty, mps) = if other {
        (7, BULK_MAX_PACKET_FS)
    } else {
        (2, BULK_MAX_PACKET_HS)
    };
    let [m0, m1] = mps.to_le_bytes();
    let i = INTERFACE;
    [
        9,
        ty,
        CONFIG_TOTAL,
        0,
        1,
        1,
        0,
        0x80,
        50, // bus powered, 100 mA
        9,
        4,
        i.number,
        0,
        2,
        i.class,
        i.subclass,
        i.protocol,
        0, // interface 0
        7,
        5,
        EP_IN,
        0x02,
        m0,
        m1,
        0, // bulk IN
        7,
        5,
        EP_OUT,
        0x02,
        m0,
        m1,
        0, // bulk OUT
    ]
}

/// A string descriptor of `s` (UTF-16, at most 126 code units).
fn string_descriptor(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().take(126).collect();
    let mut v = Vec::with_capacity(2 + units.len() * 2);
    v.push(u8::try_from(2 + units.len() * 2).unwrap_or(0));
    v.push(3);
    for u in units {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

impl<S: BlockStore> MassStorage<S> {
    fn device_descriptor(&self) -> [u8; 18] {
        let [v0, v1] = self.cfg.vendor_id.to_le_bytes();
        let [p0, p1] = self.cfg.product_id.to_le_bytes();
        let [d0, d1] = self.cfg.device_version_bcd.to_le_bytes();
        [
            18,
            1,
            0x00,
            0x02,
            0,
            0,
            0,
            EP0_MAX_PACKET,
            v0,
            v1,
            p0,
            p1,
            d0,
            d1,
            1,
            2,
            3,
            1,
        ]
    }

    /// GET_DESCRIPTOR(`value` = type << 8 | index).
    fn descriptor(&self, value: u16) -> Option<Vec<u8>> {
        let [index, ty] = value.to_le_bytes();
        match (ty, index) {
            (1, _) => Some(self.device_descriptor().to_vec()),
            (2, 0) => Some(config_descriptor(false).to_vec()),
            (7, 0) => Some(config_descriptor(true).to_vec()),
            // Device qualifier: the same device at the other speed.
            (6, _) => Some(vec![10, 6, 0x00, 0x02, 0, 0, 0, EP0_MAX_PACKET, 1, 0]),
            (3, 0) => Some(vec![4, 3, 0x09, 0x04]), // US English only
            (3, 1) => Some(string_descriptor(&self.cfg.manufacturer)),
            (3, 2) => Some(string_descriptor(&self.cfg.product)),
            (3, 3) => Some(string_descriptor(&self.cfg.serial)),
            _ => None,
        }
    }

    /// The interfaces of the current configuration.
    pub(super) fn interface_info(&self) -> InterfaceInfo {
        InterfaceInfo {
            interfaces: if self.configuration == 1 {
                vec![INTERFACE]
            } else {
                vec![]
            },
        }
    }

    /// The endpoints of the current configuration.
    pub(super) fn ep_info(&self) -> EpInfo {
        let mut info = EpInfo::default();
        let control = EpInfoEntry {
            ep_type: ep_type::CONTROL,
            max_packet_size: u16::from(EP0_MAX_PACKET),
            ..EpInfoEntry::default()
        };
        let bulk = EpInfoEntry {
            ep_type: ep_type::BULK,
            interface: INTERFACE.number,
            max_packet_size: BULK_MAX_PACKET_HS,
            ..EpInfoEntry::default()
        };
        let mut set = |ep: u8, e: EpInfoEntry| {
            if let Some(slot) = info.endpoints.get_mut(ep_index(ep)) {
                *slot = e;
            }
        };
        set(0x00, control);
        set(0x80, control);
        if self.configuration == 1 {
            set(EP_IN, bulk);
            set(EP_OUT, bulk);
        }
        info
    }

    /// Answers a control transfer: a status and, for IN requests, the data.
    pub(super) fn control_request(&mut self, requesttype: u8, request: u8, value: u16, index: u16) -> (u8, Vec<u8>) {
        let ok = |data: Vec<u8>| (status::SUCCESS, data);
        let stall = (status::STALL, Vec::new());
        let ep = u8::try_from(index & 0xff).unwrap_or(0);
        match (requesttype, request) {
            (0x80, req::GET_DESCRIPTOR) => self.descriptor(value).map_or(stall, ok),
            // Bus powered, no remote wakeup; interface status is reserved zero.
            (0x80, req::GET_STATUS) => ok(vec![0, 0]),
            (0x81, req::GET_STATUS) if index == 0 => ok(vec![0, 0]),
            (0x82, req::GET_STATUS) if matches!(ep, 0x00 | 0x80 | EP_IN | EP_OUT) => {
                ok(vec![u8::from(self.bot.halted(ep)), 0])
            }
            // DEVICE_REMOTE_WAKEUP: accepted, not used.
            (0x00, req::CLEAR_FEATURE | req::SET_FEATURE) if value == 1 => ok(vec![]),
            (0x02, req::CLEAR_FEATURE | req::SET_FEATURE) if value == 0 => {
                if self.bot.set_halt(ep, request == req::SET_FEATURE) {
                    self.serve_pending_in();
                    ok(vec![])
                } else {
                    stall
                }
            }
            (0x00, req::SET_ADDRESS) => ok(vec![]),
            (0x00, req::SET_CONFIGURATION) if value <= 1 => {
                self.set_configuration(u8::try_from(value).unwrap_or(0));
                ok(vec![])
            }
            (0x80, req::GET_CONFIGURATION) => ok(vec![self.configuration]),
            (0x81, req::GET_INTERFACE) if index == 0 && self.configuration == 1 => ok(vec![0]),
            (0x01, req::SET_INTERFACE) if index == 0 && value == 0 && self.configuration == 1 => ok(vec![]),
            (0xa1, req::GET_MAX_LUN) if index == 0 && value == 0 => ok(vec![0]),
            (0x21, req::BULK_ONLY_RESET) if index == 0 && value == 0 => {
                self.bot.mass_storage_reset();
                ok(vec![])
            }
            _ => stall,
        }
    }
}
