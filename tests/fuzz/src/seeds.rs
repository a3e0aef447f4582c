//! Seed inputs for the fuzz targets, built with Sumac's own encoders.
//!
//! Names tell what a seed exercises: `seed-*` inputs are valid and must be accepted by their
//! oracle, `hostile-*` inputs (hostile-inputs rows 3, 4, 8, 10, 12, 13) must be rejected, and
//! `client-*` inputs (valid client-to-server main messages) are judged by the server-direction
//! verdict of `main_messages`, so only "no panic" is expected of them. Written to
//! `tests/fuzz/corpus/<target>/` by the ignored test `fuzz_regression::write_seed_corpus`.

use std::io;
use std::path::Path;

use sumac::proto::base::{ClientBase, ServerBase, WaitForChannel};
use sumac::proto::caps::{self, Caps};
use sumac::proto::channel::display::{
    self as display, Bitmap, Brush, Clip, CopyOp, DisplayBase, DisplayClient, DisplayInit, DisplayServer, FillOp, Head,
    Image, ImageDescriptor, ImageKind, Palette, PaletteRef, Point, QMask, Rect, ResourceId, StreamReport,
    SurfaceCreate,
};
use sumac::proto::channel::main::{ChannelId, MainClient, MainInit, MainServer, MigrationDst};
use sumac::proto::consts::{ChannelType, LinkErr, SPICE_TICKET_PUBKEY_BYTES, msg};
use sumac::proto::frame::{DataHeader, HeaderKind, build_sub_list, encode_message};
use sumac::proto::link::{LinkHeader, LinkMess, LinkReply};
use sumac::proto::{Message, WriteCursor};

/// One seed input of one target.
#[derive(Debug, Clone)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Seed {
    fn new(target: &'static str, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            target,
            name: name.into(),
            bytes,
        }
    }

    /// Whether the oracle must accept (`seed-*`) or reject (`hostile-*`) it; `None` for other names.
    pub fn expect_accepted(name: &str) -> Option<bool> {
        if name.starts_with("seed-") {
            Some(true)
        } else if name.starts_with("hostile-") {
            Some(false)
        } else {
            None
        }
    }
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = link_reply();
    out.extend(link_mess());
    out.extend(framing());
    out.extend(main_messages());
    out.extend(display_messages());
    out.extend(super::vdagent::seeds());
    out.extend(super::agent_machine::seeds());
    out
}

/// Writes every seed to `dir/<target>/<name>`; returns how many files were written.
pub fn write_corpus(dir: &Path) -> io::Result<usize> {
    let seeds = all();
    for s in &seeds {
        let d = dir.join(s.target);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join(&s.name), &s.bytes)?;
    }
    Ok(seeds.len())
}

fn pub_key() -> [u8; SPICE_TICKET_PUBKEY_BYTES] {
    let mut key = [0u8; SPICE_TICKET_PUBKEY_BYTES];
    key.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i as u8).wrapping_mul(7));
    key
}

fn client_common_caps() -> Vec<u32> {
    vec![
        caps::common::PROTOCOL_AUTH_SELECTION,
        caps::common::AUTH_SPICE,
        caps::common::MINI_HEADER,
    ]
}

