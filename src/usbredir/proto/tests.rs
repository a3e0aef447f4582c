use super::*;

/// The caps QEMU's usb-redir announces (without bulk streams).
fn qemu_caps() -> Caps {
    Caps::of(&[
        Cap::ConnectDeviceVersion,
        Cap::Filter,
        Cap::EpInfoMaxPacketSize,
        Cap::Ids64,
        Cap::BulkLength32,
        Cap::BulkReceiving,
        Cap::DeviceDisconnectAck,
    ])
}

fn all_caps() -> Caps {
    Caps(0xff)
}

/// A context of `role` after the hello exchange, both sides with `caps`.
fn negotiated(role: Role, caps: Caps) -> Context {
    let mut c = Context::new(role, caps);
    c.set_peer(caps);
    c
}

fn parse_one(p: &mut Parser, bytes: &[u8]) -> Result<Received, ProtoError> {
    let mut items = Vec::new();
    p.parse_all(bytes, |i| items.push(i));
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(p.is_idle());
    items.remove(0)
}

/// Encodes as `sender` sees the connection, parses as the receiver.
fn round_trip(sender: &Context, id: u64, packet: &Packet) -> Received {
    let bytes = sender
        .encode(id, packet)
        .unwrap_or_else(|e| panic!("encode {packet:?}: {e}"));
    // The receiver of a hello does not know the sender's caps yet.
    let receiver = match packet {
        Packet::Hello(_) => Context::new(sender.role().peer(), sender.peer().unwrap_or_default()),
        _ => sender.mirrored(),
    };
    let mut p = Parser::with_context(receiver, Limits::default());
    parse_one(&mut p, &bytes).unwrap_or_else(|e| panic!("decode {packet:?}: {e}"))
}

fn ep_info_sample() -> Packet {
    let mut info = EpInfo::default();
    for (i, e) in info.endpoints.iter_mut().enumerate() {
        let i = u8::try_from(i).unwrap();
        *e = EpInfoEntry {
            ep_type: i % 4,
            interval: i,
            interface: i / 3,
            max_packet_size: u16::from(i) * 64,
            max_streams: u32::from(i) * 3,
        };
    }
    Packet::EpInfo(Box::new(info))
}

