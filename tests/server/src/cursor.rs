//! The cursor channel of the test server: a scripted list of cursor messages
//! sent right after the link (INIT first), plus a cursor circling the screen
//! in demo mode.
//!
//! Shapes are built from a [`Design`] (per-pixel: transparent or an opaque
//! colour) encoded into each wire type by code written here, independently of
//! Sumac's decoder, so a test can compare what the client decoded with the
//! design itself.

use sumac::proto::channel::cursor::{Cursor, CursorHeader, CursorInit, CursorServer, CursorSet, CursorType, flags};
use sumac::proto::channel::display::Point16;

/// What the cursor channel sends after the link, in order.
#[derive(Debug, Clone)]
pub struct CursorScript {
    pub messages: Vec<CursorServer>,
}

/// A shape as the guest means it: `None` = transparent, `Some([r, g, b])` = opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Design {
    pub width: u16,
    pub height: u16,
    pub hot_x: u16,
    pub hot_y: u16,
    pub pixels: Vec<Option<[u8; 3]>>,
}

impl Design {
    /// The straight RGBA a correct client decodes (transparent = all zero).
    pub fn expected_rgba(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .flat_map(|p| match p {
                Some([r, g, b]) => [*r, *g, *b, 0xff],
                None => [0, 0, 0, 0],
            })
            .collect()
    }

    fn at(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        self.pixels[y * usize::from(self.width) + x]
    }

    /// Distinct colours, in first-seen order (for the palette types).
    fn colours(&self) -> Vec<[u8; 3]> {
        let mut out: Vec<[u8; 3]> = Vec::new();
        for c in self.pixels.iter().flatten() {
            if !out.contains(c) {
                out.push(*c);
            }
        }
        out
    }
}

/// The classic arrow, 12 x 19, black with a white inside, hot spot at the tip.
pub fn arrow() -> Design {
    const ROWS: [&str; 19] = [
        "X...........",
        "XX..........",
        "X#X.........",
        "X##X........",
        "X###X.......",
        "X####X......",
        "X#####X.....",
        "X######X....",
        "X#######X...",
        "X########X..",
        "X#########X.",
        "X######XXXXX",
        "X###X##X....",
        "X##X.X##X...",
        "X#X..X##X...",
        "XX....X##X..",
        "X.....X##X..",
        ".......X##X.",
        ".......XXX..",
    ];
    let pixels = ROWS
        .iter()
        .flat_map(|r| {
            r.chars().map(|c| match c {
                'X' => Some([0, 0, 0]),
                '#' => Some([0xff, 0xff, 0xff]),
                _ => None,
            })
        })
        .collect();
    Design {
        width: 12,
        height: 19,
        hot_x: 0,
        hot_y: 0,
        pixels,
    }
}

/// A colourful 9 x 5 design (odd width, to exercise padded rows): colours are
/// exact in every type, including 16-bit (0x84 = 5-bit 16 widened).
pub fn colour_design() -> Design {
    let palette = [
        Some([0xff, 0, 0]),
        Some([0, 0xff, 0]),
        Some([0, 0, 0xff]),
        Some([0x84, 0x84, 0x84]),
        Some([0, 0, 0]),
        None,
    ];
    let (width, height) = (9u16, 5u16);
    let pixels = (0..usize::from(width) * usize::from(height))
        .map(|i| palette[(i * 7 + i / 9) % palette.len()])
        .collect();
    Design {
        width,
        height,
        hot_x: 4,
        hot_y: 2,
        pixels,
    }
}

/// A black-and-white 10 x 3 design for MONO.
pub fn mono_design() -> Design {
    let pixels = (0..30)
        .map(|i| match i % 3 {
            0 => Some([0, 0, 0]),
            1 => Some([0xff, 0xff, 0xff]),
            _ => None,
        })
        .collect();
    Design {
        width: 10,
        height: 3,
        hot_x: 9,
        hot_y: 2,
        pixels,
    }
}

fn mask_rows(d: &Design, bit: impl Fn(Option<[u8; 3]>) -> bool) -> Vec<u8> {
    let row = usize::from(d.width).div_ceil(8);
    let mut out = vec![0u8; row * usize::from(d.height)];
    for y in 0..usize::from(d.height) {
        for x in 0..usize::from(d.width) {
            if bit(d.at(x, y)) {
                out[y * row + x / 8] |= 0x80 >> (x % 8);
            }
        }
    }
    out
}

