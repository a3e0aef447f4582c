//! The inputs channel: encodes the embedder's keyboard and mouse commands and
//! applies SPICE's motion flow control.
//!
//! Flow control: at most [`MAX_UNACKED_MOTION`] MOUSE_MOTION/MOUSE_POSITION
//! messages are unacknowledged (the server acks every [`MOTION_ACK_BUNCH`]).
//! Beyond that, motion is coalesced (deltas summed, latest position kept) and
//! flushed when an ack arrives; it is never dropped. A button press/release
//! first sends pending motion, even over the cap, so that the click lands where
//! the pointer is (as spice-gtk does). Keys are never coalesced.

use super::{ChannelError, ChannelKey, Ctx, Handled, Machine, Outputs};
use crate::client::events::SessionEvent;
use crate::client::inputs::{Command, InputsShared};
use crate::connector::client::Linked;
use crate::proto::caps::inputs as inputs_caps;
use crate::proto::channel::inputs::{
    InputsClient, InputsServer, LockModifiers, MAX_UNACKED_MOTION, MOTION_ACK_BUNCH, MouseButton, is_press_only,
    is_valid_scancode, key_codes, scancode_bytes,
};
use crate::proto::{ChannelType, Message};
use std::sync::Arc;

/// The inputs channel's state; commands come from the embedder's
/// [`InputsHandle`](crate::client::inputs::InputsHandle) through `shared`.
pub struct InputsMachine {
    id: u8,
    shared: Arc<InputsShared>,
    /// The server announced KEY_SCANCODE: keys travel as raw bytes.
    scancode_cap: bool,
    /// Keys pressed and not released, in press order.
    held: Vec<u16>,
    /// `SPICE_MOUSE_BUTTON_MASK_*` of the buttons held.
    buttons: u16,
    /// Motion/position messages sent and not yet acknowledged.
    unacked: u32,
    /// Summed deltas not sent yet.
    pending_motion: Option<(i32, i32)>,
    /// Latest position not sent yet.
    pending_position: Option<(u32, u32, u8)>,
}

impl InputsMachine {
    pub(crate) fn new(id: u8, shared: Arc<InputsShared>) -> Self {
        Self {
            id,
            shared,
            scancode_cap: false,
            held: Vec::new(),
            buttons: 0,
            unacked: 0,
            pending_motion: None,
            pending_position: None,
        }
    }

    fn channel(&self) -> ChannelKey {
        ChannelKey::new(ChannelType::INPUTS, self.id)
    }

    fn send_key(&mut self, scancode: u16, release: bool, out: &mut Outputs) {
        if !is_valid_scancode(scancode) {
            tracing::debug!(scancode, "not a set-1 scancode; key ignored");
            return;
        }
        if release {
            self.held.retain(|&k| k != scancode);
        } else if !self.held.contains(&scancode) && !is_press_only(scancode) {
            self.held.push(scancode);
        }
        if self.scancode_cap {
            let bytes = scancode_bytes(scancode, release);
            if !bytes.is_empty() {
                out.send(&InputsClient::KeyScancode(bytes));
            }
        } else {
            for code in key_codes(scancode, release) {
                out.send(&if release {
                    InputsClient::KeyUp { code }
                } else {
                    InputsClient::KeyDown { code }
                });
            }
        }
    }

    fn send_pending_motion(&mut self, out: &mut Outputs) {
        if let Some((dx, dy)) = self.pending_motion.take() {
            out.send(&InputsClient::MouseMotion {
                dx,
                dy,
                buttons: self.buttons,
            });
            self.unacked = self.unacked.saturating_add(1);
        }
    }

    fn send_pending_position(&mut self, out: &mut Outputs) {
        if let Some((x, y, display_id)) = self.pending_position.take() {
            out.send(&InputsClient::MousePosition {
                x,
                y,
                buttons: self.buttons,
                display_id,
            });
            self.unacked = self.unacked.saturating_add(1);
        }
    }

    /// Sends pending motion while the window allows (`force`: regardless of it).
    fn flush_motion(&mut self, force: bool, out: &mut Outputs) {
        if force || self.unacked < MAX_UNACKED_MOTION {
            self.send_pending_motion(out);
        }
        if force || self.unacked < MAX_UNACKED_MOTION {
            self.send_pending_position(out);
        }
    }