fn link_reply() -> Vec<Seed> {
    let t = "link_reply";
    let ok = LinkReply {
        error: LinkErr::Ok,
        pub_key: pub_key(),
        caps: Caps::new(
            &client_common_caps(),
            &[
                caps::main::SEMI_SEAMLESS_MIGRATE,
                caps::main::NAME_AND_UUID,
                caps::main::AGENT_CONNECTED_TOKENS,
                caps::main::SEAMLESS_MIGRATE,
            ],
        ),
    }
    .encode_with_header();
    let no_caps = LinkReply {
        error: LinkErr::Ok,
        pub_key: pub_key(),
        caps: Caps::default(),
    }
    .encode_with_header();
    let need_secured = LinkReply {
        error: LinkErr::NeedSecured,
        pub_key: [0; SPICE_TICKET_PUBKEY_BYTES],
        caps: Caps::default(),
    }
    .encode_with_header();
    let many_caps = LinkReply {
        error: LinkErr::Ok,
        pub_key: pub_key(),
        caps: Caps::new(&[0, 31, 32, 95], &[0, 40, 200]),
    }
    .encode_with_header();

    // An error reply that stops after the error word.
    let mut short_error = WriteCursor::new();
    LinkHeader::new(4).encode(&mut short_error);
    short_error.write_u32(LinkErr::PermissionDenied.to_u32());

    // Row 3: size 0xFFFFFFFF, and a size smaller than the error word.
    let mut huge = ok.clone();
    patch_u32(&mut huge, 12, u32::MAX);
    let mut tiny = ok.clone();
    patch_u32(&mut tiny, 12, 2);
    // Row 4: caps_offset past the reply; caps counts whose `count * 4` wraps in 32 bits.
    let counts = LinkHeader::SIZE + 4 + SPICE_TICKET_PUBKEY_BYTES;
    let mut caps_outside = ok.clone();
    patch_u32(&mut caps_outside, counts + 8, 5000);
    let mut caps_wrap = ok.clone();
    patch_u32(&mut caps_wrap, counts, 0x4000_0001);
    patch_u32(&mut caps_wrap, counts + 4, 0x4000_0000);
    // Truncated: the header announces more than follows.
    let truncated = ok.get(..ok.len() - 3).unwrap_or_default().to_vec();

    vec![
        Seed::new(t, "seed-ok-with-main-caps", ok),
        Seed::new(t, "seed-ok-no-caps", no_caps),
        Seed::new(t, "seed-ok-multiword-caps", many_caps),
        Seed::new(t, "seed-need-secured-full", need_secured),
        Seed::new(t, "seed-permission-denied-short", short_error.into_inner()),
        Seed::new(t, "hostile-size-ffffffff", huge),
        Seed::new(t, "hostile-size-below-min", tiny),
        Seed::new(t, "hostile-caps-offset-outside", caps_outside),
        Seed::new(t, "hostile-caps-count-wraps", caps_wrap),
        Seed::new(t, "hostile-truncated-body", truncated),
    ]
}

fn link_mess() -> Vec<Seed> {
    let t = "link_mess";
    let main = LinkMess {
        connection_id: 0,
        channel_type: ChannelType::MAIN,
        channel_id: 0,
        caps: Caps::new(&client_common_caps(), &[caps::main::AGENT_CONNECTED_TOKENS]),
    }
    .encode_with_header();
    let display = LinkMess {
        connection_id: 0x1234_5678,
        channel_type: ChannelType::DISPLAY,
        channel_id: 1,
        caps: Caps::new(
            &client_common_caps(),
            &[
                caps::display::SIZED_STREAM,
                caps::display::MONITORS_CONFIG,
                caps::display::LZ4_COMPRESSION,
                caps::display::MULTI_CODEC,
                caps::display::CODEC_MJPEG,
            ],
        ),
    }
    .encode_with_header();
    let no_caps = LinkMess {
        connection_id: 7,
        channel_type: ChannelType::INPUTS,
        channel_id: 0,
        caps: Caps::default(),
    }
    .encode_with_header();

    let counts = LinkHeader::SIZE + 6;
    let mut caps_outside = main.clone();
    patch_u32(&mut caps_outside, counts + 8, 0xFFFF_FFF0);
    let mut caps_huge = main.clone();
    patch_u32(&mut caps_huge, counts, u32::MAX);
    let mut bad_magic = main.clone();
    patch_u32(&mut bad_magic, 0, u32::from_le_bytes(*b"REDX"));

    vec![
        Seed::new(t, "seed-main-channel", main),
        Seed::new(t, "seed-display-channel-1", display),
        Seed::new(t, "seed-inputs-no-caps", no_caps),
        Seed::new(t, "hostile-caps-offset-outside", caps_outside),
        Seed::new(t, "hostile-caps-count-huge", caps_huge),
        Seed::new(t, "hostile-bad-magic", bad_magic),
    ]
}

