//! What the demo desktop takes from the inputs channel: key presses as PC
//! set-1 scancodes (from KEY_SCANCODE or KEY_DOWN/KEY_UP) and clicks at the
//! pointer's position (MOUSE_POSITION in client mouse mode, MOUSE_MOTION
//! deltas in server mode), kept in one log every display channel replays.

use std::sync::{Mutex, MutexGuard};
use sumac::proto::channel::inputs::InputsClient;

/// Past this many events the log stops growing (a demo, not a recorder).
const MAX_EVENTS: usize = 100_000;

/// One user action the demo reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoInput {
    /// A set-1 scancode (0x100 | code for an 0xE0-prefixed key), pressed or released.
    Key { code: u16, down: bool },
    /// A mouse button pressed at (x, y) of the primary surface.
    Click { x: i32, y: i32, button: u8 },
}

#[derive(Debug)]
struct Log {
    events: Vec<DemoInput>,
    pointer: (i32, i32),
}

/// The inputs log shared by the inputs channel (writer) and the display channels (readers).
#[derive(Debug)]
pub struct DemoInputs {
    log: Mutex<Log>,
}

impl Default for DemoInputs {
    fn default() -> Self {
        Self {
            log: Mutex::new(Log {
                events: Vec::new(),
                pointer: (super::WIDTH as i32 / 2, super::HEIGHT as i32 / 2),
            }),
        }
    }
}

impl DemoInputs {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records what `msg` means to the demo.
    pub fn observe(&self, msg: &InputsClient) {
        let mut log = self.lock();
        let mut keys = Vec::new();
        match msg {
            InputsClient::KeyScancode(bytes) => keys = parse_scancodes(bytes),
            InputsClient::KeyDown { code } | InputsClient::KeyUp { code } => {
                let down = matches!(msg, InputsClient::KeyDown { .. });
                let (lo, hi) = ((code & 0xff) as u16, ((code >> 8) & 0xff) as u16);
                let key = if lo == 0xe0 { 0x100 | (hi & 0x7f) } else { lo & 0x7f };
                keys.push(DemoInput::Key { code: key, down });
            }
            InputsClient::MousePosition { x, y, .. } => {
                log.pointer = (
                    i32::try_from(*x).unwrap_or(i32::MAX).min(super::WIDTH as i32 - 1),
                    i32::try_from(*y).unwrap_or(i32::MAX).min(super::HEIGHT as i32 - 1),
                );
            }
            InputsClient::MouseMotion { dx, dy, .. } => {
                let (x, y) = log.pointer;
                log.pointer = (
                    x.saturating_add(*dx).clamp(0, super::WIDTH as i32 - 1),
                    y.saturating_add(*dy).clamp(0, super::HEIGHT as i32 - 1),
                );
            }
            InputsClient::MousePress { button, .. } if (1..=3).contains(button) => {
                let (x, y) = log.pointer;
                keys.push(DemoInput::Click { x, y, button: *button });
            }
            _ => {}
        }
        if log.events.len() + keys.len() <= MAX_EVENTS {
            log.events.extend(keys);
        }
    }

    /// The events from index `from` on, and the index to read from next time.
    pub fn since(&self, from: usize) -> (Vec<DemoInput>, usize) {
        let log = self.lock();
        let new = log.events.get(from..).unwrap_or_default().to_vec();
        (new, log.events.len())
    }
}

/// KEY_SCANCODE bytes: set-1 codes, 0xE0 prefixing an extended key, bit 7 = release.
fn parse_scancodes(bytes: &[u8]) -> Vec<DemoInput> {
    let mut out = Vec::new();
    let mut extended = false;
    for &b in bytes {
        if b == 0xe0 {
            extended = true;
            continue;
        }
        let code = u16::from(b & 0x7f) | if extended { 0x100 } else { 0 };
        out.push(DemoInput::Key {
            code,
            down: b & 0x80 == 0,
        });
        extended = false;
    }
    out
}

/// The character a US keyboard types with set-1 key `code`, shifted or not.
pub fn us_char(code: u16, shift: bool) -> Option<char> {
    const ROWS: [(u16, &str, &str); 4] = [
        (0x02, "1234567890-=", "!@#$%^&*()_+"),
        (0x10, "qwertyuiop[]", "QWERTYUIOP{}"),
        (0x1e, "asdfghjkl;'`", "ASDFGHJKL:\"~"),
        (0x2b, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
    ];
    if code == 0x39 {
        return Some(' ');
    }
    for (first, plain, shifted) in ROWS {
        if code >= first {
            let table = if shift { shifted } else { plain };
            if let Some(c) = table.chars().nth(usize::from(code - first)) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_layout() {
        assert_eq!(us_char(0x1e, false), Some('a'));
        assert_eq!(us_char(0x1e, true), Some('A'));
        assert_eq!(us_char(0x02, true), Some('!'));
        assert_eq!(us_char(0x0b, false), Some('0'));
        assert_eq!(us_char(0x1a, false), Some('['));
        assert_eq!(us_char(0x2b, false), Some('\\'));
        assert_eq!(us_char(0x35, true), Some('?'));
        assert_eq!(us_char(0x39, false), Some(' '));
        assert_eq!(us_char(0x1c, false), None); // Enter
        assert_eq!(us_char(0x0e, false), None); // Backspace
        assert_eq!(us_char(0x2a, false), None); // Shift
        assert_eq!(us_char(0x3b, false), None); // F1
    }

    #[test]
    fn scancode_bytes_and_clicks_become_demo_inputs() {
        let d = DemoInputs::default();
        d.observe(&InputsClient::KeyScancode(vec![0x1e, 0xe0, 0x1c, 0x9e]));
        d.observe(&InputsClient::KeyDown { code: 0x1c_e0 });
        d.observe(&InputsClient::MousePosition {
            x: 40,
            y: 5000,
            buttons: 0,
            display_id: 0,
        });
        d.observe(&InputsClient::MousePress { button: 1, buttons: 1 });
        d.observe(&InputsClient::MouseMotion {
            dx: -100,
            dy: -10,
            buttons: 0,
        });
        d.observe(&InputsClient::MousePress { button: 3, buttons: 4 });
        let (ev, next) = d.since(0);
        assert_eq!(
            ev,
            vec![
                DemoInput::Key { code: 0x1e, down: true },
                DemoInput::Key {
                    code: 0x11c,
                    down: true
                },
                DemoInput::Key {
                    code: 0x1e,
                    down: false
                },
                DemoInput::Key {
                    code: 0x11c,
                    down: true
                },
                DemoInput::Click {
                    x: 40,
                    y: 767,
                    button: 1
                },
                DemoInput::Click {
                    x: 0,
                    y: 757,
                    button: 3
                },
            ]
        );
        assert_eq!(d.since(next).0, vec![]);
        assert_eq!(d.since(4).0.len(), 2);
    }
}