/// One sample of every packet type, with the role that sends it.
fn samples() -> Vec<(Role, Packet)> {
    use Role::{Guest, Host};
    vec![
        (Host, Packet::Hello(Hello::new("sumac test", qemu_caps()))),
        (
            Host,
            Packet::DeviceConnect(DeviceConnect {
                speed: speed::HIGH,
                device_class: 0,
                device_subclass: 0,
                device_protocol: 0,
                vendor_id: 0x1209,
                product_id: 0x0001,
                device_version_bcd: 0x0100,
            }),
        ),
        (Host, Packet::DeviceDisconnect),
        (Guest, Packet::Reset),
        (
            Host,
            Packet::InterfaceInfo(InterfaceInfo {
                interfaces: vec![
                    InterfaceEntry {
                        number: 0,
                        class: 8,
                        subclass: 6,
                        protocol: 0x50,
                    },
                    InterfaceEntry {
                        number: 1,
                        class: 3,
                        subclass: 1,
                        protocol: 1,
                    },
                ],
            }),
        ),
        (Host, ep_info_sample()),
        (Guest, Packet::SetConfiguration { configuration: 1 }),
        (Guest, Packet::GetConfiguration),
        (
            Host,
            Packet::ConfigurationStatus {
                status: status::SUCCESS,
                configuration: 1,
            },
        ),
        (Guest, Packet::SetAltSetting { interface: 2, alt: 3 }),
        (Guest, Packet::GetAltSetting { interface: 2 }),
        (
            Host,
            Packet::AltSettingStatus {
                status: status::INVAL,
                interface: 2,
                alt: 255,
            },
        ),
        (
            Guest,
            Packet::StartIsoStream {
                endpoint: 0x83,
                pkts_per_urb: 8,
                no_urbs: 4,
            },
        ),
        (Guest, Packet::StopIsoStream { endpoint: 0x83 }),
        (
            Host,
            Packet::IsoStreamStatus {
                status: status::STALL,
                endpoint: 0x83,
            },
        ),
        (Guest, Packet::StartInterruptReceiving { endpoint: 0x81 }),
        (Guest, Packet::StopInterruptReceiving { endpoint: 0x81 }),
        (
            Host,
            Packet::InterruptReceivingStatus {
                status: 0,
                endpoint: 0x81,
            },
        ),
        (
            Guest,
            Packet::AllocBulkStreams {
                endpoints: 0x0003_0004,
                no_streams: 16,
            },
        ),
        (Guest, Packet::FreeBulkStreams { endpoints: 0x0003_0004 }),
        (
            Host,
            Packet::BulkStreamsStatus {
                endpoints: 0x0003_0004,
                no_streams: 16,
                status: 0,
            },
        ),
        (Guest, Packet::CancelDataPacket),
        (Guest, Packet::FilterReject),
        (
            Guest,
            Packet::FilterFilter {
                filter: b"0x03,-1,-1,-1,0|-1,-1,-1,-1,1".to_vec(),
            },
        ),
        (
            Host,
            Packet::FilterFilter {
                filter: b"-1,-1,-1,-1,1".to_vec(),
            },
        ),
        (Guest, Packet::DeviceDisconnectAck),
        (
            Guest,
            Packet::StartBulkReceiving {
                stream_id: 0,
                bytes_per_transfer: 512,
                endpoint: 0x82,
                no_transfers: 5,
            },
        ),
        (
            Guest,
            Packet::StopBulkReceiving {
                stream_id: 0,
                endpoint: 0x82,
            },
        ),
        (
            Host,
            Packet::BulkReceivingStatus {
                stream_id: 0,
                endpoint: 0x82,
                status: 0,
            },
        ),
        // Control: IN request without data, IN reply with data, OUT request with data, OUT reply.
        (
            Guest,
            Packet::Control(ControlPacket {
                endpoint: 0x80,
                request: 6,
                requesttype: 0x80,
                status: 0,
                value: 0x0100,
                index: 0,
                length: 18,
                data: vec![],
            }),
        ),
        (
            Host,
            Packet::Control(ControlPacket {
                endpoint: 0x80,
                request: 6,
                requesttype: 0x80,
                status: 0,
                value: 0x0100,
                index: 0,
                length: 3,
                data: vec![18, 1, 0],
            }),
        ),
        (
            Guest,
            Packet::Control(ControlPacket {
                endpoint: 0,
                request: 9,
                requesttype: 0x21,
                status: 0,
                value: 0x0200,
                index: 0,
                length: 2,
                data: vec![1, 2],
            }),
        ),
        (
            Host,
            Packet::Control(ControlPacket {
                endpoint: 0,
                request: 9,
                requesttype: 0x21,
                status: status::STALL,
                value: 0x0200,
                index: 0,
                length: 0,
                data: vec![],
            }),
        ),
        (
            Guest,
            Packet::Bulk(BulkPacket {
                endpoint: 0x02,
                status: 0,
                length: 5,
                stream_id: 0,
                data: vec![1, 2, 3, 4, 5],
            }),
        ),
        (
            Guest,
            Packet::Bulk(BulkPacket {
                endpoint: 0x81,
                status: 0,
                length: 0x0002_0000,
                stream_id: 7,
                data: vec![],
            }),
        ),
        (
            Host,
            Packet::Bulk(BulkPacket {
                endpoint: 0x81,
                status: 0,
                length: 3,
                stream_id: 7,
                data: vec![9, 8, 7],
            }),
        ),
        (
            Host,
            Packet::Bulk(BulkPacket {
                endpoint: 0x02,
                status: status::STALL,
                length: 0,
                stream_id: 0,
                data: vec![],
            }),
        ),
        (
            Guest,
            Packet::Iso(DataPacket {
                endpoint: 0x03,
                status: 0,
                length: 2,
                data: vec![1, 2],
            }),
        ),
        (
            Host,
            Packet::Iso(DataPacket {
                endpoint: 0x83,
                status: 0,
                length: 1,
                data: vec![3],
            }),
        ),
        (
            Host,
            Packet::Interrupt(DataPacket {
                endpoint: 0x81,
                status: 0,
                length: 4,
                data: vec![0, 1, 0, 0],
            }),
        ),
        (
            Guest,
            Packet::Interrupt(DataPacket {
                endpoint: 0x01,
                status: 0,
                length: 1,
                data: vec![5],
            }),
        ),
        (
            Host,
            Packet::Interrupt(DataPacket {
                endpoint: 0x01,
                status: 0,
                length: 1,
                data: vec![],
            }),
        ),
        (
            Host,
            Packet::BufferedBulk(BufferedBulkPacket {
                stream_id: 0,
                length: 3,
                endpoint: 0x82,
                status: 0,
                data: vec![1, 2, 3],
            }),
        ),
    ]
}

