//! USB redirection against the test server's scripted usb-guest: hostile
//! usbredir streams (unknown types, interleaved ids, a 128 MiB bulk packet, a
//! lying length, a channel closed in the middle of a transfer) leave the
//! session up, memory bounded, and the device released.

use std::time::Duration;

use sumac::client::usb::{UsbDeviceId, UsbDeviceState, UsbHandle};
use sumac::client::{ConnectionConfig, SessionHandle, SessionOptions, SessionState};
use sumac::proto::ChannelType;
use sumac::usbredir::proto::{MAX_BULK_TRANSFER_SIZE, packet_type};
use sumac_test_server::usbredir::{UsbStep, guest_hello, raw_header};
use sumac_test_server::{ServerConfig, TestServer};

use crate::support::wait::poll_until;

const WAIT: Duration = Duration::from_secs(30);

fn start(
    script: Vec<UsbStep>,
) -> (
    TestServer,
    SessionHandle,
    tokio::sync::mpsc::UnboundedReceiver<sumac::client::SessionEvent>,
) {
    let mut cfg = ServerConfig::default();
    cfg.channels.push((ChannelType::USBREDIR, 0));
    cfg.usbredir = script;
    let server = TestServer::start(cfg).unwrap();
    let (session, rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    assert!(
        poll_until(WAIT, || session.usb().channels() == (1, 1)),
        "no usbredir channel"
    );
    (server, session, rx)
}

fn plug(usb: &UsbHandle, image: &std::path::Path) -> UsbDeviceId {
    let id = usb.add_disk(image, false).unwrap();
    usb.connect(id).unwrap();
    id
}

fn state(usb: &UsbHandle, id: UsbDeviceId) -> UsbDeviceState {
    usb.device(id).unwrap().state
}

fn image() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), vec![0u8; 1 << 20]).unwrap();
    f
}

/// A bulk packet header (64-bit ids, 32-bit bulk lengths): endpoint, status, length, stream, length_high.
fn bulk(id: u64, endpoint: u8, length: u32, data_len: u32) -> Vec<u8> {
    let mut v = raw_header(packet_type::BULK_PACKET, 10 + data_len, id);
    v.push(endpoint);
    v.push(0);
    v.extend_from_slice(&(length as u16).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&((length >> 16) as u16).to_le_bytes());
    v
}

#[test]
fn hostile_usbredir_streams_release_the_device_and_keep_the_session() {
    let mut unknown = raw_header(9999, 5, 1);
    unknown.extend_from_slice(b"12345");
    let mut interleaved = Vec::new();
    for id in [90u64, 3, 1 << 40, 7] {
        interleaved.extend(bulk(id, 0x81, 512, 0));
    }
    // A bulk OUT packet whose transfer length (4096) lies about its data (100 bytes).
    let mut lying = bulk(8, 0x02, 4096, 100);
    lying.extend_from_slice(&[0x55; 100]);
    let (server, session, _rx) = start(vec![
        UsbStep::Send(guest_hello()),
        UsbStep::Await(packet_type::DEVICE_CONNECT),
        UsbStep::Send(unknown),
        UsbStep::Send(interleaved),
        UsbStep::Send(lying),
        // Then a header whose length no packet may have.
        UsbStep::Send(raw_header(packet_type::BULK_PACKET, u32::MAX, 9)),
    ]);
    let usb = session.usb();
    let img = image();
    let id = plug(&usb, img.path());
    assert!(
        poll_until(WAIT, || matches!(state(&usb, id), UsbDeviceState::Failed { .. })),
        "{:?}",
        state(&usb, id)
    );
    let UsbDeviceState::Failed { error } = state(&usb, id) else {
        unreachable!()
    };
    assert!(error.contains("invalid"), "{error}");
    // The channel is free again (a new device on it fails at once), the session is up.
    assert_eq!(usb.channels(), (1, 1));
    assert_eq!(session.state(), SessionState::Up);
    let seen = server.with_record(|r| r.usbredir.iter().map(|&(_, t)| t).collect::<Vec<_>>());
    assert!(seen.contains(&packet_type::DEVICE_CONNECT), "{seen:?}");
    session.disconnect();
}

#[test]
fn a_128_mib_bulk_packet_then_a_channel_cut_mid_transfer() {
    let huge = MAX_BULK_TRANSFER_SIZE;
    let (server, session, _rx) = start(vec![
        UsbStep::Send(guest_hello()),
        UsbStep::Await(packet_type::DEVICE_CONNECT),
        // The largest bulk OUT the protocol allows, for the disk's OUT endpoint (garbage, not a CBW).
        UsbStep::Send(bulk(1, 0x02, huge, huge)),
        UsbStep::SendZeros(u64::from(huge)),
        UsbStep::Await(packet_type::BULK_PACKET),
        // Then a transfer that never ends: the channel closes in its middle.
        UsbStep::Send({
            let mut p = bulk(2, 0x02, 1 << 20, 1 << 20);
            p.extend_from_slice(&[1; 1000]);
            p
        }),
        UsbStep::Close,
    ]);
    let usb = session.usb();
    let img = image();
    let id = plug(&usb, img.path());
    assert!(
        poll_until(Duration::from_secs(120), || matches!(
            state(&usb, id),
            UsbDeviceState::Failed { .. }
        )),
        "{:?}",
        state(&usb, id)
    );
    let UsbDeviceState::Failed { error } = state(&usb, id) else {
        unreachable!()
    };
    assert!(error.contains("channel closed"), "{error}");
    assert_eq!(usb.channels(), (0, 0));
    assert_eq!(session.state(), SessionState::Up);
    // Bounded: one packet's worth of buffers at most (plus the rest of the session).
    let peak = session.memory_budget().peak();
    assert!(peak < 512 << 20, "peak {peak}");
    let seen = server.with_record(|r| r.usbredir.iter().map(|&(_, t)| t).collect::<Vec<_>>());
    assert!(
        seen.contains(&packet_type::BULK_PACKET),
        "the device answered the huge packet: {seen:?}"
    );
    session.disconnect();
}
