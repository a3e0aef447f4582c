//! The software screen layer: the monitor's pixels as a grid of tiles, each
//! kept as its own render node.
//!
//! GTK 4 repaints a widget as a whole, but GSK compares the new render-node
//! tree with the previous frame's and repaints only what differs: a node that
//! is the *same object* as last frame costs nothing. So each tile keeps its
//! node until a damaged rectangle touches it; then only that tile is copied
//! out of the surface and gets a new node. An update of a few pixels repaints
//! (and, on GSK's GL renderer, uploads) one tile instead of the whole window.
//!
//! Two node kinds, picked from the renderer GTK draws the window with:
//! * [`NodeKind::Cairo`] for GSK's cairo renderer: a cairo node whose
//!   recording paints the tile's image (GSK's cairo renderer would copy a
//!   texture node's pixels on every frame, tile or not);
//! * [`NodeKind::Texture`] for GSK's GL renderer: a memory texture, uploaded
//!   once per change and cached by GSK.

use super::damage::{Area, Source};
use super::scaling::Placement;
use crate::display::Surface;
use gtk::prelude::*;
use gtk::{cairo, gdk, glib, graphene, gsk};

/// Tile edge in surface pixels.
pub(crate) const TILE: u32 = 128;

/// The render node type the tiles are made of.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// Cairo nodes (for GSK's cairo renderer).
    #[default]
    Cairo,
    /// Texture nodes (for GSK's GL renderer).
    Texture,
}

impl NodeKind {
    /// The kind suited to the renderer `widget`'s window is drawn with.
    pub(crate) fn for_widget(widget: &gtk::Widget) -> NodeKind {
        let cairo = widget
            .native()
            .and_then(|n| n.renderer())
            .is_some_and(|r| r.is::<gsk::CairoRenderer>());
        if cairo { NodeKind::Cairo } else { NodeKind::Texture }
    }
}

/// One monitor rectangle as tiles of at most [`TILE`]² pixels, row-major.
#[derive(Debug, Default)]
pub(crate) struct CairoLayer {
    /// The monitor rectangle the tiles cover (tile (0, 0) starts at its origin).
    rect: Option<Area>,
    kind: NodeKind,
    cols: u32,
    rows: u32,
    tiles: Vec<Option<gsk::RenderNode>>,
    /// Scratch: which tiles the current update touches.
    dirty: Vec<bool>,
}

impl CairoLayer {
    /// Makes the grid match `source`'s monitor rectangle; returns true when it
    /// was rebuilt, i.e. everything must be copied again.
    pub(crate) fn prepare(&mut self, source: &Source) -> bool {
        if self.rect == Some(source.rect) && !self.tiles.is_empty() {
            return false;
        }
        let cols = source.rect.w.div_ceil(TILE);
        let rows = source.rect.h.div_ceil(TILE);
        let n = usize::try_from(u64::from(cols) * u64::from(rows)).unwrap_or(0);
        self.tiles = vec![None; n];
        self.dirty = vec![false; n];
        self.cols = cols;
        self.rows = rows;
        self.rect = Some(source.rect);
        true
    }

    /// Switches the node kind; returns true when it changed (every tile is
    /// dropped: the caller must copy everything again).
    pub(crate) fn set_kind(&mut self, kind: NodeKind) -> bool {
        if self.kind == kind {
            return false;
        }
        self.kind = kind;
        self.tiles.iter_mut().for_each(|t| *t = None);
        true
    }

    /// The number of tiles holding a node.
    #[cfg(test)]
    pub(crate) fn tiles_built(&self) -> usize {
        self.tiles.iter().filter(|t| t.is_some()).count()
    }

    /// Rebuilds the tiles the damaged `areas` (surface coordinates) touch,
    /// copying them from `surface` (the caller holds the display-state lock).
    pub(crate) fn update(&mut self, surface: &Surface, areas: &[Area]) {
        let Some(rect) = self.rect else { return };
        self.dirty.iter_mut().for_each(|d| *d = false);
        for a in areas {
            let Some(a) = a.intersect(&rect) else { continue };
            let (x0, y0) = ((a.x - rect.x) / TILE, (a.y - rect.y) / TILE);
            let x1 = (a.x - rect.x + a.w).div_ceil(TILE).min(self.cols);
            let y1 = (a.y - rect.y + a.h).div_ceil(TILE).min(self.rows);
            for row in y0..y1 {
                for col in x0..x1 {
                    if let Some(d) = self.index(col, row).and_then(|i| self.dirty.get_mut(i)) {
                        *d = true;
                    }
                }
            }
        }
        for row in 0..self.rows {
            for col in 0..self.cols {
                let Some(i) = self.index(col, row) else { continue };
                if !self.dirty.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let node = self.build_tile(surface, &rect, col, row);
                if node.is_none() {
                    tracing::warn!(col, row, "screen layer: cannot build a tile");
                }
                if let Some(slot) = self.tiles.get_mut(i) {
                    *slot = node;
                }
            }
        }
    }