    fn button(&mut self, b: MouseButton, press: bool, out: &mut Outputs) {
        // Pending motion first, with the mask it happened under.
        self.flush_motion(true, out);
        // The wheel is momentary: its mask bit is never part of the held state.
        let wheel = matches!(b, MouseButton::WheelUp | MouseButton::WheelDown);
        if !wheel {
            if press {
                self.buttons |= b.mask();
            } else {
                self.buttons &= !b.mask();
            }
        }
        let (button, buttons) = (b.id(), self.buttons);
        out.send(&if press {
            InputsClient::MousePress { button, buttons }
        } else {
            InputsClient::MouseRelease { button, buttons }
        });
    }

    fn command(&mut self, c: Command, out: &mut Outputs) {
        match c {
            Command::KeyPress(k) => self.send_key(k, false, out),
            Command::KeyRelease(k) => self.send_key(k, true, out),
            Command::ReleaseAllKeys => {
                let held = std::mem::take(&mut self.held);
                for k in held.into_iter().rev() {
                    self.send_key(k, true, out);
                }
            }
            Command::LockModifiers(m) => out.send(&InputsClient::KeyModifiers { modifiers: m.to_wire() }),
            Command::Position { x, y, display_id } => {
                self.pending_position = Some((x, y, display_id));
            }
            Command::Motion { dx, dy } => {
                let (px, py) = self.pending_motion.unwrap_or((0, 0));
                self.pending_motion = Some((px.saturating_add(dx), py.saturating_add(dy)));
            }
            Command::ButtonPress(b) => self.button(b, true, out),
            Command::ButtonRelease(b) => self.button(b, false, out),
        }
    }

    fn server_modifiers(&self, modifiers: u16, out: &mut Outputs) {
        let m = LockModifiers::from_wire(modifiers);
        self.shared.set_server_modifiers(m);
        out.event(SessionEvent::KeyModifiers(m));
    }
}

impl Machine for InputsMachine {
    fn linked(&mut self, linked: &Linked, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.scancode_cap = linked.server_caps.channel.has(inputs_caps::KEY_SCANCODE);
        tracing::debug!(channel = %self.channel(), scancode = self.scancode_cap, "inputs channel ready");
        if let Some(m) = self.shared.wanted_modifiers() {
            out.send(&InputsClient::KeyModifiers { modifiers: m.to_wire() });
        }
        self.shared.set_up(true);
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], _ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        match InputsServer::decode(msg_type, body)? {
            InputsServer::Init { modifiers } | InputsServer::KeyModifiers { modifiers } => {
                self.server_modifiers(modifiers, out);
            }
            InputsServer::MouseMotionAck => {
                self.unacked = self.unacked.saturating_sub(MOTION_ACK_BUNCH);
                self.flush_motion(false, out);
            }
            InputsServer::Base(_) | InputsServer::Unknown { .. } => return Ok(Handled::Skipped),
        }
        Ok(Handled::Done)
    }

    fn commands(&mut self, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        for c in self.shared.take() {
            self.command(c, out);
        }
        self.flush_motion(false, out);
        Ok(())
    }

    fn closed(&mut self) {
        self.shared.set_up(false);
    }
}

