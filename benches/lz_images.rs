//! 1920x1080 B,G,R,X test images shared by the `lz` and `glz` benches (not a bench itself).

#![allow(dead_code)]

pub const W: u32 = 1920;
pub const H: u32 = 1080;

/// B,G,R,X pixels of a desktop with text: a title bar, a sidebar gradient and lines of "glyphs".
pub fn text_like() -> Vec<u8> {
    let glyphs: Vec<u16> = (0..64u32).map(|i| (i.wrapping_mul(0x9E37_79B1) >> 16) as u16).collect();
    let mut px = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            let v: [u8; 4] = if y < 32 {
                [0x30, 0x30, 0x30, 0]
            } else if x < 240 {
                [(y / 5) as u8, 0x70, 0x90, 0]
            } else if (y / 16) % 2 == 0 && (y % 16) < 12 {
                // a glyph is an 8x12 bitmap picked by the column and the line
                let g = glyphs[((x / 8 + (y / 16) * 7) % 64) as usize];
                let bit = (g >> ((x % 8) + (y % 12) % 8)) & 1;
                if bit == 1 {
                    [0x20, 0x20, 0x20, 0]
                } else {
                    [0xfa, 0xfa, 0xfa, 0]
                }
            } else {
                [0xfa, 0xfa, 0xfa, 0]
            };
            px.extend_from_slice(&v);
        }
    }
    px
}

/// Smooth gradients with noise: mostly literals.
pub fn photo_like() -> Vec<u8> {
    let mut seed = 0x1234_5678u32;
    let mut px = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = (seed >> 28) as u8;
            px.extend_from_slice(&[(x / 8) as u8 ^ n, (y / 5) as u8 + n, ((x + y) / 12) as u8, 0]);
        }
    }
    px
}
