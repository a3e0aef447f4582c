//! The guest monitor layout (MONITORS_CONFIG, reference §4.4).
//!
//! The embedder gives the layout it wants, in device pixels; the machine
//! encodes it once the agent's capabilities are known: `USE_POS` always (as
//! spice-gtk), `PHYSICAL_SIZE` when an enabled head has a physical size,
//! disabled heads kept in place as 0×0 only for agents with
//! SPARSE_MONITORS_CONFIG (otherwise left out), depth 32. Debouncing (a
//! window being resized sends many layouts) is the embedder's business;
//! within one batch of commands only the last layout is sent.
//!
//! With QEMU's qxl device the server hands the layout to the device (the
//! guest kernel raises a DRM hotplug event) and the agent never sees it, so
//! no REPLY comes; agents that do get it answer with REPLY, reported as
//! [`AgentEvent::Reply`](super::AgentEvent::Reply).

use super::types::MonitorSpec;
use crate::proto::vdagent::control::monitors_flag;
use crate::proto::vdagent::{MonConfig, MonitorsConfig};

/// Most heads sent (spice-gtk's `MAX_DISPLAY`).
pub const MAX_HEADS: usize = 16;
/// Largest width or height of a head, in pixels.
pub const MAX_HEAD_SIZE: u32 = 16384;

/// Why a layout cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    #[error("no enabled monitor in the layout")]
    NoHead,
    #[error("{0} monitors; at most {MAX_HEADS}")]
    TooManyHeads(usize),
    #[error("monitor {index}: {width}x{height} is not between 1x1 and {MAX_HEAD_SIZE}x{MAX_HEAD_SIZE}")]
    BadSize { index: usize, width: u32, height: u32 },
}

/// Checks a layout before it is queued.
pub fn check_layout(heads: &[MonitorSpec]) -> Result<(), LayoutError> {
    if heads.len() > MAX_HEADS {
        return Err(LayoutError::TooManyHeads(heads.len()));
    }
    if !heads.iter().any(|h| h.enabled) {
        return Err(LayoutError::NoHead);
    }
    for (index, h) in heads.iter().enumerate().filter(|(_, h)| h.enabled) {
        let ok = |v: u32| (1..=MAX_HEAD_SIZE).contains(&v);
        if !ok(h.width) || !ok(h.height) {
            return Err(LayoutError::BadSize {
                index,
                width: h.width,
                height: h.height,
            });
        }
    }
    Ok(())
}

/// The message for `heads` (`sparse`: the agent keeps disabled heads in place).
pub(super) fn encode(heads: &[MonitorSpec], sparse: bool) -> Result<MonitorsConfig, LayoutError> {
    check_layout(heads)?;
    let kept: Vec<&MonitorSpec> = heads.iter().filter(|h| h.enabled || sparse).collect();
    let physical = kept.iter().any(|h| h.enabled && (h.width_mm > 0 || h.height_mm > 0));
    let mut flags = monitors_flag::USE_POS;
    if physical {
        flags |= monitors_flag::PHYSICAL_SIZE;
    }
    let monitors = kept
        .into_iter()
        .map(|h| {
            if h.enabled {
                MonConfig {
                    height: h.height,
                    width: h.width,
                    depth: 32,
                    x: h.x,
                    y: h.y,
                    height_mm: h.height_mm,
                    width_mm: h.width_mm,
                }
            } else {
                MonConfig {
                    depth: 32,
                    ..MonConfig::default()
                }
            }
        })
        .collect();
    Ok(MonitorsConfig { flags, monitors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_checked_and_disabled_heads_follow_the_sparse_cap() {
        assert_eq!(check_layout(&[]), Err(LayoutError::NoHead));
        let off = MonitorSpec::default();
        assert_eq!(check_layout(&[off]), Err(LayoutError::NoHead));
        assert!(matches!(
            check_layout(&[MonitorSpec::new(0, 0, 0, 10)]),
            Err(LayoutError::BadSize { index: 0, .. })
        ));
        assert_eq!(
            check_layout(&[MonitorSpec::new(0, 0, 10, 10); 17]),
            Err(LayoutError::TooManyHeads(17))
        );
        let a = MonitorSpec::new(0, 0, 1280, 800);
        let b = MonitorSpec::new(1280, 0, 1024, 768);
        let dense = encode(&[a, off, b], false).unwrap();
        assert_eq!(dense.flags, monitors_flag::USE_POS);
        assert_eq!(dense.monitors.len(), 2);
        assert_eq!((dense.monitors[1].width, dense.monitors[1].x), (1024, 1280));
        let sparse = encode(&[a, off, b], true).unwrap();
        assert_eq!(sparse.monitors.len(), 3);
        assert!(sparse.monitors[1].is_disabled());
        let mm = MonitorSpec {
            width_mm: 340,
            height_mm: 210,
            ..a
        };
        let with_mm = encode(&[mm], false).unwrap();
        assert_eq!(with_mm.flags, monitors_flag::USE_POS | monitors_flag::PHYSICAL_SIZE);
        assert_eq!(
            (with_mm.monitors[0].width_mm, with_mm.monitors[0].height_mm),
            (340, 210)
        );
    }
}