#[test]
fn every_packet_type_round_trips_with_all_caps_and_64_bit_ids() {
    let samples = samples();
    let types: std::collections::BTreeSet<u32> = samples.iter().map(|(_, p)| p.packet_type()).collect();
    assert_eq!(types.len(), 33, "a sample for every packet type");
    for (role, packet) in &samples {
        // Hello is the packet that sets the peer caps: send it before they are known.
        let ctx = if matches!(packet, Packet::Hello(_)) {
            Context::new(*role, all_caps())
        } else {
            negotiated(*role, all_caps())
        };
        let got = round_trip(&ctx, 0x1234_5678_9abc, packet);
        let want_id = if ctx.header_len() == 16 {
            0x1234_5678_9abc
        } else {
            0x5678_9abc
        };
        assert_eq!(
            got,
            Received {
                id: want_id,
                packet: packet.clone()
            }
        );
    }
}

#[test]
fn caps_dependent_fields_round_trip_without_caps() {
    // No caps: 32-bit ids, no device version, short ep_info, 16-bit bulk length; fields
    // that are not on the wire come back as 0.
    let ctx = negotiated(Role::Host, Caps(0));
    let Packet::DeviceConnect(mut dc) = samples()[1].1.clone() else {
        unreachable!()
    };
    let got = round_trip(&ctx, 1, &Packet::DeviceConnect(dc));
    dc.device_version_bcd = 0;
    assert_eq!(got.packet, Packet::DeviceConnect(dc));

    let Packet::EpInfo(mut info) = ep_info_sample() else {
        unreachable!()
    };
    let got = round_trip(&ctx, 2, &Packet::EpInfo(info.clone()));
    for e in &mut info.endpoints {
        e.max_packet_size = 0;
        e.max_streams = 0;
    }
    assert_eq!(got.packet, Packet::EpInfo(info.clone()));

    // ep_info_max_packet_size only: max_streams dropped.
    let ctx = negotiated(Role::Host, Caps::of(&[Cap::EpInfoMaxPacketSize]));
    let Packet::EpInfo(full) = ep_info_sample() else {
        unreachable!()
    };
    let got = round_trip(&ctx, 2, &Packet::EpInfo(full.clone()));
    let Packet::EpInfo(got) = got.packet else {
        unreachable!()
    };
    for (g, f) in got.endpoints.iter().zip(&full.endpoints) {
        assert_eq!((g.max_packet_size, g.max_streams), (f.max_packet_size, 0));
    }

    // Bulk length above 16 bits needs the cap on both sides.
    let ctx = negotiated(Role::Guest, Caps(0));
    let big = Packet::Bulk(BulkPacket {
        endpoint: 0x81,
        length: 0x1_0000,
        ..Default::default()
    });
    assert_eq!(ctx.encode(3, &big), Err(ProtoError::NeedsBulkLength32(0x1_0000)));
}

