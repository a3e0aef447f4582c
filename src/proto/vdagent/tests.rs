//! Message tests: a round trip per message under every capability layout,
//! byte vectors written from the specification (little endian), and hostile
//! bodies.

use super::caps::{self as cap, AgentCaps};
use super::clipboard::{self, FileList, FileListAction, LineEnd, clip_type, selection, text_from_guest, text_to_guest};
use super::control::{button, display_flag, monitors_flag, reply_error};
use super::file_xfer::{escape_value, unescape_value, xfer_error_type, xfer_status};
use super::*;

/// The four layouts the capability bits select (selection, grab serial, details).
fn layouts() -> Vec<AgentCaps> {
    (0..8u32)
        .map(|bits| {
            let mut c = AgentCaps::new();
            if bits & 1 != 0 {
                c.set(cap::CLIPBOARD_SELECTION);
            }
            if bits & 2 != 0 {
                c.set(cap::CLIPBOARD_GRAB_SERIAL);
            }
            if bits & 4 != 0 {
                c.set(cap::FILE_XFER_DETAILED_ERRORS);
            }
            c
        })
        .collect()
}

fn all_caps() -> AgentCaps {
    AgentCaps::from_bits(&[
        cap::CLIPBOARD_SELECTION,
        cap::CLIPBOARD_GRAB_SERIAL,
        cap::FILE_XFER_DETAILED_ERRORS,
    ])
}

/// encode → decode is the identity, directly and through header, chunking and reassembly.
fn round_trip(m: &AgentMessage, caps: &AgentCaps) {
    let body = m.encode_body(caps).expect("encodable");
    assert_eq!(
        AgentMessage::decode(m.msg_type(), &body, caps).as_ref(),
        Ok(m),
        "{body:02x?}"
    );
    let framed = m.to_bytes(caps).expect("framed");
    assert_eq!(framed.len(), HEADER_SIZE + body.len());
    let mut r = Reassembler::strict(AgentLimits::default());
    let mut got = Vec::new();
    for b in chunk_bodies(&framed) {
        got.extend(r.feed(b));
    }
    assert!(r.is_idle());
    let [Ok(raw)] = got.as_slice() else {
        panic!("one message expected, got {got:?}")
    };
    assert_eq!(raw.decode(caps).as_ref(), Ok(m));
    assert_eq!(raw.clone().into_message(caps).as_ref(), Ok(m));
}

/// Decodes handcrafted bytes, checks the value, and that encoding gives the bytes back.
fn vector(ty: u32, bytes: &[u8], caps: &AgentCaps, want: AgentMessage) {
    assert_eq!(AgentMessage::decode(ty, bytes, caps).as_ref(), Ok(&want));
    assert_eq!(want.encode_body(caps).as_deref(), Ok(bytes));
}