/// Encodes `d` as `ty` data. MONO only knows black and white; palette types
/// hold at most 16 (COLOR4) or 256 (COLOR8) colours.
pub fn encode(d: &Design, ty: CursorType) -> Vec<u8> {
    let (w, h) = (usize::from(d.width), usize::from(d.height));
    // Transparent pixels: AND set, colour black (never "white under mask").
    let and = mask_rows(d, |p| p.is_none());
    let mut out = Vec::new();
    match ty {
        CursorType::Alpha => {
            for p in &d.pixels {
                let [r, g, b] = p.unwrap_or([0, 0, 0]);
                let a = if p.is_some() { 0xff } else { 0 };
                out.extend_from_slice(&[b, g, r, a]);
            }
        }
        CursorType::Mono => {
            out.extend(and);
            out.extend(mask_rows(d, |p| p == Some([0xff, 0xff, 0xff])));
        }
        CursorType::Color4 | CursorType::Color8 => {
            let colours = d.colours();
            let index = |p: Option<[u8; 3]>| -> u8 {
                p.and_then(|c| colours.iter().position(|&k| k == c))
                    .map_or(0, |i| u8::try_from(i).expect("palette index"))
            };
            let entries = ty.palette_entries();
            assert!(colours.len() <= entries, "too many colours for {ty:?}");
            for y in 0..h {
                if ty == CursorType::Color4 {
                    let mut row = vec![0u8; w.div_ceil(2)];
                    for x in 0..w {
                        let i = index(d.at(x, y));
                        row[x / 2] |= if x % 2 == 0 { i << 4 } else { i };
                    }
                    out.extend(row);
                } else {
                    out.extend((0..w).map(|x| index(d.at(x, y))));
                }
            }
            for i in 0..entries {
                let [r, g, b] = colours.get(i).copied().unwrap_or([0, 0, 0]);
                out.extend_from_slice(&[b, g, r, 0]);
            }
            // Transparent pixels use index 0: make sure it is not white.
            assert_ne!(colours.first(), Some(&[0xff, 0xff, 0xff]), "index 0 must not be white");
            out.extend(and);
        }
        CursorType::Color16 => {
            for p in &d.pixels {
                let [r, g, b] = p.unwrap_or([0, 0, 0]);
                let v = (u16::from(r >> 3) << 10) | (u16::from(g >> 3) << 5) | u16::from(b >> 3);
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend(and);
        }
        CursorType::Color24 => {
            for p in &d.pixels {
                let [r, g, b] = p.unwrap_or([0, 0, 0]);
                out.extend_from_slice(&[b, g, r]);
            }
            out.extend(and);
        }
        CursorType::Color32 => {
            for p in &d.pixels {
                let [r, g, b] = p.unwrap_or([0, 0, 0]);
                out.extend_from_slice(&[b, g, r, 0]);
            }
            out.extend(and);
        }
    }
    out
}

/// A `SpiceCursor` carrying `d` inline as `ty`.
pub fn shape(d: &Design, ty: CursorType, unique: u64, cursor_flags: u16) -> Cursor {
    Cursor {
        flags: cursor_flags,
        header: Some(CursorHeader {
            unique,
            cursor_type: ty.to_wire(),
            width: d.width,
            height: d.height,
            hot_spot_x: d.hot_x,
            hot_spot_y: d.hot_y,
        }),
        data: encode(d, ty),
    }
}

/// A `SpiceCursor` naming cached shape `unique`.
pub fn from_cache(unique: u64) -> Cursor {
    Cursor {
        flags: flags::FROM_CACHE,
        header: Some(CursorHeader {
            unique,
            cursor_type: CursorType::Alpha.to_wire(),
            width: 0,
            height: 0,
            hot_spot_x: 0,
            hot_spot_y: 0,
        }),
        data: Vec::new(),
    }
}

/// CURSOR_INIT showing `cursor` at (x, y).
pub fn init(cursor: Cursor, x: i16, y: i16) -> CursorServer {
    CursorServer::Init(CursorInit {
        position: Point16 { x, y },
        trail_length: 0,
        trail_frequency: 0,
        visible: 1,
        cursor,
    })
}

/// CURSOR_SET of `cursor` at (x, y).
pub fn set(cursor: Cursor, x: i16, y: i16, visible: bool) -> CursorServer {
    CursorServer::Set(CursorSet {
        position: Point16 { x, y },
        visible: u8::from(visible),
        cursor,
    })
}

/// The unique id of the standard arrow.
pub const ARROW_ID: u64 = 0x5a5a_0001;

/// The default script: the arrow (ALPHA, cached) at (20, 20).
pub fn standard() -> CursorScript {
    CursorScript {
        messages: vec![init(
            shape(&arrow(), CursorType::Alpha, ARROW_ID, flags::CACHE_ME),
            20,
            20,
        )],
    }
}

/// Demo mode: where the cursor is at `frame` (one every 40 ms), circling the centre.
pub fn demo_move(frame: u32, width: u32, height: u32) -> CursorServer {
    let t = f64::from(frame % 250) / 250.0 * std::f64::consts::TAU;
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let r = cx.min(cy) * 0.6;
    let clamp = |v: f64| v.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
    CursorServer::Move {
        position: Point16 {
            x: clamp(cx + r * t.cos()),
            y: clamp(cy + r * t.sin()),
        },
    }
}