/// A full-header message whose body carries a sub-message list.
fn full_with_sub_list(serial: u64, msg_type: u16, main_body: &[u8], subs: &[(u16, &[u8])]) -> Vec<u8> {
    let (body, sub_list) = build_sub_list(main_body, subs);
    let mut w = WriteCursor::new();
    DataHeader {
        serial,
        msg_type,
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
        sub_list,
    }
    .encode(HeaderKind::Full, &mut w);
    w.write_slice(&body);
    w.into_inner()
}

fn framed(selector: u8, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![selector];
    messages.iter().for_each(|m| out.extend_from_slice(m));
    out
}

fn framing() -> Vec<Seed> {
    let t = "framing";
    const MINI: u8 = 0;
    const FULL: u8 = 1;
    let init = MainServer::Init(sample_init());
    let list = MainServer::ChannelsList(sample_channels());
    let set_ack = MainServer::Base(ServerBase::SetAck {
        generation: 1,
        window: 20,
    });
    let ping = MainServer::Base(ServerBase::Ping {
        id: 1,
        timestamp: 1_000_000,
        data: vec![0xAA; 16],
    });
    let name = MainServer::Name(b"vm-seed".to_vec());
    let mini = |m: &MainServer| encode_message(HeaderKind::Mini, 0, m.msg_type(), &m.to_body());
    let full = |serial: u64, m: &MainServer| encode_message(HeaderKind::Full, serial, m.msg_type(), &m.to_body());

    let (init_body, ack_body, ping_body) = (init.to_body(), set_ack.to_body(), ping.to_body());
    let subs: [(u16, &[u8]); 3] = [
        (set_ack.msg_type(), &ack_body),
        (ping.msg_type(), &ping_body),
        (init.msg_type(), &init_body),
    ];
    let list_msg = full_with_sub_list(3, msg::LIST, &[], &subs);
    let agent_data = MainServer::AgentData(vec![1, 2, 3, 4]).to_body();
    let parent_and_subs = full_with_sub_list(4, 109, &agent_data, &subs[..1]);

    // Row 10: the list offset outside the body, an entry outside, a nested list, a count
    // larger than the offsets present. Row 8 at a small scale: size above the cap.
    let mut list_outside = list_msg.clone();
    patch_u32(&mut list_outside, 14, 0xFFFF);
    let list_at = list_msg.len() - (2 + 3 * 4); // count + 3 offsets end the body
    let mut entry_outside = list_msg.clone();
    patch_u32(&mut entry_outside, list_at + 2, 0x7FFF_FFFF);
    let mut count_too_big = list_msg.clone();
    patch_u16(&mut count_too_big, list_at, 200);
    let nested = full_with_sub_list(5, msg::LIST, &[], &[(msg::LIST, &[])]);
    let mut too_large = mini(&init);
    patch_u32(&mut too_large, 2, 0xFFFF_FFFF);
    let mut truncated = mini(&name);
    truncated.pop();

    vec![
        Seed::new(t, "seed-mini-init", framed(MINI, &[mini(&init)])),
        Seed::new(
            t,
            "seed-mini-stream-init-list-name",
            framed(MINI, &[mini(&init), mini(&list), mini(&name)]),
        ),
        Seed::new(
            t,
            "seed-full-set-ack-ping",
            framed(FULL, &[full(1, &set_ack), full(2, &ping)]),
        ),
        Seed::new(
            t,
            "seed-full-list-3-subs",
            framed(FULL, std::slice::from_ref(&list_msg)),
        ),
        Seed::new(t, "seed-full-agent-data-with-sub", framed(FULL, &[parent_and_subs])),
        Seed::new(t, "hostile-full-sub-list-offset-outside", framed(FULL, &[list_outside])),
        Seed::new(t, "hostile-full-sub-entry-outside", framed(FULL, &[entry_outside])),
        Seed::new(t, "hostile-full-sub-count-too-big", framed(FULL, &[count_too_big])),
        Seed::new(t, "hostile-full-nested-list", framed(FULL, &[nested])),
        Seed::new(t, "hostile-mini-size-ffffffff", framed(MINI, &[too_large])),
        Seed::new(t, "hostile-mini-truncated-body", framed(MINI, &[truncated])),
    ]
}