fn samples() -> Vec<AgentMessage> {
    vec![
        AgentMessage::MouseState(MouseState {
            x: 1919,
            y: 7,
            buttons: button::LEFT | button::SIDE,
            display_id: 3,
        }),
        AgentMessage::MonitorsConfig(MonitorsConfig {
            flags: monitors_flag::USE_POS,
            monitors: vec![
                MonConfig {
                    height: 1080,
                    width: 1920,
                    depth: 32,
                    x: 0,
                    y: 0,
                    ..MonConfig::default()
                },
                MonConfig::default(),
                MonConfig {
                    height: 768,
                    width: 1024,
                    depth: 32,
                    x: -1024,
                    y: 12,
                    ..MonConfig::default()
                },
            ],
        }),
        AgentMessage::MonitorsConfig(MonitorsConfig {
            flags: monitors_flag::USE_POS | monitors_flag::PHYSICAL_SIZE,
            monitors: vec![MonConfig {
                height: 2160,
                width: 3840,
                depth: 32,
                x: 5,
                y: 6,
                height_mm: 340,
                width_mm: 600,
            }],
        }),
        AgentMessage::MonitorsConfig(MonitorsConfig::default()),
        AgentMessage::Reply(Reply {
            msg_type: msg_type::MONITORS_CONFIG,
            error: reply_error::SUCCESS,
        }),
        AgentMessage::Clipboard(Clipboard {
            selection: selection::CLIPBOARD,
            clip_type: clip_type::UTF8_TEXT,
            data: b"hello\r\nworld".to_vec(),
        }),
        AgentMessage::Clipboard(Clipboard {
            selection: selection::CLIPBOARD,
            clip_type: clip_type::NONE,
            data: Vec::new(),
        }),
        AgentMessage::DisplayConfig(DisplayConfig {
            flags: display_flag::DISABLE_WALLPAPER | display_flag::SET_COLOR_DEPTH,
            depth: 16,
        }),
        AgentMessage::AnnounceCapabilities {
            request: true,
            caps: cap::client_caps(),
        },
        AgentMessage::AnnounceCapabilities {
            request: false,
            caps: AgentCaps::new(),
        },
        AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: selection::CLIPBOARD,
            serial: 0,
            types: vec![clip_type::UTF8_TEXT, clip_type::IMAGE_PNG],
        }),
        AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: selection::CLIPBOARD,
            serial: 0,
            types: vec![],
        }),
        AgentMessage::ClipboardRequest {
            selection: selection::CLIPBOARD,
            clip_type: clip_type::IMAGE_BMP,
        },
        AgentMessage::ClipboardRelease {
            selection: selection::CLIPBOARD,
        },
        AgentMessage::FileXferStart(FileXferStart {
            id: 7,
            name: " report\t2024\\final\n.pdf ".to_owned(),
            size: u64::MAX,
        }),
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 7,
            result: XferResult::CanSendData,
        }),
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 7,
            result: XferResult::Other(99),
        }),
        AgentMessage::FileXferData(FileXferData {
            id: 7,
            data: (0..=255u8).cycle().take(5000).collect(),
        }),
        AgentMessage::FileXferData(FileXferData { id: 8, data: vec![] }),
        AgentMessage::ClientDisconnected,
        AgentMessage::MaxClipboard { max: -1 },
        AgentMessage::MaxClipboard { max: 100 << 20 },
        AgentMessage::AudioVolumeSync(AudioVolumeSync {
            is_playback: true,
            mute: false,
            volumes: vec![0xffff, 0x8000],
        }),
        AgentMessage::AudioVolumeSync(AudioVolumeSync::default()),
        AgentMessage::GraphicsDeviceInfo(vec![
            DeviceDisplayInfo {
                channel_id: 0,
                monitor_id: 1,
                device_display_id: 2,
                device_address: "pci/0000/02.0".to_owned(),
            },
            DeviceDisplayInfo::default(),
        ]),
        AgentMessage::GraphicsDeviceInfo(vec![]),
        AgentMessage::Unknown {
            msg_type: 17,
            data: vec![1, 2, 3],
        },
        AgentMessage::Unknown {
            msg_type: 0,
            data: vec![],
        },
    ]
}

#[test]
fn every_message_round_trips_under_every_layout() {
    for caps in layouts() {
        for m in samples() {
            round_trip(&m, &caps);
        }
    }
}

#[test]
fn capability_dependent_fields_round_trip_when_negotiated() {
    let caps = all_caps();
    for m in [
        AgentMessage::Clipboard(Clipboard {
            selection: selection::PRIMARY,
            clip_type: clip_type::FILE_LIST,
            data: b"copy\0/a\0".to_vec(),
        }),
        AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: selection::SECONDARY,
            serial: 0xdead_beef,
            types: vec![clip_type::IMAGE_JPG],
        }),
        AgentMessage::ClipboardRequest {
            selection: selection::PRIMARY,
            clip_type: clip_type::UTF8_TEXT,
        },
        AgentMessage::ClipboardRelease { selection: 200 },
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 1,
            result: XferResult::NotEnoughSpace(Some(1 << 40)),
        }),
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 2,
            result: XferResult::Error(Some(XferErrorDetail {
                error_type: xfer_error_type::GLIB_IO,
                code: 31,
            })),
        }),
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 3,
            result: XferResult::Error(None),
        }),
    ] {
        round_trip(&m, &caps);
    }
}