#[test]
fn type_header_sizes_follow_the_caps() {
    let sizes = |caps: Caps| {
        let ctx = negotiated(Role::Host, caps);
        let dc = ctx.encode(0, &samples()[1].1).unwrap().len();
        let ep = ctx.encode(0, &ep_info_sample()).unwrap().len();
        (ctx.header_len(), dc, ep)
    };
    assert_eq!(sizes(Caps(0)), (12, 12 + 8, 12 + 96));
    assert_eq!(
        sizes(Caps::of(&[
            Cap::ConnectDeviceVersion,
            Cap::EpInfoMaxPacketSize,
            Cap::Ids64
        ])),
        (16, 16 + 10, 16 + 160)
    );
    assert_eq!(sizes(all_caps()), (16, 16 + 10, 16 + 288));
    // Bulk streams without ep_info_max_packet_size is not allowed: dropped.
    assert_eq!(Caps::of(&[Cap::BulkStreams]).verified(), Caps(0));
    assert_eq!(sizes(Caps::of(&[Cap::BulkStreams])), (12, 12 + 8, 12 + 96));
}

#[test]
fn qemu_hello_bytes() {
    // What QEMU's usb-redir sends first: 32-bit id header, 64-byte version, one caps word.
    let mut bytes = vec![0, 0, 0, 0, 68, 0, 0, 0, 0, 0, 0, 0];
    let mut version = b"qemu usb-redir guest 7.2.0".to_vec();
    version.resize(64, 0);
    bytes.extend_from_slice(&version);
    bytes.extend_from_slice(&0xfe_u32.to_le_bytes());
    let mut p = Parser::new(Role::Host, qemu_caps());
    let got = parse_one(&mut p, &bytes).unwrap();
    assert_eq!(got.id, 0);
    let Packet::Hello(h) = &got.packet else {
        panic!("{got:?}")
    };
    assert_eq!(h.version_str(), "qemu usb-redir guest 7.2.0");
    assert_eq!(h.caps, Caps(0xfe));
    assert_eq!(p.context().peer(), Some(Caps(0xfe)));
    // Both sides have 64-bit ids now.
    assert_eq!(p.context().header_len(), 16);
    // A hello is always sent with a 32-bit id, even once both sides could use 64.
    let again = p.context().mirrored().encode(0, &got.packet).unwrap();
    assert_eq!(again.len(), 12 + 64 + 4);
    // A second hello (read with the negotiated 16-byte header) is reported and skipped.
    let mut again16 = again[..8].to_vec();
    again16.extend_from_slice(&[0; 8]);
    again16.extend_from_slice(&again[12..]);
    assert_eq!(parse_one(&mut p, &again16), Err(ProtoError::DuplicateHello));
}

#[test]
fn handcrafted_packets_decode_exactly() {
    let ctx = negotiated(Role::Host, qemu_caps());
    let mut p = Parser::with_context(ctx, Limits::default());
    // GET_DESCRIPTOR(device) control request, id 0x0102030405060708.
    let bytes = [
        100, 0, 0, 0, 10, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, // header
        0x80, 6, 0x80, 0, 0x00, 0x01, 0, 0, 18, 0, // control header
    ];
    assert_eq!(
        parse_one(&mut p, &bytes),
        Ok(Received {
            id: 0x0102_0304_0506_0708,
            packet: Packet::Control(ControlPacket {
                endpoint: 0x80,
                request: 6,
                requesttype: 0x80,
                status: 0,
                value: 0x100,
                index: 0,
                length: 18,
                data: vec![],
            }),
        })
    );
    // Bulk OUT, 3 bytes, length_high 0.
    let bytes = [
        101, 0, 0, 0, 13, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, // header
        0x02, 0, 3, 0, 0, 0, 0, 0, 0, 0, // bulk header
        0xaa, 0xbb, 0xcc,
    ];
    let got = parse_one(&mut p, &bytes).unwrap();
    assert_eq!(got.id, 9);
    assert_eq!(
        got.packet,
        Packet::Bulk(BulkPacket {
            endpoint: 2,
            status: 0,
            length: 3,
            stream_id: 0,
            data: vec![0xaa, 0xbb, 0xcc],
        })
    );
    // And the host's reply to a bulk IN of 0x10002 bytes (length_high = 1) encodes as expected.
    let reply = Packet::Bulk(BulkPacket {
        endpoint: 0x81,
        status: 0,
        length: 2,
        stream_id: 0,
        data: vec![1, 2],
    });
    assert_eq!(
        ctx.encode(5, &reply).unwrap(),
        [
            101, 0, 0, 0, 12, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2
        ]
    );
}