    fn index(&self, col: u32, row: u32) -> Option<usize> {
        (col < self.cols && row < self.rows)
            .then(|| usize::try_from(u64::from(row) * u64::from(self.cols) + u64::from(col)).ok())
            .flatten()
    }

    /// Copies tile (`col`, `row`) out of `surface` into a new node whose
    /// bounds are the tile's rectangle relative to the monitor's origin.
    fn build_tile(&self, surface: &Surface, rect: &Area, col: u32, row: u32) -> Option<gsk::RenderNode> {
        let tx = col.checked_mul(TILE)?;
        let ty = row.checked_mul(TILE)?;
        let tw = rect.w.checked_sub(tx)?.min(TILE);
        let th = rect.h.checked_sub(ty)?.min(TILE);
        let area = Area {
            x: rect.x.checked_add(tx)?,
            y: rect.y.checked_add(ty)?,
            w: tw,
            h: th,
        };
        let bounds = graphene::Rect::new(tx as f32, ty as f32, tw as f32, th as f32);
        match self.kind {
            NodeKind::Texture => texture_tile(surface, &area, &bounds),
            NodeKind::Cairo => cairo_tile(surface, &area, &bounds),
        }
    }

    /// Appends the tiles at `placement` (logical widget coordinates).
    pub(crate) fn snapshot(&self, snapshot: &gtk::Snapshot, placement: &Placement) {
        let Some(rect) = self.rect else { return };
        let (x, y, w, h) = placement.logical_rect();
        snapshot.save();
        snapshot.translate(&graphene::Point::new(x as f32, y as f32));
        snapshot.scale(
            (w / f64::from(rect.w.max(1))) as f32,
            (h / f64::from(rect.h.max(1))) as f32,
        );
        for node in self.tiles.iter().flatten() {
            snapshot.append_node(node);
        }
        snapshot.restore();
    }
}

/// A texture node of the tile's pixels (alpha forced opaque: the surface's
/// fourth byte is padding for RGB surfaces).
fn texture_tile(surface: &Surface, area: &Area, bounds: &graphene::Rect) -> Option<gsk::RenderNode> {
    let stride = usize::try_from(area.w).ok()?.checked_mul(4)?;
    let mut pixels = gather(surface, area)?;
    for px in pixels.chunks_exact_mut(4) {
        if let Some(a) = px.get_mut(3) {
            *a = 0xff;
        }
    }
    let bytes = glib::Bytes::from_owned(pixels);
    let texture = gdk::MemoryTexture::new(
        i32::try_from(area.w).ok()?,
        i32::try_from(area.h).ok()?,
        gdk::MemoryFormat::B8g8r8a8Premultiplied,
        &bytes,
        stride,
    );
    Some(gsk::TextureNode::new(&texture, bounds).upcast())
}

/// The pixels of `area` (inside `surface`), rows of 4 × width bytes, copied
/// without zero-filling the buffer first.
fn gather(surface: &Surface, area: &Area) -> Option<Vec<u8>> {
    let (x, y) = (usize::try_from(area.x).ok()?, usize::try_from(area.y).ok()?);
    let (w, h) = (usize::try_from(area.w).ok()?, usize::try_from(area.h).ok()?);
    let row = w.checked_mul(4)?;
    let src = surface.pixels_bgra();
    let stride = surface.stride();
    let mut out = Vec::with_capacity(row.checked_mul(h)?);
    for r in 0..h {
        let start = y.checked_add(r)?.checked_mul(stride)?.checked_add(x.checked_mul(4)?)?;
        out.extend_from_slice(src.get(start..start.checked_add(row)?)?);
    }
    Some(out)
}

