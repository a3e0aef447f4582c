//! Keyboard and mouse input for the embedder: [`InputsHandle`].
//!
//! The handle exists from connect time ([`SessionHandle::inputs`](super::SessionHandle::inputs)).
//! Its methods never block: they queue a command and wake the inputs channel
//! thread, which encodes it (scancode encoding, button mask, motion flow
//! control). Before the inputs channel is linked, and after it is gone,
//! commands are dropped and counted ([`InputsHandle::dropped_commands`]).
//!
//! Keys are PC XT set-1 scancodes as `u16`: low byte = make code, `0x100` =
//! E0-prefixed (Right Ctrl = `0x11d`), [`PAUSE`](crate::proto::channel::inputs::PAUSE) = `0x146`.

use crate::proto::consts::mouse_mode;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::proto::channel::inputs::{LockModifiers, MouseButton};

/// Most commands queued before the channel thread takes them; beyond, new ones are dropped.
pub const MAX_QUEUED_COMMANDS: usize = 4096;
/// Most wheel steps one [`InputsHandle::scroll`] call sends.
pub const MAX_SCROLL_STEPS: u32 = 64;

/// How the guest pointer is driven (MAIN_INIT / MOUSE_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseMode {
    /// Relative motion ([`InputsHandle::mouse_motion`]); the client grabs the pointer.
    Server,
    /// Absolute positions ([`InputsHandle::mouse_position`]).
    Client,
}

/// A wheel direction. SPICE has only a vertical wheel (buttons UP and DOWN);
/// horizontal scrolling has no wire representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollDirection {
    Up,
    Down,
}

/// What the embedder asked for, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    KeyPress(u16),
    KeyRelease(u16),
    ReleaseAllKeys,
    LockModifiers(LockModifiers),
    Position { x: u32, y: u32, display_id: u8 },
    Motion { dx: i32, dy: i32 },
    ButtonPress(MouseButton),
    ButtonRelease(MouseButton),
}

/// State shared by the handle(s), the inputs channel thread and the main channel.
#[derive(Debug, Default)]
pub(crate) struct InputsShared {
    queue: Mutex<VecDeque<Command>>,
    notify: Arc<tokio::sync::Notify>,
    /// The inputs channel is linked and takes commands.
    up: AtomicBool,
    dropped: AtomicU64,
    /// Current mouse mode (SPICE numbering), 0 before MAIN_INIT.
    mouse_mode: AtomicU32,
    /// The guest's lock keys: bit 31 set once known, low bits = wire flags.
    server_modifiers: AtomicU32,
    /// Last lock state the embedder asked for (bit 31 = set), sent again when the channel links.
    wanted_modifiers: AtomicU32,
}