#[test]
fn parser_split_at_every_byte_gives_the_same_packets() {
    let host = negotiated(Role::Host, all_caps());
    let guest = host.mirrored();
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for (i, (role, packet)) in samples().into_iter().enumerate() {
        if role == Role::Guest && !matches!(packet, Packet::Hello(_)) {
            let id = 1000 + i as u64;
            stream.extend(guest.encode(id, &packet).unwrap());
            want.push(Received { id, packet });
        }
    }
    for split in 0..=stream.len() {
        for chunk in [1, 3, 7, 64] {
            let mut p = Parser::with_context(host, Limits::default());
            let mut got = Vec::new();
            let (a, b) = stream.split_at(split);
            for part in [a, b] {
                for piece in part.chunks(chunk) {
                    p.parse_all(piece, |r| got.push(r.unwrap()));
                }
            }
            assert_eq!(got, want, "split at {split}, chunks of {chunk}");
            assert!(p.is_idle());
        }
    }
}

#[test]
fn parse_stops_after_one_packet() {
    let guest = negotiated(Role::Guest, all_caps());
    let mut bytes = guest.encode(1, &Packet::Reset).unwrap();
    let first = bytes.len();
    bytes.extend(guest.encode(2, &Packet::GetConfiguration).unwrap());
    let mut p = Parser::with_context(guest.mirrored(), Limits::default());
    let r = p.parse(&bytes);
    assert_eq!(r.consumed, first);
    assert_eq!(
        r.item,
        Some(Ok(Received {
            id: 1,
            packet: Packet::Reset
        }))
    );
    let r = p.parse(&bytes[first..]);
    assert_eq!(r.consumed, bytes.len() - first);
    assert!(matches!(r.item, Some(Ok(Received { id: 2, .. }))));
}

