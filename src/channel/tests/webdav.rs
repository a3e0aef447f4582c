//! The WebDAV mux from byte vectors: frames cut anywhere, close frames, the
//! client cap, lying sizes, reset.

use super::*;

fn frame(client: i64, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_data(client, data, &mut v);
    v
}

#[test]
fn frames_open_carry_data_and_close() {
    let mut m = Mux::default();
    let mut out = Vec::new();
    let mut input = frame(7, b"GET / HTTP/1.1\r\n");
    input.extend_from_slice(&frame(7, b"\r\n"));
    input.extend_from_slice(&encode_close(7));
    m.feed(&input, &mut out);
    assert_eq!(
        out,
        vec![
            MuxAction::Open(7),
            // Consecutive frames of one client are merged.
            MuxAction::Data(7, b"GET / HTTP/1.1\r\n\r\n".to_vec()),
            MuxAction::Close(7),
        ]
    );
    assert_eq!(m.client_count(), 0);
}

#[test]
fn any_cut_of_the_stream_gives_the_same_bytes() {
    let mut input = frame(1, b"hello");
    input.extend_from_slice(&frame(-2, &[9u8; 300]));
    input.extend_from_slice(&frame(1, b" world"));
    input.extend_from_slice(&encode_close(-2));
    for step in 1..input.len() {
        let mut m = Mux::default();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            m.feed(piece, &mut out);
        }
        let mut one = Vec::new();
        let mut two = Vec::new();
        for a in &out {
            match a {
                MuxAction::Data(1, d) => one.extend_from_slice(d),
                MuxAction::Data(-2, d) => two.extend_from_slice(d),
                MuxAction::Data(..) => panic!("unexpected client"),
                _ => {}
            }
        }
        assert_eq!(one, b"hello world", "step {step}");
        assert_eq!(two, vec![9u8; 300], "step {step}");
        assert_eq!(out.iter().filter(|a| matches!(a, MuxAction::Open(_))).count(), 2);
        assert_eq!(out.last(), Some(&MuxAction::Close(-2)));
        assert!(m.is_open(1) && !m.is_open(-2));
    }
}

#[test]
fn large_data_is_split_into_frames() {
    let data: Vec<u8> = (0..200_000u32).map(|i| i.to_le_bytes()[0]).collect();
    let bytes = frame(3, &data);
    assert_eq!(bytes.len(), data.len() + 4 * HEADER_LEN);
    let mut m = Mux::default();
    let mut out = Vec::new();
    m.feed(&bytes, &mut out);
    let got: Vec<u8> = out
        .iter()
        .filter_map(|a| match a {
            MuxAction::Data(3, d) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(got, data);
    assert!(frame(3, b"").is_empty(), "no empty frame: it would close");
}

#[test]
fn a_million_clients_are_capped() {
    let mut m = Mux::new(4);
    let mut out = Vec::new();
    let mut input = Vec::new();
    for id in 0..1_000_000i64 {
        input.clear();
        input.extend_from_slice(&frame(id, b"x"));
        m.feed(&input, &mut out);
        if out.len() > 1024 {
            out.clear();
        }
    }
    assert_eq!(m.client_count(), 4);
    assert_eq!(m.refused(), 1_000_000 - 4);
    // A refused frame's data goes nowhere.
    let mut out = Vec::new();
    m.feed(&frame(5_000_000, b"abc"), &mut out);
    assert_eq!(out, vec![MuxAction::Refuse(5_000_000)]);
    // Closing one makes room.
    m.feed(&encode_close(0), &mut out);
    out.clear();
    m.feed(&frame(9, b"y"), &mut out);
    assert_eq!(out, vec![MuxAction::Open(9), MuxAction::Data(9, b"y".to_vec())]);
}

#[test]
fn lying_sizes_only_delay_the_next_header() {
    // A header announcing 65535 bytes followed by 3: the mux waits for the rest,
    // buffering nothing; what follows is taken as that frame's data.
    let mut m = Mux::default();
    let mut out = Vec::new();
    let mut h = 5i64.to_le_bytes().to_vec();
    h.extend_from_slice(&u16::MAX.to_le_bytes());
    h.extend_from_slice(b"abc");
    m.feed(&h, &mut out);
    assert_eq!(out, vec![MuxAction::Open(5), MuxAction::Data(5, b"abc".to_vec())]);
    // A reset (port opened again) drops the partial frame and every client.
    assert_eq!(m.reset(), vec![5]);
    out.clear();
    m.feed(&frame(6, b"z"), &mut out);
    assert_eq!(out, vec![MuxAction::Open(6), MuxAction::Data(6, b"z".to_vec())]);
    // Closing an unknown client is ignored.
    out.clear();
    m.feed(&encode_close(12345), &mut out);
    assert!(out.is_empty());
    assert!(m.close_local(6));
    assert!(!m.close_local(6));
}