#[test]
fn every_known_type_has_a_sample_and_a_name() {
    let seen: Vec<u32> = samples().iter().map(AgentMessage::msg_type).collect();
    for t in 1..=16 {
        assert!(seen.contains(&t), "no sample for type {t}");
        assert_ne!(msg_type_name(t), "?");
    }
    assert_eq!(msg_type_name(17), "?");
}

#[test]
fn header_layout() {
    // ANNOUNCE_CAPABILITIES {request 1, caps [client caps]} as spice-gtk sends it.
    let m = AgentMessage::AnnounceCapabilities {
        request: true,
        caps: cap::client_caps(),
    };
    let bytes = m.to_bytes(&AgentCaps::new()).unwrap();
    #[rustfmt::skip]
    let want = [
        1, 0, 0, 0,  6, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,  8, 0, 0, 0, // header
        1, 0, 0, 0,  0x77, 0x50, 0x03, 0x00,                         // request, caps[0]
    ];
    assert_eq!(bytes, want);
    let header = AgentHeader::decode(want.first_chunk::<HEADER_SIZE>().unwrap());
    assert_eq!(
        header,
        AgentHeader {
            protocol: PROTOCOL,
            msg_type: msg_type::ANNOUNCE_CAPABILITIES,
            opaque: 0,
            size: 8
        }
    );
}

#[test]
fn fixed_size_vectors() {
    let none = AgentCaps::new();
    #[rustfmt::skip]
    vector(msg_type::MOUSE_STATE,
        &[0x80, 7, 0, 0,  0x38, 4, 0, 0,  0x0a, 0, 0, 0,  1],
        &none,
        AgentMessage::MouseState(MouseState { x: 1920, y: 1080, buttons: button::LEFT | button::RIGHT, display_id: 1 }),
    );
    vector(
        msg_type::REPLY,
        &[2, 0, 0, 0, 2, 0, 0, 0],
        &none,
        AgentMessage::Reply(Reply {
            msg_type: msg_type::MONITORS_CONFIG,
            error: reply_error::ERROR,
        }),
    );
    vector(
        msg_type::DISPLAY_CONFIG,
        &[7, 0, 0, 0, 0, 0, 0, 0],
        &none,
        AgentMessage::DisplayConfig(DisplayConfig { flags: 7, depth: 0 }),
    );
    vector(
        msg_type::MAX_CLIPBOARD,
        &[0, 0, 0x40, 6],
        &none,
        AgentMessage::MaxClipboard { max: 0x0640_0000 },
    );
    vector(
        msg_type::MAX_CLIPBOARD,
        &[0xff; 4],
        &none,
        AgentMessage::MaxClipboard { max: -1 },
    );
    vector(
        msg_type::CLIENT_DISCONNECTED,
        &[],
        &none,
        AgentMessage::ClientDisconnected,
    );
}

