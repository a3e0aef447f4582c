//! The cursor channel against the test server: every shape type decoded as
//! the server designed it, cache hits and invalidation, move and hide. Against
//! a real Xspice: `tests/e2e/real/cursor.rs`.

use crate::support::session::next_event;
use std::time::{Duration, Instant};
use sumac::client::events::CursorEvent;
use sumac::client::{ConnectionConfig, SessionEvent, SessionOptions};
use sumac::proto::channel::cursor::{CursorServer, CursorType, flags};
use sumac::proto::channel::display::Point16;
use sumac_test_server::cursor::{self as script, CursorScript, Design};
use sumac_test_server::{ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `messages` on the cursor channel and collects `count` cursor events.
fn cursor_events(messages: Vec<CursorServer>, count: usize) -> Vec<CursorEvent> {
    let cfg = ServerConfig {
        cursor: CursorScript { messages },
        ..Default::default()
    };
    let server = TestServer::start(cfg).unwrap();
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    let until = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        match next_event(&mut rx, until) {
            Some(SessionEvent::Cursor { channel_id: 0, event }) => out.push(event),
            Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
            Some(_) => {}
            None => panic!("only {} of {count} cursor events arrived: {out:?}", out.len()),
        }
    }
    session.disconnect();
    out
}

fn assert_shape(event: &CursorEvent, design: &Design, what: &str) {
    let CursorEvent::Set { shape, visible, .. } = event else {
        panic!("{what}: expected Set, got {event:?}")
    };
    assert!(visible, "{what}");
    assert_eq!((shape.width, shape.height), (design.width, design.height), "{what}");
    assert_eq!((shape.hot_x, shape.hot_y), (design.hot_x, design.hot_y), "{what}");
    assert_eq!(
        shape.rgba.len(),
        usize::from(design.width) * usize::from(design.height) * 4
    );
    let expected = design.expected_rgba();
    let bad: Vec<_> = shape
        .rgba
        .chunks(4)
        .zip(expected.chunks(4))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .take(5)
        .collect();
    assert!(bad.is_empty(), "{what}: pixels differ (index, got, want): {bad:?}");
}

#[test]
fn every_cursor_type_arrives_decoded() {
    let colour = script::colour_design();
    let mono = script::mono_design();
    let types = [
        CursorType::Alpha,
        CursorType::Color4,
        CursorType::Color8,
        CursorType::Color16,
        CursorType::Color24,
        CursorType::Color32,
    ];
    let mut messages = vec![script::init(script::shape(&mono, CursorType::Mono, 1, 0), 3, 4)];
    for (i, ty) in types.iter().enumerate() {
        messages.push(script::set(script::shape(&colour, *ty, 10 + i as u64, 0), 5, 6, true));
    }
    let events = cursor_events(messages, 1 + types.len());
    assert_shape(&events[0], &mono, "MONO");
    let CursorEvent::Set { x: 3, y: 4, .. } = &events[0] else {
        panic!("INIT position: {:?}", events[0])
    };
    for (ty, e) in types.iter().zip(&events[1..]) {
        assert_shape(e, &colour, &format!("{ty:?}"));
    }
}

#[test]
fn cache_hits_invalidation_move_and_hide() {
    let arrow = script::arrow();
    let colour = script::colour_design();
    let messages = vec![
        script::init(script::shape(&arrow, CursorType::Alpha, 100, flags::CACHE_ME), 1, 1),
        script::set(
            script::shape(&colour, CursorType::Color32, 200, flags::CACHE_ME),
            2,
            2,
            true,
        ),
        // Hit on the first shape.
        script::set(script::from_cache(100), 3, 3, true),
        CursorServer::Move {
            position: Point16 { x: 40, y: -5 },
        },
        CursorServer::Hide,
        // Drop 100: FROM_CACHE 100 now misses (hide), 200 still hits.
        CursorServer::InvalOne { id: 100 },
        script::set(script::from_cache(100), 4, 4, true),
        script::set(script::from_cache(200), 5, 5, true),
        // INVAL_ALL: 200 misses too.
        CursorServer::InvalAll,
        script::set(script::from_cache(200), 6, 6, true),
        // A shape set invisible, then RESET.
        script::set(script::shape(&arrow, CursorType::Alpha, 300, 0), 7, 7, false),
        CursorServer::Reset,
    ];
    let ev = cursor_events(messages, 10);
    assert_shape(&ev[0], &arrow, "INIT arrow");
    assert_shape(&ev[1], &colour, "SET colour");
    assert_shape(&ev[2], &arrow, "FROM_CACHE arrow");
    let (CursorEvent::Set { shape: a, .. }, CursorEvent::Set { shape: b, .. }) = (&ev[0], &ev[2]) else {
        unreachable!()
    };
    assert!(std::sync::Arc::ptr_eq(a, b), "a cache hit shares the decoded shape");
    assert_eq!(ev[3], CursorEvent::Move { x: 40, y: -5 });
    assert_eq!(ev[4], CursorEvent::Hide);
    assert_eq!(ev[5], CursorEvent::Hide, "FROM_CACHE after INVAL_ONE misses");
    assert_shape(&ev[6], &colour, "FROM_CACHE colour after INVAL_ONE of the other");
    assert_eq!(ev[7], CursorEvent::Hide, "FROM_CACHE after INVAL_ALL misses");
    let CursorEvent::Set {
        visible: false,
        x: 7,
        y: 7,
        ..
    } = &ev[8]
    else {
        panic!("invisible SET: {:?}", ev[8])
    };
    assert_eq!(ev[9], CursorEvent::Reset);
}

#[test]
fn hostile_cursor_messages_do_not_end_the_channel() {
    let arrow = script::arrow();
    let mut short = script::shape(&arrow, CursorType::Alpha, 1, 0);
    short.data.truncate(10);
    let mut huge = script::shape(&arrow, CursorType::Alpha, 2, 0);
    if let Some(h) = huge.header.as_mut() {
        h.width = u16::MAX;
        h.height = u16::MAX;
    }
    let messages = vec![
        script::init(short, 0, 0),
        script::set(huge, 0, 0, true),
        CursorServer::Unknown {
            msg_type: 140,
            data: vec![1, 2, 3],
        },
        script::set(script::shape(&arrow, CursorType::Alpha, 3, 0), 9, 9, true),
    ];
    // The two bad shapes are dropped as undecodable; the good one still arrives.
    let ev = cursor_events(messages, 1);
    assert_shape(&ev[0], &arrow, "good shape after hostile ones");
}

#[test]
fn the_standard_script_shows_the_arrow() {
    let ev = cursor_events(script::standard().messages, 1);
    assert_shape(&ev[0], &script::arrow(), "standard arrow");
}
