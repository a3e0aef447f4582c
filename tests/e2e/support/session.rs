//! The runtime's side of a test: its event receiver read with a deadline, the first frame, the
//! inputs channel ready, and the client's primary surface as an image.

use super::image::RgbImage;
use std::time::{Duration, Instant};
use sumac::client::inputs::{InputsHandle, LockModifiers};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::display::DisplayEvent;
use tokio::sync::mpsc::UnboundedReceiver;

/// The next session event, or `None` once `until` has passed (or the session is gone).
pub fn next_event(rx: &mut UnboundedReceiver<SessionEvent>, until: Instant) -> Option<SessionEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(until.saturating_duration_since(Instant::now()), rx.recv())
            .await
            .ok()
            .flatten()
    })
}

/// Waits (up to `timeout`) for the first MARK on display channel 0: the first complete frame.
/// Panics with the session's error when it ends before.
pub fn wait_mark(rx: &mut UnboundedReceiver<SessionEvent>, timeout: Duration) {
    let until = Instant::now() + timeout;
    loop {
        match next_event(rx, until).expect("no MARK within the timeout") {
            SessionEvent::Display {
                channel_id: 0,
                event: DisplayEvent::Mark,
            } => return,
            SessionEvent::Disconnected { error } => panic!("session ended before MARK: {error:?}"),
            _ => {}
        }
    }
}

/// The client's primary surface of display channel 0 as an RGB image.
pub fn primary_image(session: &SessionHandle) -> Option<RgbImage> {
    let state = session.display(0)?;
    let state = state.lock().ok()?;
    let (_, s) = state.primary()?;
    Some(RgbImage {
        width: s.width,
        height: s.height,
        data: s.to_rgb(),
    })
}

/// Connects to `uri` and waits (up to 20 s) until the inputs channel takes commands; returns the
/// modifiers of the first KeyModifiers event (INPUTS_INIT) too.
pub fn connect_inputs_ready(
    uri: &str,
) -> (
    SessionHandle,
    UnboundedReceiver<SessionEvent>,
    InputsHandle,
    LockModifiers,
) {
    const WAIT: Duration = Duration::from_secs(20);
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(uri).unwrap(), SessionOptions::default()).unwrap();
    let inputs = session.inputs();
    let until = Instant::now() + WAIT;
    let mut init = None;
    while init.is_none() || !inputs.is_ready() {
        match next_event(&mut rx, until) {
            Some(SessionEvent::KeyModifiers(m)) => init = init.or(Some(m)),
            Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
            Some(_) => {}
            None => panic!("inputs channel not ready within {WAIT:?}"),
        }
    }
    (session, rx, inputs, init.unwrap())
}
