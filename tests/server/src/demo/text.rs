//! Text for the demo desktop: one DRAW_TEXT (A1 glyphs) per string, from the
//! 8×8 public-domain bitmap font of the `font8x8` crate, optionally doubled.

use crate::scene::{SceneBuilder, base};
use sumac::proto::channel::display::{
    Brush, DisplayServer, GlyphString, Point, RasterGlyph, Rect, TextOp, ropd, string_flags,
};

/// Width of one character cell at scale 1, in pixels (the glyphs are 8×8).
pub const CELL: i32 = 8;

/// The glyph rows of `c`, top to bottom, MSB = leftmost pixel (`?` for what the font lacks).
pub fn glyph_rows(c: char) -> [u8; 8] {
    let table = &font8x8::legacy::BASIC_LEGACY;
    let i = if c.is_ascii() { c as usize } else { '?' as usize };
    // The font stores the leftmost pixel in bit 0.
    table.get(i).copied().unwrap_or([0; 8]).map(u8::reverse_bits)
}

/// The rows of `c` scaled by `scale` (1 or 2), as A1 rows of `scale` bytes each.
fn scaled(c: char, scale: i32) -> Vec<Vec<u8>> {
    let rows = glyph_rows(c);
    if scale == 1 {
        return rows.iter().map(|r| vec![*r]).collect();
    }
    let mut out = Vec::new();
    for r in rows {
        // Each source pixel becomes two: 8 bits → 16 bits.
        let mut wide = 0u16;
        for b in 0..8 {
            if r & (0x80 >> b) != 0 {
                wide |= 0xc000 >> (2 * b);
            }
        }
        for _ in 0..scale {
            out.push(wide.to_be_bytes().to_vec());
        }
    }
    out
}

impl SceneBuilder {
    /// DRAW_TEXT of `s` with its top-left corner at (x, y): one glyph per
    /// character, `CELL × scale` pixels apart; `scale` is 1 or 2.
    pub fn text_mut(&mut self, x: i32, y: i32, s: &str, color: u32, scale: i32) {
        let scale = scale.clamp(1, 2);
        let size = CELL * scale;
        let n = s.chars().count() as i32;
        if n == 0 {
            return;
        }
        let rgb = [(color >> 16) as u8, (color >> 8) as u8, color as u8];
        let mut glyphs = Vec::new();
        for (i, c) in s.chars().enumerate() {
            let gx = x + i as i32 * size;
            let rows = scaled(c, scale);
            for (dy, row) in rows.iter().enumerate() {
                for dx in 0..size {
                    let byte = row.get((dx / 8) as usize).copied().unwrap_or(0);
                    if byte & (0x80 >> (dx % 8)) != 0 {
                        self.put(gx + dx, y + dy as i32, rgb);
                    }
                }
            }
            glyphs.push(RasterGlyph {
                render_pos: Point { x: gx, y: y + size },
                glyph_origin: Point { x: 0, y: -size },
                width: size as u16,
                height: size as u16,
                // On the wire glyph rows go bottom-up.
                data: rows.into_iter().rev().flatten().collect(),
            });
        }
        self.push(DisplayServer::DrawText {
            base: base(x, y, n * size, size),
            text: TextOp {
                string: GlyphString {
                    flags: string_flags::RASTER_A1,
                    glyphs,
                },
                back_area: Rect::default(),
                fore_brush: Brush::Solid(color),
                back_brush: Brush::None,
                fore_mode: ropd::OP_PUT,
                back_mode: ropd::OP_PUT,
            },
        });
    }
}
