use super::*;
use crate::proto::base::Message;

fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
    let body = m.to_body();
    assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
}

fn header(ty: CursorType, w: u16, h: u16) -> CursorHeader {
    CursorHeader {
        unique: 0x1122_3344_5566_7788,
        cursor_type: ty.to_wire(),
        width: w,
        height: h,
        hot_spot_x: 1,
        hot_spot_y: 2,
    }
}

fn shape(ty: CursorType, w: u16, h: u16, extra_flags: u16) -> Cursor {
    Cursor {
        flags: extra_flags,
        header: Some(header(ty, w, h)),
        data: (0..ty.data_size(w, h)).map(|i| (i % 251) as u8).collect(),
    }
}

#[test]
fn data_sizes_follow_the_type() {
    // 5 x 3: mask rows are 1 byte.
    assert_eq!(CursorType::Alpha.data_size(5, 3), 60);
    assert_eq!(CursorType::Mono.data_size(5, 3), 6);
    assert_eq!(CursorType::Color4.data_size(5, 3), 9 + 64 + 3);
    assert_eq!(CursorType::Color8.data_size(5, 3), 15 + 1024 + 3);
    assert_eq!(CursorType::Color16.data_size(5, 3), 30 + 3);
    assert_eq!(CursorType::Color24.data_size(5, 3), 45 + 3);
    assert_eq!(CursorType::Color32.data_size(5, 3), 60 + 3);
    assert_eq!(CursorType::Mono.data_size(0, 0), 0);
    for v in 0..=6 {
        assert_eq!(CursorType::from_wire(v).unwrap().to_wire(), v);
    }
    assert!(CursorType::from_wire(7).is_none());
}

#[test]
fn server_round_trips() {
    rt(CursorServer::Base(ServerBase::SetAck {
        generation: 1,
        window: 20,
    }));
    for (i, ty) in [
        CursorType::Alpha,
        CursorType::Mono,
        CursorType::Color4,
        CursorType::Color8,
        CursorType::Color16,
        CursorType::Color24,
        CursorType::Color32,
    ]
    .into_iter()
    .enumerate()
    {
        rt(CursorServer::Init(CursorInit {
            position: Point16 { x: -3, y: 700 },
            trail_length: 2,
            trail_frequency: 3,
            visible: 1,
            cursor: shape(ty, 7, 5, flags::CACHE_ME),
        }));
        rt(CursorServer::Set(CursorSet {
            position: Point16 { x: i as i16, y: 9 },
            visible: 0,
            cursor: shape(ty, 33, 2, 0),
        }));
    }
    rt(CursorServer::Set(CursorSet {
        position: Point16 { x: 1, y: 2 },
        visible: 1,
        cursor: Cursor {
            flags: flags::FROM_CACHE,
            header: Some(header(CursorType::Alpha, 32, 32)),
            data: Vec::new(),
        },
    }));
    rt(CursorServer::Set(CursorSet {
        position: Point16 { x: 1, y: 2 },
        visible: 1,
        cursor: Cursor::none(),
    }));
    rt(CursorServer::Reset);
    rt(CursorServer::Move {
        position: Point16 { x: -1, y: 32767 },
    });
    rt(CursorServer::Hide);
    rt(CursorServer::Trail {
        length: 4,
        frequency: 5,
    });
    rt(CursorServer::InvalOne { id: u64::MAX });
    rt(CursorServer::InvalAll);
    rt(CursorServer::Unknown {
        msg_type: 150,
        data: vec![1, 2],
    });
    rt(CursorClient::Base(ClientBase::Pong { id: 1, timestamp: 2 }));
}

#[test]
fn wire_layout_of_set() {
    let m = CursorServer::Set(CursorSet {
        position: Point16 { x: 0x0102, y: -2 },
        visible: 1,
        cursor: Cursor {
            flags: flags::CACHE_ME,
            header: Some(CursorHeader {
                unique: 9,
                cursor_type: CursorType::Mono.to_wire(),
                width: 8,
                height: 1,
                hot_spot_x: 3,
                hot_spot_y: 0,
            }),
            data: vec![0xf0, 0x0f],
        },
    });
    assert_eq!(m.msg_type(), 103);
    assert_eq!(
        m.to_body(),
        [
            0x02, 0x01, 0xfe, 0xff, 1, // position, visible
            2, 0, // flags
            9, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 1, 0, 3, 0, 0, 0, // header
            0xf0, 0x0f
        ]
    );
}

#[test]
fn hostile_shapes_are_refused() {
    let set = |c: Cursor| {
        CursorServer::Set(CursorSet {
            position: Point16::default(),
            visible: 1,
            cursor: c,
        })
        .to_body()
    };
    // Data one byte short and one byte long.
    let mut c = shape(CursorType::Color32, 4, 4, 0);
    c.data.pop();
    assert!(CursorServer::decode(msg::SET, &set(c.clone())).is_err());
    c.data.extend_from_slice(&[0, 0]);
    assert!(CursorServer::decode(msg::SET, &set(c)).is_err());
    // Huge dimensions with no data: refused on the size, nothing allocated.
    let mut c = shape(CursorType::Alpha, 0, 0, 0);
    if let Some(h) = c.header.as_mut() {
        h.width = u16::MAX;
        h.height = u16::MAX;
    }
    assert!(matches!(
        CursorServer::decode(msg::SET, &set(c)),
        Err(DecodeError::TooLarge { .. })
    ));
    // Unknown type.
    let mut c = shape(CursorType::Alpha, 1, 1, 0);
    if let Some(h) = c.header.as_mut() {
        h.cursor_type = 7;
    }
    assert!(matches!(
        CursorServer::decode(msg::SET, &set(c)),
        Err(DecodeError::InvalidValue { .. })
    ));
    // Truncated header.
    let body = set(shape(CursorType::Alpha, 1, 1, 0));
    assert!(CursorServer::decode(msg::SET, &body[..10]).is_err());
    assert!(CursorServer::decode(msg::INIT, &[0; 8]).is_err());
    assert!(CursorServer::decode(msg::INVAL_ONE, &[0; 7]).is_err());
    // FROM_CACHE of a huge cached shape is fine: nothing is decoded here.
    let c = Cursor {
        flags: flags::FROM_CACHE,
        header: Some(header(CursorType::Alpha, u16::MAX, u16::MAX)),
        data: Vec::new(),
    };
    assert!(CursorServer::decode(msg::SET, &set(c)).is_ok());
}