#[test]
fn monitors_config_vectors() {
    #[rustfmt::skip]
    let sparse = [
        2, 0, 0, 0,  1, 0, 0, 0,                                              // count 2, USE_POS
        0x38, 4, 0, 0,  0x80, 7, 0, 0,  32, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  // 1920x1080 (height first)
        0, 0, 0, 0,  0, 0, 0, 0,  32, 0, 0, 0,  0x80, 7, 0, 0,  0, 0, 0, 0,    // disabled head at x=1920
    ];
    let want = AgentMessage::MonitorsConfig(MonitorsConfig {
        flags: monitors_flag::USE_POS,
        monitors: vec![
            MonConfig {
                height: 1080,
                width: 1920,
                depth: 32,
                ..MonConfig::default()
            },
            MonConfig {
                depth: 32,
                x: 1920,
                ..MonConfig::default()
            },
        ],
    });
    vector(msg_type::MONITORS_CONFIG, &sparse, &AgentCaps::new(), want.clone());
    let AgentMessage::MonitorsConfig(cfg) = &want else {
        unreachable!()
    };
    assert!(!cfg.monitors[0].is_disabled() && cfg.monitors[1].is_disabled());

    #[rustfmt::skip]
    let physical = [
        1, 0, 0, 0,  3, 0, 0, 0,
        0, 3, 0, 0,  0, 4, 0, 0,  32, 0, 0, 0,  0xff, 0xff, 0xff, 0xff,  2, 0, 0, 0,
        0x2c, 1,  0x90, 1,                                                   // 300 mm high, 400 mm wide
    ];
    vector(
        msg_type::MONITORS_CONFIG,
        &physical,
        &AgentCaps::new(),
        AgentMessage::MonitorsConfig(MonitorsConfig {
            flags: 3,
            monitors: vec![MonConfig {
                height: 768,
                width: 1024,
                depth: 32,
                x: -1,
                y: 2,
                height_mm: 300,
                width_mm: 400,
            }],
        }),
    );
}

#[test]
fn clipboard_vectors_with_and_without_prefixes() {
    let none = AgentCaps::new();
    let sel = AgentCaps::from_bits(&[cap::CLIPBOARD_SELECTION]);
    let serial = AgentCaps::from_bits(&[cap::CLIPBOARD_GRAB_SERIAL]);
    let both = all_caps();
    let grab = |selection, serial| {
        AgentMessage::ClipboardGrab(ClipboardGrab {
            selection,
            serial,
            types: vec![1, 2],
        })
    };
    vector(msg_type::CLIPBOARD_GRAB, &[1, 0, 0, 0, 2, 0, 0, 0], &none, grab(0, 0));
    vector(
        msg_type::CLIPBOARD_GRAB,
        &[1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0],
        &sel,
        grab(1, 0),
    );
    vector(
        msg_type::CLIPBOARD_GRAB,
        &[9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0],
        &serial,
        grab(0, 9),
    );
    #[rustfmt::skip]
    vector(msg_type::CLIPBOARD_GRAB, &[1, 0, 0, 0,  5, 0, 0, 0,  1, 0, 0, 0,  2, 0, 0, 0], &both, grab(1, 5));
    // Reserved bytes are ignored when read and written as zero.
    assert_eq!(
        AgentMessage::decode(
            msg_type::CLIPBOARD_GRAB,
            &[1, 0xaa, 0xbb, 0xcc, 1, 0, 0, 0, 2, 0, 0, 0],
            &sel
        ),
        Ok(grab(1, 0))
    );

    vector(
        msg_type::CLIPBOARD_REQUEST,
        &[1, 0, 0, 0, 2, 0, 0, 0],
        &sel,
        AgentMessage::ClipboardRequest {
            selection: 1,
            clip_type: 2,
        },
    );
    vector(
        msg_type::CLIPBOARD_RELEASE,
        &[2, 0, 0, 0],
        &both,
        AgentMessage::ClipboardRelease { selection: 2 },
    );
    vector(
        msg_type::CLIPBOARD_RELEASE,
        &[],
        &none,
        AgentMessage::ClipboardRelease { selection: 0 },
    );
    vector(
        msg_type::CLIPBOARD,
        &[0, 0, 0, 0, 1, 0, 0, 0, b'h', b'i'],
        &sel,
        AgentMessage::Clipboard(Clipboard {
            selection: 0,
            clip_type: 1,
            data: b"hi".to_vec(),
        }),
    );
    vector(
        msg_type::CLIPBOARD,
        &[1, 0, 0, 0, b'h', b'i'],
        &none,
        AgentMessage::Clipboard(Clipboard {
            selection: 0,
            clip_type: 1,
            data: b"hi".to_vec(),
        }),
    );
}