impl Drop for InputsMachine {
    fn drop(&mut self) {
        self.shared.set_up(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Output;
    use crate::proto::channel::inputs::button_mask;

    fn handler(scancode_cap: bool) -> (InputsMachine, Arc<InputsShared>) {
        let shared = InputsShared::new();
        let mut h = InputsMachine::new(0, Arc::clone(&shared));
        h.scancode_cap = scancode_cap;
        shared.set_up(true);
        (h, shared)
    }

    fn decoded(out: &mut Outputs) -> Vec<InputsClient> {
        out.drain()
            .filter_map(|o| match o {
                Output::Send { msg_type, body } => Some(InputsClient::decode(msg_type, &body).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn ctx() -> Ctx {
        Ctx::new(std::time::Instant::now(), 0)
    }

    fn run(h: &mut InputsMachine, cmds: &[Command]) -> Vec<InputsClient> {
        let mut out = Outputs::new();
        for &c in cmds {
            h.command(c, &mut out);
        }
        h.flush_motion(false, &mut out);
        decoded(&mut out)
    }

    #[test]
    fn keys_use_key_down_up_without_the_cap() {
        let (mut h, _) = handler(false);
        let m = run(&mut h, &[Command::KeyPress(0x11d), Command::KeyRelease(0x11d)]);
        assert_eq!(
            m,
            vec![
                InputsClient::KeyDown { code: 0x1de0 },
                InputsClient::KeyUp { code: 0x9de0 }
            ]
        );
    }

    #[test]
    fn keys_use_raw_scancodes_with_the_cap() {
        let (mut h, _) = handler(true);
        let m = run(&mut h, &[Command::KeyPress(0x1e), Command::KeyRelease(0x153)]);
        assert_eq!(
            m,
            vec![
                InputsClient::KeyScancode(vec![0x1e]),
                InputsClient::KeyScancode(vec![0xe0, 0xd3])
            ]
        );
    }

    #[test]
    fn release_all_releases_held_keys_in_reverse() {
        let (mut h, _) = handler(false);
        run(
            &mut h,
            &[
                Command::KeyPress(0x2a),
                Command::KeyPress(0x1e),
                Command::KeyPress(0x30),
                Command::KeyRelease(0x1e),
            ],
        );
        let m = run(&mut h, &[Command::ReleaseAllKeys]);
        assert_eq!(
            m,
            vec![InputsClient::KeyUp { code: 0xb0 }, InputsClient::KeyUp { code: 0xaa }]
        );
        assert!(run(&mut h, &[Command::ReleaseAllKeys]).is_empty());
    }

    #[test]
    fn motion_is_capped_coalesced_and_flushed_on_ack() {
        let (mut h, _) = handler(false);
        let cmds: Vec<Command> = (0..20).map(|_| Command::Motion { dx: 1, dy: -2 }).collect();
        let mut sent = Vec::new();
        for c in cmds {
            sent.extend(run(&mut h, &[c]));
        }
        assert_eq!(sent.len(), MAX_UNACKED_MOTION as usize);
        assert_eq!(h.pending_motion, Some((12, -24)));
        let mut out = Outputs::new();
        h.message(111, &[], &ctx(), &mut out).unwrap();
        assert_eq!(
            decoded(&mut out),
            vec![InputsClient::MouseMotion {
                dx: 12,
                dy: -24,
                buttons: 0
            }]
        );
        assert_eq!(h.unacked, MAX_UNACKED_MOTION - MOTION_ACK_BUNCH + 1);
    }

    #[test]
    fn buttons_flush_motion_first_and_carry_the_mask() {
        let (mut h, _) = handler(false);
        for _ in 0..MAX_UNACKED_MOTION {
            run(
                &mut h,
                &[Command::Position {
                    x: 1,
                    y: 1,
                    display_id: 0,
                }],
            );
        }
        let m = run(
            &mut h,
            &[
                Command::Position {
                    x: 50,
                    y: 60,
                    display_id: 0,
                },
                Command::ButtonPress(MouseButton::Left),
                Command::ButtonPress(MouseButton::Right),
                Command::ButtonRelease(MouseButton::Left),
            ],
        );
        assert_eq!(
            m,
            vec![
                InputsClient::MousePosition {
                    x: 50,
                    y: 60,
                    buttons: 0,
                    display_id: 0
                },
                InputsClient::MousePress {
                    button: 1,
                    buttons: button_mask::LEFT
                },
                InputsClient::MousePress {
                    button: 3,
                    buttons: button_mask::LEFT | button_mask::RIGHT
                },
                InputsClient::MouseRelease {
                    button: 1,
                    buttons: button_mask::RIGHT
                },
            ]
        );
    }

    #[test]
    fn wheel_does_not_stick_in_the_mask() {
        let (mut h, _) = handler(false);
        let m = run(
            &mut h,
            &[
                Command::ButtonPress(MouseButton::WheelUp),
                Command::ButtonRelease(MouseButton::WheelUp),
            ],
        );
        assert_eq!(
            m,
            vec![
                InputsClient::MousePress { button: 4, buttons: 0 },
                InputsClient::MouseRelease { button: 4, buttons: 0 }
            ]
        );
    }

    #[test]
    fn server_modifiers_are_recorded() {
        let (mut h, shared) = handler(false);
        let mut out = Outputs::new();
        assert_eq!(h.message(101, &[4, 0], &ctx(), &mut out).unwrap(), Handled::Done);
        let handle = crate::client::inputs::InputsHandle::new(shared);
        assert_eq!(handle.server_lock_modifiers().map(|m| m.caps_lock), Some(true));
        assert!(h.message(102, &[1], &ctx(), &mut out).is_err());
    }
}