fn sample_init() -> MainInit {
    MainInit {
        session_id: 0x5eed,
        display_channels_hint: 1,
        supported_mouse_modes: 3,
        current_mouse_mode: 2,
        agent_connected: 1,
        agent_tokens: 10,
        multi_media_time: 123_456,
        ram_hint: 0x1000_0000,
    }
}

fn sample_channels() -> Vec<ChannelId> {
    [(1, 0), (2, 0), (3, 0), (4, 0), (2, 1)]
        .into_iter()
        .map(|(channel_type, id)| ChannelId { channel_type, id })
        .collect()
}

fn typed<M: Message>(m: &M) -> Vec<u8> {
    let mut out = m.msg_type().to_le_bytes().to_vec();
    out.extend_from_slice(&m.to_body());
    out
}

/// A migration destination as spice-server describes it (DstInfo).
fn sample_dst(subject: Option<&str>) -> MigrationDst {
    MigrationDst {
        port: 5930,
        sport: 5931,
        host: b"127.0.0.1".to_vec(),
        cert_subject: subject.map(|s| s.as_bytes().to_vec()),
    }
}

fn main_messages() -> Vec<Seed> {
    let t = "main_messages";
    let server = [
        ("migrate", MainServer::Base(ServerBase::Migrate { flags: 3 })),
        ("migrate-data", MainServer::Base(ServerBase::MigrateData(vec![1, 2, 3]))),
        (
            "set-ack",
            MainServer::Base(ServerBase::SetAck {
                generation: 1,
                window: 20,
            }),
        ),
        (
            "ping",
            MainServer::Base(ServerBase::Ping {
                id: 9,
                timestamp: 77,
                data: vec![0x55; 32],
            }),
        ),
        (
            "wait-for-channels",
            MainServer::Base(ServerBase::WaitForChannels(vec![
                WaitForChannel {
                    channel_type: 2,
                    channel_id: 0,
                    message_serial: 42,
                },
                WaitForChannel {
                    channel_type: 3,
                    channel_id: 0,
                    message_serial: 7,
                },
            ])),
        ),
        (
            "disconnecting",
            MainServer::Base(ServerBase::Disconnecting {
                time_stamp: 5,
                reason: 1,
            }),
        ),
        (
            "notify",
            MainServer::Base(ServerBase::Notify {
                time_stamp: 1,
                severity: 2,
                visibility: 1,
                what: 3,
                message: b"hello from the server".to_vec(),
            }),
        ),
        ("list", MainServer::Base(ServerBase::List)),
        (
            "migrate-begin",
            MainServer::MigrateBegin(sample_dst(Some("C=XX,O=Test,CN=dst"))),
        ),
        ("migrate-cancel", MainServer::MigrateCancel),
        ("init", MainServer::Init(sample_init())),
        ("channels-list", MainServer::ChannelsList(sample_channels())),
        (
            "mouse-mode",
            MainServer::MouseMode {
                supported: 3,
                current: 2,
            },
        ),
        ("multi-media-time", MainServer::MultiMediaTime { time: 999 }),
        ("agent-connected", MainServer::AgentConnected),
        ("agent-disconnected", MainServer::AgentDisconnected { error_code: 1 }),
        ("agent-data", MainServer::AgentData(vec![1, 0, 0, 0, 2, 0, 0, 0])),
        ("agent-token", MainServer::AgentToken { num_tokens: 10 }),
        ("migrate-switch-host", MainServer::MigrateSwitchHost(sample_dst(None))),
        ("migrate-end", MainServer::MigrateEnd),
        ("name", MainServer::Name(b"seed vm".to_vec())),
        ("name-4095", MainServer::Name(vec![b'n'; 4095])),
        ("uuid", MainServer::Uuid(*b"0123456789abcdef")),
        (
            "agent-connected-tokens",
            MainServer::AgentConnectedTokens { num_tokens: 4 },
        ),
        (
            "migrate-begin-seamless",
            MainServer::MigrateBeginSeamless {
                dst: sample_dst(None),
                src_mig_version: 1,
            },
        ),
        ("migrate-dst-seamless-ack", MainServer::MigrateDstSeamlessAck),
        ("migrate-dst-seamless-nack", MainServer::MigrateDstSeamlessNack),
        (
            "unknown-200",
            MainServer::Unknown {
                msg_type: 200,
                data: vec![1, 2],
            },
        ),
    ];
    let client = [
        ("ack-sync", MainClient::Base(ClientBase::AckSync { generation: 1 })),
        ("ack", MainClient::Base(ClientBase::Ack)),
        ("pong", MainClient::Base(ClientBase::Pong { id: 9, timestamp: 77 })),
        ("migrate-flush-mark", MainClient::Base(ClientBase::MigrateFlushMark)),
        ("migrate-data", MainClient::Base(ClientBase::MigrateData(vec![4, 5]))),
        (
            "disconnecting",
            MainClient::Base(ClientBase::Disconnecting {
                time_stamp: 1,
                reason: 2,
            }),
        ),
        ("info", MainClient::ClientInfo { cache_size: 1 << 26 }),
        ("migrate-connected", MainClient::MigrateConnected),
        ("migrate-connect-error", MainClient::MigrateConnectError),
        ("attach-channels", MainClient::AttachChannels),
        ("mouse-mode-request", MainClient::MouseModeRequest { mode: 2 }),
        ("agent-start", MainClient::AgentStart { num_tokens: 10 }),
        ("agent-data", MainClient::AgentData(vec![9, 9])),
        ("agent-token", MainClient::AgentToken { num_tokens: 1 }),
        ("migrate-end", MainClient::MigrateEnd),
        (
            "migrate-dst-do-seamless",
            MainClient::MigrateDstDoSeamless { src_version: 1 },
        ),
        ("migrate-connected-seamless", MainClient::MigrateConnectedSeamless),
        ("quality-indicator", MainClient::QualityIndicator(vec![3])),
    ];
    let mut out: Vec<Seed> = server
        .iter()
        .map(|(name, m)| Seed::new(t, format!("seed-server-{name}"), typed(m)))
        .chain(
            client
                .iter()
                .map(|(name, m)| Seed::new(t, format!("client-{name}"), typed(m))),
        )
        .collect();

    // Row 12 (CVE-2017-12194): CHANNELS_LIST count 0x80000002 with two entries.
    let mut channels = 104u16.to_le_bytes().to_vec();
    channels.extend_from_slice(&0x8000_0002u32.to_le_bytes());
    channels.extend_from_slice(&[2, 0, 3, 0]);
    // Row 13: length fields far beyond the body.
    let mut notify = typed(&MainServer::Base(ServerBase::Notify {
        time_stamp: 1,
        severity: 0,
        visibility: 0,
        what: 0,
        message: Vec::new(),
    }));
    patch_u32(&mut notify, 2 + 20, 0xFFFF_FFFF);
    let mut name = 113u16.to_le_bytes().to_vec();
    name.extend_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    let mut wait = typed(&MainServer::Base(ServerBase::WaitForChannels(Vec::new())));
    wait[2] = 0xFF;
    out.extend([
        Seed::new(t, "hostile-channels-list-count-80000002", channels),
        Seed::new(t, "hostile-notify-len-ffffffff", notify),
        Seed::new(t, "hostile-name-len-ffffffff", name),
        Seed::new(t, "hostile-wait-for-channels-count-255-empty", wait),
        Seed::new(t, "hostile-unknown-base-type-50", 50u16.to_le_bytes().to_vec()),
    ]);
    out
}