#[test]
fn file_xfer_vectors() {
    let mut start = vec![5, 0, 0, 0];
    start.extend_from_slice(b"[vdagent-file-xfer]\nname=a b.txt\nsize=1234\n\0");
    vector(
        msg_type::FILE_XFER_START,
        &start,
        &AgentCaps::new(),
        AgentMessage::FileXferStart(FileXferStart {
            id: 5,
            name: "a b.txt".to_owned(),
            size: 1234,
        }),
    );

    let detailed = AgentCaps::from_bits(&[cap::FILE_XFER_DETAILED_ERRORS]);
    #[rustfmt::skip]
    let nes = [5, 0, 0, 0,  4, 0, 0, 0,  0, 0x10, 0, 0, 0, 0, 0, 0];
    vector(
        msg_type::FILE_XFER_STATUS,
        &nes,
        &detailed,
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 5,
            result: XferResult::NotEnoughSpace(Some(4096)),
        }),
    );
    // Without the capability the detail is not part of the message.
    assert_eq!(
        AgentMessage::decode(msg_type::FILE_XFER_STATUS, &nes, &AgentCaps::new()),
        Ok(AgentMessage::FileXferStatus(FileXferStatus {
            id: 5,
            result: XferResult::NotEnoughSpace(None)
        }))
    );
    #[rustfmt::skip]
    vector(
        msg_type::FILE_XFER_STATUS,
        &[5, 0, 0, 0,  2, 0, 0, 0,  0,  15, 0, 0, 0],
        &detailed,
        AgentMessage::FileXferStatus(FileXferStatus {
            id: 5,
            result: XferResult::Error(Some(XferErrorDetail { error_type: 0, code: 15 })),
        }),
    );
    // A detail too short to hold its structure is no detail.
    assert_eq!(
        AgentMessage::decode(msg_type::FILE_XFER_STATUS, &[5, 0, 0, 0, 2, 0, 0, 0, 0, 15], &detailed),
        Ok(AgentMessage::FileXferStatus(FileXferStatus {
            id: 5,
            result: XferResult::Error(None)
        }))
    );
    for (code, result) in [
        (xfer_status::CANCELLED, XferResult::Cancelled),
        (xfer_status::SUCCESS, XferResult::Success),
        (xfer_status::SESSION_LOCKED, XferResult::SessionLocked),
        (xfer_status::VDAGENT_NOT_CONNECTED, XferResult::AgentNotConnected),
        (xfer_status::DISABLED, XferResult::Disabled),
    ] {
        let mut b = vec![1, 0, 0, 0];
        b.extend_from_slice(&code.to_le_bytes());
        vector(
            msg_type::FILE_XFER_STATUS,
            &b,
            &detailed,
            AgentMessage::FileXferStatus(FileXferStatus { id: 1, result }),
        );
        assert_eq!(result.code(), code);
    }

    #[rustfmt::skip]
    vector(
        msg_type::FILE_XFER_DATA,
        &[5, 0, 0, 0,  3, 0, 0, 0, 0, 0, 0, 0,  b'a', b'b', b'c'],
        &AgentCaps::new(),
        AgentMessage::FileXferData(FileXferData { id: 5, data: b"abc".to_vec() }),
    );
}

#[test]
fn other_variable_vectors() {
    #[rustfmt::skip]
    vector(
        msg_type::AUDIO_VOLUME_SYNC,
        &[1, 1, 2,  0x34, 0x12,  0xff, 0xff],
        &AgentCaps::new(),
        AgentMessage::AudioVolumeSync(AudioVolumeSync { is_playback: true, mute: true, volumes: vec![0x1234, 0xffff] }),
    );
    #[rustfmt::skip]
    vector(
        msg_type::GRAPHICS_DEVICE_INFO,
        &[1, 0, 0, 0,  0, 0, 0, 0,  1, 0, 0, 0,  2, 0, 0, 0,  4, 0, 0, 0,  b'p', b'c', b'i', 0],
        &AgentCaps::new(),
        AgentMessage::GraphicsDeviceInfo(vec![DeviceDisplayInfo {
            channel_id: 0,
            monitor_id: 1,
            device_display_id: 2,
            device_address: "pci".to_owned(),
        }]),
    );
    vector(
        msg_type::ANNOUNCE_CAPABILITIES,
        &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x80],
        &AgentCaps::new(),
        AgentMessage::AnnounceCapabilities {
            request: false,
            caps: AgentCaps::from_bits(&[0, 63]),
        },
    );
}