/// A raw packet with a 12-byte header.
fn raw(ty: u32, length: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&length.to_le_bytes());
    v.extend_from_slice(&7u32.to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// Parses `bytes` then a valid RESET; the RESET must come through after the errors.
fn errors_then_reset(ctx: Context, limits: Limits, bytes: &[u8]) -> Vec<ProtoError> {
    let mut p = Parser::with_context(ctx, limits);
    let mut errors = Vec::new();
    let mut packets = Vec::new();
    let mut input = bytes.to_vec();
    input.extend(ctx.mirrored().encode(7, &Packet::Reset).unwrap());
    for chunk in input.chunks(5) {
        p.parse_all(chunk, |r| match r {
            Ok(r) => packets.push(r.packet),
            Err(e) => errors.push(e),
        });
        assert!(p.buffered() <= 64, "buffered {}", p.buffered());
    }
    assert_eq!(packets, [Packet::Reset], "stream back in sync");
    errors
}

#[test]
fn hostile_headers_are_skipped() {
    let host = negotiated(Role::Host, Caps(0));
    let small = Limits { max_packet: 64 };
    // Unknown type with a body: skipped whole.
    assert_eq!(
        errors_then_reset(host, small, &raw(55, 3, &[1, 2, 3])),
        [ProtoError::UnknownType(55)]
    );
    // A packet only the host sends, received by the host.
    assert_eq!(
        errors_then_reset(host, small, &raw(packet_type::DEVICE_CONNECT, 8, &[0; 8])),
        [ProtoError::WrongSender {
            ty: packet_type::DEVICE_CONNECT,
            from: Role::Guest
        }]
    );
    // Longer than the limit: skipped without buffering.
    let body = vec![0u8; 200];
    assert_eq!(
        errors_then_reset(host, small, &raw(packet_type::BULK_PACKET, 200, &body)),
        [ProtoError::TooLong {
            ty: packet_type::BULK_PACKET,
            length: 200,
            max: 64
        }]
    );
    // Shorter than the type header; data on a type without data.
    assert_eq!(
        errors_then_reset(host, small, &raw(packet_type::SET_CONFIGURATION, 0, &[])),
        [ProtoError::BadLength {
            ty: packet_type::SET_CONFIGURATION,
            length: 0,
            header: 1
        }]
    );
    assert_eq!(
        errors_then_reset(host, small, &raw(packet_type::RESET, 2, &[0, 0])),
        [ProtoError::BadLength {
            ty: packet_type::RESET,
            length: 2,
            header: 0
        }]
    );
}

#[test]
fn default_limit_is_libusbredirparsers() {
    let host = negotiated(Role::Host, Caps(0));
    let mut p = Parser::with_context(host, Limits::default());
    let r = p.parse(&raw(packet_type::BULK_PACKET, MAX_PACKET_SIZE + 1, &[]));
    assert_eq!(
        r.item,
        Some(Err(ProtoError::TooLong {
            ty: packet_type::BULK_PACKET,
            length: 1024 + 128 * 1024 * 1024 + 1,
            max: MAX_PACKET_SIZE
        }))
    );
    // A maximal packet header is accepted; nothing is allocated before data arrives.
    let mut p = Parser::with_context(host, Limits::default());
    let mut hdr = raw(packet_type::BULK_PACKET, MAX_PACKET_SIZE, &[0x02, 0, 0, 0, 0, 0, 0, 0]);
    hdr.extend_from_slice(&[0; 100]);
    let r = p.parse(&hdr);
    assert!(r.item.is_none());
    assert!(p.buffered() <= 4096, "{}", p.buffered());
}

#[test]
fn hostile_bodies_are_rejected() {
    let host = negotiated(Role::Host, qemu_caps());
    let guest = host.mirrored();
    let lim = Limits::default();
    let enc = |p: &Packet| {
        // Encode without the sender-side checks: patch a valid packet's bytes.
        guest.encode(3, p).unwrap()
    };
    // interface_count > 32 (sent by a host to a guest parser).
    let mut ii = host.encode(0, &samples()[4].1).unwrap();
    ii[16..20].copy_from_slice(&33u32.to_le_bytes());
    let errs = {
        let mut p = Parser::with_context(guest, lim);
        let mut e = Vec::new();
        p.parse_all(&ii, |r| e.push(r));
        e
    };
    assert_eq!(errs, [Err(ProtoError::TooManyInterfaces(33))]);

    // Bulk length_high makes the length exceed 128 MiB.
    let mut bulk = enc(&Packet::Bulk(BulkPacket {
        endpoint: 0x81,
        length: 0xffff,
        ..Default::default()
    }));
    bulk[24..26].copy_from_slice(&0x0801u16.to_le_bytes());
    assert_eq!(
        errors_then_reset(host, lim, &bulk),
        [ProtoError::TransferTooLarge {
            what: "bulk packet",
            length: 0x0801_ffff,
            max: MAX_BULK_TRANSFER_SIZE
        }]
    );
    // Without the 32-bit length cap, length_high is not on the wire: those two bytes
    // are data, so an IN request then carries unexpected data.
    let h16 = negotiated(Role::Host, Caps(0));
    let mut bulk16 = h16
        .mirrored()
        .encode(
            3,
            &Packet::Bulk(BulkPacket {
                endpoint: 0x81,
                length: 4,
                ..Default::default()
            }),
        )
        .unwrap();
    bulk16[4] += 2;
    bulk16.extend_from_slice(&[0xff, 0xff]);
    assert_eq!(
        errors_then_reset(h16, lim, &bulk16),
        [ProtoError::UnexpectedData {
            what: "bulk packet",
            ep: 0x81
        }]
    );
    // OUT data shorter than announced.
    let mut out = enc(&Packet::Bulk(BulkPacket {
        endpoint: 0x02,
        length: 2,
        data: vec![1, 2],
        ..Default::default()
    }));
    out[18] = 3; // length = 3, data 2
    assert_eq!(
        errors_then_reset(host, lim, &out),
        [ProtoError::DataLengthMismatch {
            what: "bulk packet",
            ep: 0x02,
            length: 3,
            data: 2
        }]
    );
    // Interrupt receiving on an OUT endpoint.
    let mut irq = enc(&Packet::StartInterruptReceiving { endpoint: 0x81 });
    irq[16] = 0x01;
    assert_eq!(
        errors_then_reset(host, lim, &irq),
        [ProtoError::NotInEndpoint {
            what: "start_interrupt_receiving",
            ep: 1
        }]
    );
    // Filter string not NUL-terminated.
    let mut ff = enc(&Packet::FilterFilter {
        filter: b"1,1,1,1,1".to_vec(),
    });
    let last = ff.len() - 1;
    ff[last] = b'1';
    assert_eq!(errors_then_reset(host, lim, &ff), [ProtoError::BadFilterString]);
}

#[test]
fn caps_gate_packets_in_both_directions() {
    // We (host) lack the filter cap: a guest's filter_reject is refused on receipt...
    let host = negotiated(Role::Host, Caps(0));
    let guest_with = {
        let mut c = Context::new(Role::Guest, Caps::of(&[Cap::Filter]));
        c.set_peer(Caps::of(&[Cap::Filter]));
        c
    };
    let bytes = guest_with.encode(0, &Packet::FilterReject).unwrap();
    assert_eq!(
        errors_then_reset(host, Limits::default(), &bytes),
        [ProtoError::MissingCap {
            what: "filter_reject",
            cap: Cap::Filter
        }]
    );
    // ...and a guest cannot send it to a peer without the cap.
    assert_eq!(
        host.mirrored().encode(0, &Packet::FilterReject),
        Err(ProtoError::MissingCap {
            what: "filter_reject",
            cap: Cap::Filter
        })
    );
    // Sending a packet of the other role fails.
    assert_eq!(
        host.encode(0, &Packet::Reset),
        Err(ProtoError::WrongSender {
            ty: packet_type::RESET,
            from: Role::Host
        })
    );
}

#[test]
fn huge_hello_caps_are_read_but_not_kept() {
    let mut bytes = raw(packet_type::HELLO, 64 + 1024 * 1024, &[0; 64]);
    bytes.extend_from_slice(&0x31_u32.to_le_bytes());
    bytes.resize(12 + 64 + 1024 * 1024, 0xff);
    let mut p = Parser::new(Role::Host, all_caps());
    let mut got = Vec::new();
    for chunk in bytes.chunks(4096) {
        p.parse_all(chunk, |r| got.push(r));
        assert!(p.buffered() <= 4, "{}", p.buffered());
    }
    assert_eq!(got.len(), 1);
    let Ok(Received {
        packet: Packet::Hello(h),
        ..
    }) = &got[0]
    else {
        panic!("{got:?}")
    };
    assert_eq!((h.version.len(), h.caps), (0, Caps(0x31)));
    // A hello shorter than its version field is refused.
    let mut p = Parser::new(Role::Host, all_caps());
    assert!(matches!(
        parse_one(&mut p, &raw(packet_type::HELLO, 10, &[0; 10])),
        Err(ProtoError::BadLength { .. })
    ));
}

#[test]
fn endpoint_index_mapping() {
    assert_eq!(ep_index(0x00), 0);
    assert_eq!(ep_index(0x02), 2);
    assert_eq!(ep_index(0x81), 17);
    assert_eq!(ep_index(0x8f), 31);
    for i in 0..EP_COUNT {
        assert_eq!(ep_index(ep_address(i)), i);
    }
}

#[test]
fn hello_version_is_truncated_on_a_char_boundary() {
    let long = "é".repeat(40); // 80 bytes
    let h = Hello::new(&long, Caps(0));
    assert_eq!(h.version.len(), 62);
    assert!(std::str::from_utf8(&h.version).is_ok());
}