fn descriptor(image_type: u8, width: u32, height: u32) -> ImageDescriptor {
    ImageDescriptor {
        id: 0x1000 + u64::from(image_type),
        image_type,
        flags: 0,
        width,
        height,
    }
}

fn bitmap(palette: PaletteRef, format: u8, flags: u8) -> Image {
    Image {
        descriptor: descriptor(display::image_type::BITMAP, 4, 2),
        kind: ImageKind::Bitmap(Bitmap {
            format,
            flags,
            width: 4,
            height: 2,
            stride: 16,
            palette,
            data: (0..32).collect(),
        }),
    }
}

fn palette() -> Palette {
    Palette {
        unique: 77,
        entries: vec![0x00ff_0000, 0x0000_ff00, 0x0000_00ff, 0x00ff_ffff],
    }
}

fn draw_base(clip: Clip) -> DisplayBase {
    DisplayBase {
        surface_id: 0,
        bbox: Rect::ltrb(10, 20, 14, 22),
        clip,
    }
}

fn draw_copy(src: Image, mask: Option<Image>) -> DisplayServer {
    DisplayServer::DrawCopy {
        base: draw_base(Clip::None),
        copy: CopyOp {
            src_bitmap: Some(src),
            src_area: Rect::ltrb(0, 0, 4, 2),
            rop_descriptor: display::ropd::OP_PUT,
            scale_mode: display::scale_mode::NEAREST,
            mask: QMask {
                flags: 0,
                pos: Point { x: 0, y: 0 },
                bitmap: mask,
            },
        },
    }
}