#[test]
fn lenient_reads_match_spice_common() {
    let none = AgentCaps::new();
    // Bytes after counted elements are ignored.
    let m = AgentMessage::decode(msg_type::AUDIO_VOLUME_SYNC, &[0, 0, 1, 5, 0, 9, 9, 9], &none).unwrap();
    assert_eq!(
        m,
        AgentMessage::AudioVolumeSync(AudioVolumeSync {
            is_playback: false,
            mute: false,
            volumes: vec![5]
        })
    );
    let m = AgentMessage::decode(msg_type::MONITORS_CONFIG, &[0, 0, 0, 0, 0, 0, 0, 0, 1, 2], &none).unwrap();
    assert_eq!(m, AgentMessage::MonitorsConfig(MonitorsConfig::default()));
    // The address ends at its first NUL; the rest of its declared length is skipped.
    let mut gdi = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0];
    gdi.extend_from_slice(b"ab\0cd");
    let AgentMessage::GraphicsDeviceInfo(infos) = AgentMessage::decode(16, &gdi, &none).unwrap() else {
        panic!()
    };
    assert_eq!(infos[0].device_address, "ab");
    // Non-zero booleans and request flags read as true.
    let m = AgentMessage::decode(msg_type::ANNOUNCE_CAPABILITIES, &[7, 0, 0, 0], &none).unwrap();
    assert_eq!(
        m,
        AgentMessage::AnnounceCapabilities {
            request: true,
            caps: AgentCaps::new()
        }
    );
}

#[test]
fn hostile_bodies_are_errors() {
    let none = AgentCaps::new();
    let sel = AgentCaps::from_bits(&[cap::CLIPBOARD_SELECTION]);
    let cases: &[(u32, &[u8], &AgentCaps)] = &[
        (msg_type::MOUSE_STATE, &[0; 12], &none),
        (msg_type::MOUSE_STATE, &[0; 14], &none),
        (msg_type::REPLY, &[0; 9], &none),
        (msg_type::DISPLAY_CONFIG, &[0; 4], &none),
        (msg_type::MAX_CLIPBOARD, &[0; 5], &none),
        (msg_type::CLIENT_DISCONNECTED, &[0], &none),
        // counts that the bytes cannot hold: refused before allocating
        (msg_type::MONITORS_CONFIG, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], &none),
        (
            msg_type::MONITORS_CONFIG,
            &[
                1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            &none,
        ),
        (msg_type::MONITORS_CONFIG, &[1, 0, 0], &none),
        (msg_type::GRAPHICS_DEVICE_INFO, &[0xff, 0xff, 0xff, 0xff], &none),
        (
            msg_type::GRAPHICS_DEVICE_INFO,
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &none,
        ),
        (
            msg_type::GRAPHICS_DEVICE_INFO,
            &[
                1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0,
            ],
            &none,
        ),
        (msg_type::AUDIO_VOLUME_SYNC, &[1, 0, 255, 1, 2], &none),
        (msg_type::AUDIO_VOLUME_SYNC, &[1, 0], &none),
        // arrays given by the size must be whole words
        (msg_type::ANNOUNCE_CAPABILITIES, &[0, 0, 0, 0, 1], &none),
        (msg_type::ANNOUNCE_CAPABILITIES, &[0, 0], &none),
        (msg_type::CLIPBOARD_GRAB, &[1, 0, 0], &none),
        (msg_type::CLIPBOARD_GRAB, &[0, 0, 0], &sel),
        (msg_type::CLIPBOARD_REQUEST, &[1, 0, 0, 0], &sel),
        (msg_type::CLIPBOARD_REQUEST, &[1, 0, 0, 0, 0], &none),
        (msg_type::CLIPBOARD_RELEASE, &[0], &none),
        (msg_type::CLIPBOARD_RELEASE, &[0, 0], &sel),
        (msg_type::CLIPBOARD, &[1, 0, 0, 0], &sel),
        (msg_type::CLIPBOARD, &[1, 0], &none),
        (msg_type::FILE_XFER_STATUS, &[1, 0, 0, 0, 0, 0], &none),
        // FILE_XFER_DATA size must be the rest of the message
        (
            msg_type::FILE_XFER_DATA,
            &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0],
            &none,
        ),
        (
            msg_type::FILE_XFER_DATA,
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &none,
        ),
        (msg_type::FILE_XFER_DATA, &[1, 0, 0, 0, 1, 0, 0, 0], &none),
        (msg_type::FILE_XFER_START, &[1, 0], &none),
    ];
    for (ty, body, caps) in cases {
        assert!(
            AgentMessage::decode(*ty, body, caps).is_err(),
            "type {ty} accepted {body:02x?}"
        );
        let raw = RawAgentMessage {
            msg_type: *ty,
            opaque: 0,
            data: body.to_vec(),
        };
        assert!(
            raw.into_message(caps).is_err(),
            "type {ty} (owned) accepted {body:02x?}"
        );
    }
}