/// A cairo node painting a new image of the tile's pixels (never written
/// again: a later change makes a new tile).
fn cairo_tile(surface: &Surface, area: &Area, bounds: &graphene::Rect) -> Option<gsk::RenderNode> {
    let (w, h) = (i32::try_from(area.w).ok()?, i32::try_from(area.h).ok()?);
    // RGB24 rows of exactly 4 × width bytes: cairo's stride for that width.
    let stride = cairo::Format::Rgb24.stride_for_width(area.w).ok()?;
    if usize::try_from(stride).ok()? != usize::try_from(area.w).ok()?.checked_mul(4)? {
        return None;
    }
    let image =
        cairo::ImageSurface::create_for_data(gather(surface, area)?, cairo::Format::Rgb24, w, h, stride).ok()?;
    let node = gsk::CairoNode::new(bounds);
    {
        let cr = node.draw_context();
        let (x, y) = (f64::from(bounds.x()), f64::from(bounds.y()));
        cr.set_source_surface(&image, x, y).ok()?;
        // Scaled, the filter samples past the tile's edge: repeat the edge
        // pixel instead of fading to transparent.
        cr.source().set_extend(cairo::Extend::Pad);
        // Without antialiasing a scaled tile edge covers whole device pixels,
        // so neighbouring tiles neither overlap nor leave a seam.
        cr.set_antialias(cairo::Antialias::None);
        cr.rectangle(x, y, f64::from(bounds.width()), f64::from(bounds.height()));
        cr.fill().ok()?;
    }
    // The recording holds a copy-on-write snapshot of `image`; dropping the
    // image here makes cairo (1.16) copy the pixels into that snapshot. That
    // second copy of each rebuilt tile is the price of GSK's cairo renderer
    // having no node that draws an image it does not own (a texture node
    // would be copied out on every frame instead).
    drop(image);
    Some(node.upcast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::SurfaceFormat;

    fn source(rect: Area) -> Source {
        Source {
            surface_id: 0,
            surface_width: 300,
            surface_height: 200,
            rect,
        }
    }

    fn surface(w: u32, h: u32) -> Surface {
        let mut s = Surface::new(0, w, h, SurfaceFormat::Xrgb32, true).unwrap();
        for (i, b) in s.pixels_mut().iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        s
    }

    #[gtk::test]
    fn grid_covers_the_monitor_and_only_damaged_tiles_are_rebuilt() {
        let s = surface(300, 200);
        let rect = Area {
            x: 0,
            y: 0,
            w: 300,
            h: 200,
        };
        let mut layer = CairoLayer::default();
        assert!(layer.prepare(&source(rect)));
        assert!(!layer.prepare(&source(rect)));
        assert_eq!((layer.cols, layer.rows), (3, 2));
        layer.update(&s, &[rect]);
        assert_eq!(layer.tiles_built(), 6);
        let before: Vec<_> = layer.tiles.clone();
        // A rectangle inside tile (1, 1) only.
        layer.update(
            &s,
            &[Area {
                x: 130,
                y: 140,
                w: 5,
                h: 5,
            }],
        );
        let changed: Vec<usize> = (0..6)
            .filter(|&i| before[i].as_ref().map(|n| n.as_ptr()) != layer.tiles[i].as_ref().map(|n| n.as_ptr()))
            .collect();
        assert_eq!(changed, vec![4]);
        // Straddling the corner of four tiles, and clipped at the right edge.
        let before: Vec<_> = layer.tiles.clone();
        layer.update(
            &s,
            &[Area {
                x: 120,
                y: 120,
                w: 200,
                h: 20,
            }],
        );
        let changed: Vec<usize> = (0..6)
            .filter(|&i| before[i].as_ref().map(|n| n.as_ptr()) != layer.tiles[i].as_ref().map(|n| n.as_ptr()))
            .collect();
        assert_eq!(changed, vec![0, 1, 2, 3, 4, 5]);
    }

    #[gtk::test]
    fn edge_tiles_are_clipped_and_bounds_follow_the_monitor_origin() {
        let s = surface(300, 200);
        // A monitor at (44, 8) of 256 x 130 on the surface.
        let rect = Area {
            x: 44,
            y: 8,
            w: 256,
            h: 130,
        };
        for kind in [NodeKind::Cairo, NodeKind::Texture] {
            let mut layer = CairoLayer::default();
            layer.set_kind(kind);
            layer.prepare(&source(rect));
            layer.update(&s, &[rect]);
            assert_eq!(layer.tiles_built(), 4);
            let b = layer.tiles[3].as_ref().unwrap().bounds();
            assert_eq!((b.x(), b.y(), b.width(), b.height()), (128.0, 128.0, 128.0, 2.0));
        }
    }

    #[gtk::test]
    fn texture_tiles_hold_the_surface_pixels_opaque() {
        let s = surface(200, 150);
        let rect = Area {
            x: 10,
            y: 20,
            w: 190,
            h: 130,
        };
        let mut layer = CairoLayer::default();
        layer.set_kind(NodeKind::Texture);
        layer.prepare(&source(rect));
        layer.update(&s, &[rect]);
        // Tile (1, 0): surface pixels from (138, 20), 62 x 128.
        let node = layer.tiles[1].clone().unwrap().downcast::<gsk::TextureNode>().unwrap();
        let tex = node.texture();
        assert_eq!((tex.width(), tex.height()), (62, 128));
        let mut out = vec![0u8; 62 * 128 * 4];
        tex.download(&mut out, 62 * 4);
        for (row, line) in out.chunks_exact(62 * 4).enumerate() {
            let off = (20 + row) * s.stride() + 138 * 4;
            let want = &s.pixels_bgra()[off..off + 62 * 4];
            for (g, w) in line.chunks_exact(4).zip(want.chunks_exact(4)) {
                assert_eq!(&g[..3], &w[..3]);
                assert_eq!(g[3], 0xff);
            }
        }
    }

    #[gtk::test]
    fn changing_the_kind_drops_every_tile() {
        let s = surface(130, 10);
        let rect = Area {
            x: 0,
            y: 0,
            w: 130,
            h: 10,
        };
        let mut layer = CairoLayer::default();
        layer.prepare(&source(rect));
        layer.update(&s, &[rect]);
        assert_eq!(layer.tiles_built(), 2);
        assert!(!layer.set_kind(NodeKind::Cairo));
        assert!(layer.set_kind(NodeKind::Texture));
        assert_eq!(layer.tiles_built(), 0);
    }
}
