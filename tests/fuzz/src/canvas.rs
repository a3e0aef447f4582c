//! `canvas` oracle (hostile-inputs rows 16, 17): arbitrary bytes decoded as a sequence of
//! display messages and applied to a `DisplayState` with a 64x64 xRGB primary surface (id 0),
//! a 16x16 ARGB surface (id 1) and an 8x8 A1 surface (id 2), so draws can use surfaces as
//! sources, masks and patterns.
//!
//! Input: records of `u16 msg_type` (LE), `u16 len` (LE), then `len` body bytes; at most
//! `MAX_MESSAGES` records. Properties: no panic; no surface changes size or disappears unless
//! destroyed; every damage rectangle lies inside its surface. Returns `true` when every record
//! was complete and decoded.

use std::collections::HashMap;

use sumac::display::{DisplayEvent, DisplayState, Limits};
use sumac::proto::Message;
use sumac::proto::channel::display::{DisplayServer, SurfaceCreate, surface_flags, surface_fmt};

/// Most records one input may carry.
pub const MAX_MESSAGES: usize = 64;

/// The surfaces every run starts with: (id, width, height, format, flags).
pub const SURFACES: [(u32, u32, u32, u32, u32); 3] = [
    (0, 64, 64, surface_fmt::XRGB32, surface_flags::PRIMARY),
    (1, 16, 16, surface_fmt::ARGB32, 0),
    (2, 8, 8, surface_fmt::A1, 0),
];

/// A fresh state with the [`SURFACES`].
pub fn state() -> DisplayState {
    let mut s = DisplayState::new(Limits {
        // small budgets so that hostile creates fail fast
        max_surface_dim: 256,
        max_surface_bytes: 256 * 256 * 4,
        max_total_bytes: 1 << 20,
        max_clip_rects: 256,
        ..Limits::default()
    });
    for (surface_id, width, height, format, flags) in SURFACES {
        s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id,
            width,
            height,
            format,
            flags,
        }));
    }
    s
}

pub fn fuzz(data: &[u8]) -> bool {
    let mut s = state();
    let mut dims: HashMap<u32, (u32, u32)> = SURFACES.iter().map(|&(id, w, h, _, _)| (id, (w, h))).collect();
    let mut rest = data;
    let mut accepted = true;
    for _ in 0..MAX_MESSAGES {
        if rest.is_empty() {
            break;
        }
        let (Some(&[t0, t1, l0, l1]), tail) = (rest.get(..4), rest.get(4..).unwrap_or_default()) else {
            accepted = false;
            break;
        };
        let (msg_type, len) = (u16::from_le_bytes([t0, t1]), usize::from(u16::from_le_bytes([l0, l1])));
        let Some(body) = tail.get(..len) else {
            accepted = false;
            break;
        };
        rest = &tail[len..];
        let m = match DisplayServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(_) => {
                accepted = false;
                continue;
            }
        };
        for ev in s.handle(&m) {
            match ev {
                DisplayEvent::SurfaceCreated { id, width, height, .. } => {
                    dims.insert(id, (width, height));
                }
                DisplayEvent::SurfaceDestroyed { id } => {
                    dims.remove(&id);
                }
                DisplayEvent::Damage { surface_id, rect } => {
                    let &(w, h) = dims.get(&surface_id).expect("damage on an unknown surface");
                    assert!(
                        rect.left >= 0
                            && rect.top >= 0
                            && rect.left < rect.right
                            && rect.top < rect.bottom
                            && i64::from(rect.right) <= i64::from(w)
                            && i64::from(rect.bottom) <= i64::from(h),
                        "damage {rect:?} outside {w}x{h}"
                    );
                }
                _ => {}
            }
        }
        for (id, &(w, h)) in &dims {
            let surf = s.surface(*id).expect("a live surface vanished");
            assert_eq!((surf.width, surf.height), (w, h));
            assert_eq!(surf.pixels_bgra().len(), w as usize * h as usize * 4);
        }
    }
    accepted && rest.is_empty()
}