#[test]
fn key_file_start() {
    let none = AgentCaps::new();
    let decode = |text: &[u8]| {
        let mut b = vec![9, 0, 0, 0];
        b.extend_from_slice(text);
        AgentMessage::decode(msg_type::FILE_XFER_START, &b, &none)
    };
    let want = |name: &str, size| {
        Ok(AgentMessage::FileXferStart(FileXferStart {
            id: 9,
            name: name.to_owned(),
            size,
        }))
    };
    // Comments, other groups and keys, CR LF, spaces around '=', no terminator.
    let text = b"# c\n[other]\nname=wrong\n[vdagent-file-xfer]\r\nsize = 10\r\nmode=1\nname =  \\sx\\ty\\q\\\n";
    assert_eq!(decode(text), want(" x\ty\\q\\", 10));
    // The text ends at the first NUL.
    assert_eq!(decode(b"[vdagent-file-xfer]\nname=a\nsize=1\n\0size=2\n"), want("a", 1));
    for bad in [
        &b"[vdagent-file-xfer]\nsize=1\n"[..],
        b"[vdagent-file-xfer]\nname=a\n",
        b"[vdagent-file-xfer]\nname=a\nsize=-1\n",
        b"[vdagent-file-xfer]\nname=a\nsize=18446744073709551616\n",
        b"name=a\nsize=1\n",
        b"[vdagent-file-xfer]\nname=\xff\nsize=1\n",
    ] {
        assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    for name in ["", " ", "  a  ", "\\", "\\\\s", "\n\r\t", "ü é/名前", "a=b[c]#d"] {
        assert_eq!(unescape_value(&escape_value(name)), name);
    }
    assert_eq!(escape_value(" a b\\"), "\\sa b\\\\");
}

#[test]
fn encoding_refuses_what_the_wire_cannot_carry() {
    let none = AgentCaps::new();
    let primary = AgentMessage::ClipboardRelease {
        selection: selection::PRIMARY,
    };
    assert!(matches!(
        primary.encode_body(&none),
        Err(EncodeError::SelectionWithoutCap { selection: 1, .. })
    ));
    let too_many = AgentMessage::AudioVolumeSync(AudioVolumeSync {
        is_playback: true,
        mute: false,
        volumes: vec![0; 256],
    });
    assert!(matches!(
        too_many.encode_body(&none),
        Err(EncodeError::TooLong { len: 256, .. })
    ));
    let nul_name = AgentMessage::FileXferStart(FileXferStart {
        id: 1,
        name: "a\0b".to_owned(),
        size: 1,
    });
    assert!(matches!(
        nul_name.encode_body(&none),
        Err(EncodeError::InteriorNul { .. })
    ));
    let nul_addr = AgentMessage::GraphicsDeviceInfo(vec![DeviceDisplayInfo {
        device_address: "a\0".to_owned(),
        ..DeviceDisplayInfo::default()
    }]);
    assert!(matches!(
        nul_addr.encode_body(&none),
        Err(EncodeError::InteriorNul { .. })
    ));
    // Without the capabilities the serial and details are simply not sent.
    let grab = AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: 0,
        serial: 5,
        types: vec![1],
    });
    assert_eq!(grab.encode_body(&none), Ok(vec![1, 0, 0, 0]));
    let status = AgentMessage::FileXferStatus(FileXferStatus {
        id: 1,
        result: XferResult::NotEnoughSpace(Some(9)),
    });
    assert_eq!(status.encode_body(&none), Ok(vec![1, 0, 0, 0, 4, 0, 0, 0]));
}