const KNOWN: u32 = 1 << 31;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InputsShared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Queues commands atomically (so `send_keys` stays contiguous) and wakes the channel.
    fn push(&self, cmds: &[Command]) {
        if !self.up.load(Ordering::Acquire) {
            self.dropped.fetch_add(cmds.len() as u64, Ordering::Relaxed);
            tracing::trace!(count = cmds.len(), "inputs channel not up; input dropped");
            return;
        }
        {
            let mut q = lock(&self.queue);
            if q.len().saturating_add(cmds.len()) > MAX_QUEUED_COMMANDS {
                drop(q);
                self.dropped.fetch_add(cmds.len() as u64, Ordering::Relaxed);
                tracing::warn!(count = cmds.len(), "inputs queue full; input dropped");
                return;
            }
            q.extend(cmds.iter().copied());
        }
        self.notify.notify_one();
    }

    pub(crate) fn take(&self) -> VecDeque<Command> {
        std::mem::take(&mut *lock(&self.queue))
    }

    pub(crate) fn notify(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.notify)
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if !up {
            let stale = std::mem::take(&mut *lock(&self.queue));
            if !stale.is_empty() {
                self.dropped.fetch_add(stale.len() as u64, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn set_mouse_mode(&self, mode: u32) {
        self.mouse_mode.store(mode, Ordering::Relaxed);
    }

    pub(crate) fn set_server_modifiers(&self, m: LockModifiers) {
        self.server_modifiers
            .store(KNOWN | u32::from(m.to_wire()), Ordering::Relaxed);
    }

    pub(crate) fn wanted_modifiers(&self) -> Option<LockModifiers> {
        let v = self.wanted_modifiers.load(Ordering::Relaxed);
        (v & KNOWN != 0).then(|| LockModifiers::from_wire((v & 0xffff) as u16))
    }
}

/// The embedder's handle on the inputs channel. Cheap to clone; every method returns at once.
#[derive(Debug, Clone)]
pub struct InputsHandle {
    shared: Arc<InputsShared>,
}

impl InputsHandle {
    pub(crate) fn new(shared: Arc<InputsShared>) -> Self {
        Self { shared }
    }

    /// Whether the inputs channel is linked (commands are delivered).
    pub fn is_ready(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// Commands dropped because the channel was not up (or the queue was full).
    pub fn dropped_commands(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Presses a key (set-1 scancode, `0x100` = E0 prefix).
    pub fn key_press(&self, scancode: u16) {
        self.shared.push(&[Command::KeyPress(scancode)]);
    }

    /// Releases a key.
    pub fn key_release(&self, scancode: u16) {
        self.shared.push(&[Command::KeyRelease(scancode)]);
    }

    /// Presses `keys` in order, then releases them in reverse order (Ctrl+Alt+Del).
    pub fn send_keys(&self, keys: &[u16]) {
        let cmds: Vec<Command> = keys
            .iter()
            .map(|&k| Command::KeyPress(k))
            .chain(keys.iter().rev().map(|&k| Command::KeyRelease(k)))
            .collect();
        self.shared.push(&cmds);
    }

    /// Releases every key currently held (focus loss), most recent first.
    pub fn release_all_keys(&self) {
        self.shared.push(&[Command::ReleaseAllKeys]);
    }

    /// Sets the guest's Caps/Num/Scroll lock state (KEY_MODIFIERS). Remembered
    /// and sent again whenever the inputs channel (re)links.
    pub fn set_lock_modifiers(&self, m: LockModifiers) {
        self.shared
            .wanted_modifiers
            .store(KNOWN | u32::from(m.to_wire()), Ordering::Relaxed);
        self.shared.push(&[Command::LockModifiers(m)]);
    }

    /// Absolute pointer position in guest pixels of display `display_id` (client mouse mode).
    pub fn mouse_position(&self, x: u32, y: u32, display_id: u8) {
        self.shared.push(&[Command::Position { x, y, display_id }]);
    }

    /// Relative pointer motion (server mouse mode).
    pub fn mouse_motion(&self, dx: i32, dy: i32) {
        if dx == 0 && dy == 0 {
            return;
        }
        self.shared.push(&[Command::Motion { dx, dy }]);
    }

    pub fn button_press(&self, button: MouseButton) {
        self.shared.push(&[Command::ButtonPress(button)]);
    }

    pub fn button_release(&self, button: MouseButton) {
        self.shared.push(&[Command::ButtonRelease(button)]);
    }

    /// Turns the wheel `steps` notches (at most [`MAX_SCROLL_STEPS`]): a press and a release of
    /// the UP or DOWN button per notch.
    pub fn scroll(&self, direction: ScrollDirection, steps: u32) {
        let b = match direction {
            ScrollDirection::Up => MouseButton::WheelUp,
            ScrollDirection::Down => MouseButton::WheelDown,
        };
        let n = steps.min(MAX_SCROLL_STEPS) as usize;
        let cmds: Vec<Command> = std::iter::repeat_n([Command::ButtonPress(b), Command::ButtonRelease(b)], n)
            .flatten()
            .collect();
        if !cmds.is_empty() {
            self.shared.push(&cmds);
        }
    }

    /// The current mouse mode; `None` before MAIN_INIT.
    pub fn mouse_mode(&self) -> Option<MouseMode> {
        match self.shared.mouse_mode.load(Ordering::Relaxed) {
            mouse_mode::CLIENT => Some(MouseMode::Client),
            mouse_mode::SERVER => Some(MouseMode::Server),
            _ => None,
        }
    }

    /// The guest's lock keys as the server last reported them (INPUTS_INIT / KEY_MODIFIERS).
    pub fn server_lock_modifiers(&self) -> Option<LockModifiers> {
        let v = self.shared.server_modifiers.load(Ordering::Relaxed);
        (v & KNOWN != 0).then(|| LockModifiers::from_wire((v & 0xffff) as u16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_before_link_are_dropped_and_counted() {
        let s = InputsShared::new();
        let h = InputsHandle::new(Arc::clone(&s));
        assert!(!h.is_ready());
        h.send_keys(&[0x1d, 0x38, 0x153]);
        h.mouse_motion(1, 1);
        assert_eq!(h.dropped_commands(), 7);
        assert!(s.take().is_empty());
        // Zero motion is not a command at all.
        h.mouse_motion(0, 0);
        assert_eq!(h.dropped_commands(), 7);
    }

    #[test]
    fn send_keys_is_contiguous_and_mirrored() {
        let s = InputsShared::new();
        s.set_up(true);
        let h = InputsHandle::new(Arc::clone(&s));
        h.send_keys(&[0x1d, 0x38, 0x153]);
        let q: Vec<Command> = s.take().into_iter().collect();
        assert_eq!(
            q,
            vec![
                Command::KeyPress(0x1d),
                Command::KeyPress(0x38),
                Command::KeyPress(0x153),
                Command::KeyRelease(0x153),
                Command::KeyRelease(0x38),
                Command::KeyRelease(0x1d),
            ]
        );
    }

    #[test]
    fn scroll_is_press_release_pairs_and_capped() {
        let s = InputsShared::new();
        s.set_up(true);
        let h = InputsHandle::new(Arc::clone(&s));
        h.scroll(ScrollDirection::Down, 2);
        let q: Vec<Command> = s.take().into_iter().collect();
        assert_eq!(
            q,
            vec![
                Command::ButtonPress(MouseButton::WheelDown),
                Command::ButtonRelease(MouseButton::WheelDown),
                Command::ButtonPress(MouseButton::WheelDown),
                Command::ButtonRelease(MouseButton::WheelDown),
            ]
        );
        h.scroll(ScrollDirection::Up, u32::MAX);
        assert_eq!(s.take().len(), 2 * MAX_SCROLL_STEPS as usize);
    }

    #[test]
    fn queue_is_bounded() {
        let s = InputsShared::new();
        s.set_up(true);
        let h = InputsHandle::new(Arc::clone(&s));
        for _ in 0..MAX_QUEUED_COMMANDS + 10 {
            h.key_press(0x1e);
        }
        assert_eq!(h.dropped_commands(), 10);
        assert_eq!(s.take().len(), MAX_QUEUED_COMMANDS);
    }

    #[test]
    fn modes_and_modifiers_are_reported() {
        let s = InputsShared::new();
        let h = InputsHandle::new(Arc::clone(&s));
        assert_eq!(h.mouse_mode(), None);
        assert_eq!(h.server_lock_modifiers(), None);
        s.set_mouse_mode(mouse_mode::CLIENT);
        assert_eq!(h.mouse_mode(), Some(MouseMode::Client));
        s.set_server_modifiers(LockModifiers {
            num_lock: true,
            ..LockModifiers::default()
        });
        assert_eq!(h.server_lock_modifiers().map(|m| m.num_lock), Some(true));
        h.set_lock_modifiers(LockModifiers {
            caps_lock: true,
            ..LockModifiers::default()
        });
        assert_eq!(s.wanted_modifiers().map(|m| m.caps_lock), Some(true));
    }
}