fn display_messages() -> Vec<Seed> {
    let t = "display_messages";
    let bmp = || {
        bitmap(
            PaletteRef::None,
            display::bitmap_fmt::BIT32,
            display::bitmap_flags::TOP_DOWN,
        )
    };
    let binary = |ty: u8| Image {
        descriptor: descriptor(ty, 4, 2),
        kind: ImageKind::Binary(vec![ty; 24]),
    };
    let clip_rects = Clip::Rects(vec![Rect::ltrb(10, 20, 12, 22), Rect::ltrb(12, 20, 14, 21)]);
    let server = [
        (
            "set-ack",
            DisplayServer::Base(ServerBase::SetAck {
                generation: 1,
                window: 40,
            }),
        ),
        (
            "mode",
            DisplayServer::Mode {
                x_res: 1024,
                y_res: 768,
                bits: 32,
            },
        ),
        ("mark", DisplayServer::Mark),
        ("reset", DisplayServer::Reset),
        (
            "copy-bits-clip-rects",
            DisplayServer::CopyBits {
                base: draw_base(clip_rects.clone()),
                src_pos: Point { x: 1, y: 2 },
            },
        ),
        (
            "inval-list",
            DisplayServer::InvalList(vec![
                ResourceId {
                    resource_type: 1,
                    id: 5,
                },
                ResourceId {
                    resource_type: 1,
                    id: 6,
                },
            ]),
        ),
        (
            "inval-all-pixmaps",
            DisplayServer::InvalAllPixmaps(vec![WaitForChannel {
                channel_type: 2,
                channel_id: 0,
                message_serial: 12,
            }]),
        ),
        ("inval-palette", DisplayServer::InvalPalette { id: 77 }),
        ("inval-all-palettes", DisplayServer::InvalAllPalettes),
        ("stream-destroy", DisplayServer::StreamDestroy { id: 3 }),
        ("stream-destroy-all", DisplayServer::StreamDestroyAll),
        (
            "draw-fill-solid-clip-rects",
            DisplayServer::DrawFill {
                base: draw_base(clip_rects),
                fill: FillOp {
                    brush: Brush::Solid(0x00ff_8000),
                    rop_descriptor: display::ropd::OP_PUT,
                    mask: QMask::default(),
                },
            },
        ),
        (
            "draw-fill-pattern-and-mask",
            DisplayServer::DrawFill {
                base: draw_base(Clip::None),
                fill: FillOp {
                    brush: Brush::Pattern {
                        image: bitmap(PaletteRef::Inline(palette()), display::bitmap_fmt::BIT8, 0),
                        pos: Point { x: 2, y: 1 },
                    },
                    rop_descriptor: display::ropd::OP_XOR,
                    mask: QMask {
                        flags: display::mask_flags::INVERS,
                        pos: Point { x: 0, y: 1 },
                        bitmap: Some(bitmap(PaletteRef::None, display::bitmap_fmt::BIT1_BE, 0)),
                    },
                },
            },
        ),
        ("draw-copy-bitmap", draw_copy(bmp(), None)),
        (
            "draw-copy-bitmap-inline-palette",
            draw_copy(
                bitmap(PaletteRef::Inline(palette()), display::bitmap_fmt::BIT8, 0),
                None,
            ),
        ),
        (
            "draw-copy-bitmap-cached-palette",
            draw_copy(
                bitmap(
                    PaletteRef::Cached(77),
                    display::bitmap_fmt::BIT8,
                    display::bitmap_flags::PAL_FROM_CACHE,
                ),
                None,
            ),
        ),
        ("draw-copy-quic", draw_copy(binary(display::image_type::QUIC), None)),
        ("draw-copy-lz-rgb", draw_copy(binary(display::image_type::LZ_RGB), None)),
        (
            "draw-copy-glz-rgb",
            draw_copy(binary(display::image_type::GLZ_RGB), None),
        ),
        ("draw-copy-jpeg", draw_copy(binary(display::image_type::JPEG), None)),
        ("draw-copy-lz4", draw_copy(binary(display::image_type::LZ4), None)),
        (
            "draw-copy-lz-plt",
            draw_copy(
                Image {
                    descriptor: descriptor(display::image_type::LZ_PLT, 4, 2),
                    kind: ImageKind::LzPalette {
                        flags: 0,
                        palette: PaletteRef::Inline(palette()),
                        data: vec![1; 12],
                    },
                },
                None,
            ),
        ),
        (
            "draw-copy-zlib-glz",
            draw_copy(
                Image {
                    descriptor: descriptor(display::image_type::ZLIB_GLZ_RGB, 4, 2),
                    kind: ImageKind::ZlibGlz {
                        glz_data_size: 40,
                        data: vec![0x78, 0x9c, 3, 0, 0, 0, 0, 1],
                    },
                },
                None,
            ),
        ),
        (
            "draw-copy-jpeg-alpha",
            draw_copy(
                Image {
                    descriptor: descriptor(display::image_type::JPEG_ALPHA, 4, 2),
                    kind: ImageKind::JpegAlpha {
                        flags: 0,
                        jpeg_size: 10,
                        data: vec![0xff; 16],
                    },
                },
                None,
            ),
        ),
        (
            "draw-copy-surface-with-mask",
            draw_copy(
                Image {
                    descriptor: descriptor(display::image_type::SURFACE, 4, 2),
                    kind: ImageKind::Surface { surface_id: 1 },
                },
                Some(bitmap(PaletteRef::None, display::bitmap_fmt::BIT1_LE, 0)),
            ),
        ),
        (
            "draw-copy-from-cache",
            draw_copy(
                Image {
                    descriptor: descriptor(display::image_type::FROM_CACHE, 4, 2),
                    kind: ImageKind::NoData,
                },
                None,
            ),
        ),
        (
            "surface-create-primary",
            DisplayServer::SurfaceCreate(SurfaceCreate {
                surface_id: 0,
                width: 1024,
                height: 768,
                format: display::surface_fmt::XRGB32,
                flags: display::surface_flags::PRIMARY,
            }),
        ),
        ("surface-destroy", DisplayServer::SurfaceDestroy { surface_id: 0 }),
        (
            "monitors-config",
            DisplayServer::MonitorsConfig {
                max_allowed: 4,
                heads: vec![
                    Head {
                        monitor_id: 0,
                        surface_id: 0,
                        width: 1024,
                        height: 768,
                        x: 0,
                        y: 0,
                        flags: 0,
                    },
                    Head {
                        monitor_id: 1,
                        surface_id: 0,
                        width: 800,
                        height: 600,
                        x: 1024,
                        y: 0,
                        flags: 0,
                    },
                ],
            },
        ),
        (
            "gl-draw",
            DisplayServer::GlDraw {
                x: 0,
                y: 0,
                w: 64,
                h: 64,
            },
        ),
        (
            "unparsed-stream-data",
            DisplayServer::Unparsed {
                msg_type: display::msg::STREAM_DATA,
                data: vec![0; 20],
            },
        ),
        (
            "unknown-400",
            DisplayServer::Unknown {
                msg_type: 400,
                data: vec![1],
            },
        ),
    ];
    let client = [
        (
            "init",
            DisplayClient::Init(DisplayInit {
                pixmap_cache_id: 1,
                pixmap_cache_size: 20 << 20,
                glz_dictionary_id: 1,
                glz_dictionary_window_size: 8 << 20,
            }),
        ),
        (
            "stream-report",
            DisplayClient::StreamReport(StreamReport {
                stream_id: 1,
                unique_id: 2,
                start_frame_mm_time: 100,
                end_frame_mm_time: 200,
                num_frames: 10,
                num_drops: 0,
                last_frame_delay: -5,
                audio_delay: u32::MAX,
            }),
        ),
        (
            "preferred-compression",
            DisplayClient::PreferredCompression {
                image_compression: display::image_compression::AUTO_GLZ,
            },
        ),
        ("gl-draw-done", DisplayClient::GlDrawDone),
        (
            "preferred-video-codec-type",
            DisplayClient::PreferredVideoCodecType {
                codecs: vec![display::video_codec::H264, display::video_codec::MJPEG],
            },
        ),
    ];
    let mut out: Vec<Seed> = server
        .iter()
        .map(|(name, m)| Seed::new(t, format!("seed-server-{name}"), typed(m)))
        .chain(
            client
                .iter()
                .map(|(name, m)| Seed::new(t, format!("client-{name}"), typed(m))),
        )
        .collect();

    // Offsets of the DRAW_COPY body (after the 2 type bytes): surface_id 4, box 16, clip type 1,
    // then the src_bitmap pointer; the image it points to starts with an 18-byte descriptor.
    let copy = typed(&draw_copy(bmp(), None));
    let src_ptr = 2 + 4 + 16 + 1;
    let image_at = 2 + copy
        .get(src_ptr..src_ptr + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or_default() as usize;
    let mut src_outside = copy.clone();
    patch_u32(&mut src_outside, src_ptr, 0xFFFF_FF00);
    // Row 15/21-style sizes: stride * height far beyond the body, and wrapping in 32 bits.
    let (height_at, stride_at) = (image_at + 18 + 2 + 4, image_at + 18 + 2 + 8);
    let mut stride_huge = copy.clone();
    patch_u32(&mut stride_huge, stride_at, 0x4000_0001);
    patch_u32(&mut stride_huge, height_at, 4);
    let mut palette_outside = copy.clone();
    patch_u32(&mut palette_outside, stride_at + 4, 0x00FF_FFFF);
    // Row 12: clip rect count whose `count * 16` wraps in 32 bits.
    let mut clip = typed(&DisplayServer::CopyBits {
        base: draw_base(Clip::Rects(vec![Rect::ltrb(0, 0, 1, 1)])),
        src_pos: Point::default(),
    });
    patch_u32(&mut clip, 2 + 4 + 16 + 1, 0x1000_0001);
    let mut truncated_copy = copy.clone();
    truncated_copy.truncate(copy.len() - 5);
    let mut heads = typed(&DisplayServer::MonitorsConfig {
        max_allowed: 1,
        heads: Vec::new(),
    });
    patch_u16(&mut heads, 2, 0xFFFF);
    let mut inval = typed(&DisplayServer::InvalList(Vec::new()));
    patch_u16(&mut inval, 2, 0xFFFF);
    out.extend([
        Seed::new(t, "hostile-copy-src-offset-outside", src_outside),
        Seed::new(t, "hostile-copy-bitmap-stride-times-height-huge", stride_huge),
        Seed::new(t, "hostile-copy-palette-offset-outside", palette_outside),
        Seed::new(t, "hostile-clip-rect-count-wraps", clip),
        Seed::new(t, "hostile-monitors-config-count-ffff", heads),
        Seed::new(t, "hostile-inval-list-count-ffff", inval),
        Seed::new(t, "hostile-draw-copy-truncated-image", truncated_copy),
    ]);
    out
}

fn patch_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(dst) = buf.get_mut(at..at + 4) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

fn patch_u16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(dst) = buf.get_mut(at..at + 2) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}