#[test]
fn file_list_payloads() {
    let list = FileList {
        action: FileListAction::Cut,
        paths: vec!["/.spice-clipboard/x/a.txt".to_owned(), String::new()],
    };
    let bytes = list.encode().unwrap();
    assert_eq!(bytes, b"cut\0/.spice-clipboard/x/a.txt\0\0");
    assert_eq!(FileList::decode(&bytes), Ok(list));
    // The terminator after the last item is optional.
    assert_eq!(
        FileList::decode(b"copy\0/a\0/b"),
        Ok(FileList {
            action: FileListAction::Copy,
            paths: vec!["/a".to_owned(), "/b".to_owned()]
        })
    );
    assert_eq!(
        FileList::decode(b"copy"),
        Ok(FileList {
            action: FileListAction::Copy,
            paths: vec![]
        })
    );
    for bad in [&b""[..], b"\0", b"move\0/a\0", b"copy\0\xff\0"] {
        assert!(FileList::decode(bad).is_err(), "{bad:?}");
    }
    let nul = FileList {
        action: FileListAction::Copy,
        paths: vec!["a\0b".to_owned()],
    };
    assert!(nul.encode().is_err());
}

#[test]
fn clipboard_names_mime_and_line_ends() {
    assert_eq!(clipboard::type_name(clip_type::FILE_LIST), "FILE_LIST");
    assert_eq!(clipboard::type_name(77), "?");
    assert_eq!(clipboard::selection_name(selection::PRIMARY), "PRIMARY");
    for t in [
        clip_type::UTF8_TEXT,
        clip_type::IMAGE_PNG,
        clip_type::IMAGE_BMP,
        clip_type::IMAGE_TIFF,
        clip_type::IMAGE_JPG,
    ] {
        let mime = clipboard::mime_type(t).unwrap();
        assert_eq!(clipboard::type_for_mime(mime), Some(t));
    }
    assert_eq!(clipboard::mime_type(clip_type::FILE_LIST), None);
    assert_eq!(clipboard::type_for_mime("UTF8_STRING"), Some(clip_type::UTF8_TEXT));
    assert_eq!(clipboard::type_for_mime("text/html"), None);

    let crlf = AgentCaps::from_bits(&[cap::GUEST_LINEEND_CRLF]);
    let lf = AgentCaps::from_bits(&[cap::GUEST_LINEEND_LF]);
    assert_eq!(LineEnd::of_guest(&crlf), Some(LineEnd::CrLf));
    assert_eq!(LineEnd::of_guest(&lf), Some(LineEnd::Lf));
    assert_eq!(LineEnd::of_guest(&AgentCaps::new()), None);
    let to = text_to_guest("a\nb\r\nc\n", LineEnd::of_guest(&crlf));
    assert_eq!(to, "a\r\nb\r\nc\r\n");
    assert_eq!(text_from_guest(&to, Some(LineEnd::CrLf)), "a\nb\nc\n");
    assert_eq!(text_from_guest("a\rb\r\n", Some(LineEnd::CrLf)), "a\rb\n");
    assert_eq!(text_to_guest("a\n", Some(LineEnd::Lf)), "a\n");
    assert_eq!(text_from_guest("a\r\n", None), "a\r\n");
}
