//! The demo desktop (`sumac-test-server --demo`, `scripts/demo`): a 1024×768
//! scene a person recognises at once — a top panel with a session clock,
//! desktop icons, a terminal that echoes what is typed, an animated window,
//! a window moving across the desktop, and a mark wherever the user clicks.
//!
//! Everything is drawn with lossless operations (solid fills, A1 text,
//! COPY_BITS), each one also painted into the expected image of a
//! [`SceneBuilder`], so a test can compare a client's pixels with what the
//! server meant, at any moment, and the effect of a key or a click.
//!
//! Each display channel runs its own [`Desktop`] (the animation starts when it
//! connects); the inputs channel records keys and clicks in [`DemoInputs`],
//! which every desktop replays from the start, so a reconnecting client sees
//! what was typed before.

mod input;
mod text;

pub use input::{DemoInput, DemoInputs, us_char};
pub use text::{CELL, glyph_rows};

use crate::scene::{Scene, SceneBuilder};
use sumac::proto::channel::display::DisplayServer;

pub const WIDTH: u32 = 1024;
pub const HEIGHT: u32 = 768;
/// Milliseconds between two animation frames.
pub const FRAME_MS: u64 = 40;

const BG: u32 = 0x00_2f_5f_80;
const PANEL: u32 = 0x00_1c_1c_1c;
const WHITE: u32 = 0x00_ff_ff_ff;
const LIGHT: u32 = 0x00_dd_dd_dd;
const GREEN: u32 = 0x00_5f_d7_5f;
const TITLE: u32 = 0x00_3a_3a_3a;
const PANEL_H: i32 = 28;
const TITLE_H: i32 = 24;

/// The terminal window: where typed keys are echoed.
pub const TERM: (i32, i32, i32, i32) = (140, 56, 560, 304);
const TERM_BODY: u32 = 0x00_12_12_12;
const LINE_H: i32 = 14;
const TERM_TEXT: [(&str, u32); 7] = [
    ("$ sumac-test-server --demo", GREEN),
    (
        "Welcome to Sumac! This desktop is drawn by the SPICE test server",
        LIGHT,
    ),
    ("with lossless draw commands: fills, text and COPY_BITS.", LIGHT),
    ("Type on your keyboard: the keys are echoed below.", LIGHT),
    ("Click anywhere: a mark is drawn where you clicked.", LIGHT),
    ("", LIGHT),
    ("$ cat", GREEN),
];
/// The echo area inside the terminal: (x, y, columns, rows).
pub const ECHO: (i32, i32, i32, i32) = (
    TERM.0 + 12,
    TERM.1 + TITLE_H + 12 + TERM_TEXT.len() as i32 * LINE_H,
    (TERM.2 - 24) / CELL,
    (TERM.1 + TERM.3 - 8 - (TERM.1 + TITLE_H + 12 + TERM_TEXT.len() as i32 * LINE_H)) / LINE_H,
);

/// The animated window (bars of an equalizer).
pub const ANIM: (i32, i32, i32, i32) = (730, 56, 264, 220);
const ANIM_BODY: u32 = 0x00_20_20_30;
const BARS: i32 = 12;

/// The moving window: its size, its row and the span of its left edge.
pub const MOVER: (i32, i32) = (240, 110);
pub const MOVER_Y: i32 = 420;
pub const MOVER_X: (i32, i32) = (140, WIDTH as i32 - 24 - MOVER.0);
const MOVER_STEP: i32 = 4;

/// Where the hint line is drawn.
pub const HINT_Y: i32 = 724;

const MARK_COLORS: [u32; 5] = [
    0x00_ff_55_55,
    0x00_ff_d7_00,
    0x00_55_ff_55,
    0x00_55_cc_ff,
    0x00_ff_55_ff,
];

/// One client's view of the demo desktop: its state and its canvas.
#[derive(Debug)]
pub struct Desktop {
    canvas: SceneBuilder,
    frame: u32,
    col: i32,
    row: i32,
    shift: bool,
    cursor_on: bool,
    mover_x: i32,
    mover_dx: i32,
    clicks: u32,
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

impl Desktop {
    /// The desktop at frame 0, fully drawn (its messages end with MARK).
    pub fn new() -> Self {
        let mut d = Self {
            canvas: SceneBuilder::new(WIDTH, HEIGHT),
            frame: 0,
            col: 0,
            row: 0,
            shift: false,
            cursor_on: true,
            mover_x: MOVER_X.0,
            mover_dx: MOVER_STEP,
            clicks: 0,
        };
        d.draw_all();
        d.canvas.push(DisplayServer::Mark);
        d
    }

    /// The first frame as a static [`Scene`] (what `ServerConfig::scene` holds in demo mode).
    pub fn scene() -> Scene {
        let mut d = Self::new();
        Scene {
            messages: d.take_messages(),
            width: WIDTH,
            height: HEIGHT,
            expected_rgb: d.expected_rgb().to_vec(),
        }
    }

    /// The messages drawn since the last call.
    pub fn take_messages(&mut self) -> Vec<DisplayServer> {
        self.canvas.take_messages()
    }

    /// What a correct client shows now, as RGB8 rows of `WIDTH` pixels.
    pub fn expected_rgb(&self) -> &[u8] {
        self.canvas.expected_rgb()
    }

    /// Frames drawn since the start.
    pub fn frame(&self) -> u32 {
        self.frame
    }

    fn window(&mut self, (x, y, w, h): (i32, i32, i32, i32), title: &str, title_bg: u32, body: u32) {
        let c = &mut self.canvas;
        c.fill_mut(x, y, w, TITLE_H, title_bg);
        c.text_mut(x + 10, y + 8, title, WHITE, 1);
        for (i, color) in [0x00_ff_5f_57, 0x00_fe_bc_2e, 0x00_28_c8_40].into_iter().enumerate() {
            c.fill_mut(x + w - 20 - 18 * i as i32, y + 6, 12, 12, color);
        }
        c.fill_mut(x, y + TITLE_H, w, h - TITLE_H, body);
    }

    fn draw_all(&mut self) {
        let c = &mut self.canvas;
        c.fill_mut(0, 0, WIDTH as i32, HEIGHT as i32, BG);
        c.fill_mut(0, 0, WIDTH as i32, PANEL_H, PANEL);
        c.text_mut(12, 10, "Activities", WHITE, 1);
        c.text_mut(360, 10, "Sumac demo desktop", WHITE, 1);
        let icons = [
            ("Home", 0x00_e8_b8_4a),
            ("Sumac", 0x00_c0_39_2b),
            ("Trash", 0x00_9a_a5_b1),
        ];
        for (i, (label, color)) in icons.into_iter().enumerate() {
            let y = 60 + 100 * i as i32;
            c.fill_mut(36, y, 48, 40, color);
            c.fill_mut(36, y, 20, 6, color | 0x00_30_30_30);
            let lw = label.len() as i32 * CELL;
            c.text_mut(60 - lw / 2, y + 50, label, WHITE, 1);
        }
        c.text_mut(
            150,
            HINT_Y,
            "Sumac demo: type to see your keys echoed, click to leave a mark.",
            WHITE,
            1,
        );
        c.text_mut(150, HINT_Y + 16, "Close the window to stop the demo.", LIGHT, 1);
        self.window(TERM, "Terminal - type here", TITLE, TERM_BODY);
        for (i, (line, color)) in TERM_TEXT.iter().enumerate() {
            self.canvas
                .text_mut(TERM.0 + 12, TERM.1 + TITLE_H + 12 + i as i32 * LINE_H, line, *color, 1);
        }
        self.window(ANIM, "Animation", TITLE, ANIM_BODY);
        self.draw_clock();
        self.draw_bars();
        self.draw_cursor();
        self.draw_mover();
    }

    fn draw_mover(&mut self) {
        let (w, h) = MOVER;
        let x = self.mover_x;
        self.window((x, MOVER_Y, w, h), "A moving window", 0x00_4a_6f_a5, 0x00_f0_f0_f0);
        let c = &mut self.canvas;
        c.text_mut(x + 12, MOVER_Y + TITLE_H + 14, "Moved by COPY_BITS,", 0x00_20_20_20, 1);
        c.text_mut(
            x + 12,
            MOVER_Y + TITLE_H + 30,
            "the trail filled again.",
            0x00_20_20_20,
            1,
        );
        c.text_mut(x + 12, MOVER_Y + TITLE_H + 54, "SPICE", 0x00_c0_39_2b, 2);
    }

    fn draw_clock(&mut self) {
        let s = self.frame / (1000 / FRAME_MS as u32);
        let text = format!("session {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
        let x = WIDTH as i32 - 12 - text.len() as i32 * CELL;
        self.canvas.fill_mut(x, 8, text.len() as i32 * CELL, 12, PANEL);
        self.canvas.text_mut(x, 10, &text, LIGHT, 1);
    }

    /// The bar heights of frame `frame`: triangle waves, out of phase.
    fn draw_bars(&mut self) {
        let (x0, y0, _, h) = ANIM;
        let bottom = y0 + h - 12;
        let top = y0 + TITLE_H + 12;
        for i in 0..BARS {
            let phase = (self.frame as i32 * 3 + i * 11) % 64;
            let v = if phase < 32 { phase } else { 63 - phase };
            let bar = 12 + v * (bottom - top - 12) / 31;
            let x = x0 + 12 + i * 20;
            let color = (((0x40 + i * 16) as u32) << 16) | ((0xc0 - i * 8) as u32) << 8 | 0xff;
            self.canvas.fill_mut(x, top, 16, bottom - top - bar, ANIM_BODY);
            self.canvas.fill_mut(x, bottom - bar, 16, bar, color);
        }
    }

    fn draw_cursor(&mut self) {
        let (x, y, _, _) = ECHO;
        let color = if self.cursor_on { GREEN } else { TERM_BODY };
        self.canvas
            .fill_mut(x + self.col * CELL, y + self.row * LINE_H - 1, CELL, 10, color);
    }

    fn hide_cursor(&mut self) {
        let on = std::mem::replace(&mut self.cursor_on, false);
        self.draw_cursor();
        self.cursor_on = on;
    }

    fn new_line(&mut self) {
        let (x, y, cols, rows) = ECHO;
        self.col = 0;
        self.row += 1;
        if self.row == rows {
            // Scroll the echo area up by one line.
            self.canvas
                .copy_bits_mut(x, y + LINE_H - 1, x, y - 1, cols * CELL, (rows - 1) * LINE_H);
            self.canvas
                .fill_mut(x, y + (rows - 1) * LINE_H - 1, cols * CELL, LINE_H, TERM_BODY);
            self.row = rows - 1;
        }
    }

    /// Applies one key or click.
    pub fn input(&mut self, ev: DemoInput) {
        match ev {
            DemoInput::Key {
                code: 0x2a | 0x36,
                down,
            } => self.shift = down,
            DemoInput::Key { down: false, .. } => {}
            DemoInput::Key { code, down: true } => self.key(code),
            DemoInput::Click { x, y, .. } => {
                let color = MARK_COLORS[self.clicks as usize % MARK_COLORS.len()];
                self.clicks += 1;
                self.canvas.fill_mut(x - 7, y - 1, 15, 3, color);
                self.canvas.fill_mut(x - 1, y - 7, 3, 15, color);
            }
        }
    }

    fn key(&mut self, code: u16) {
        let (x, y, cols, _) = ECHO;
        self.hide_cursor();
        match code {
            0x1c | 0x11c => self.new_line(),
            0x0e if self.col > 0 => {
                self.col -= 1;
            }
            _ => {
                if let Some(ch) = us_char(code, self.shift) {
                    let cx = x + self.col * CELL;
                    let cy = y + self.row * LINE_H;
                    self.canvas.fill_mut(cx, cy - 1, CELL, 10, TERM_BODY);
                    self.canvas.text_mut(cx, cy, &ch.to_string(), WHITE, 1);
                    self.col += 1;
                    if self.col == cols {
                        self.new_line();
                    }
                }
            }
        }
        self.cursor_on = true;
        self.draw_cursor();
    }

    /// Draws the next animation frame.
    pub fn tick(&mut self) {
        self.frame = self.frame.wrapping_add(1);
        self.draw_bars();
        if self.frame.is_multiple_of(1000 / FRAME_MS as u32) {
            self.draw_clock();
        }
        if self.frame.is_multiple_of(12) {
            self.cursor_on = !self.cursor_on;
            self.draw_cursor();
        }
        // The moving window: shifted by COPY_BITS, its trail filled with the desktop.
        let (w, h) = MOVER;
        let next = self.mover_x + self.mover_dx;
        if !(MOVER_X.0..=MOVER_X.1).contains(&next) {
            self.mover_dx = -self.mover_dx;
            return;
        }
        let dx = self.mover_dx;
        self.canvas.copy_bits_mut(self.mover_x, MOVER_Y, next, MOVER_Y, w, h);
        let trail = if dx > 0 { self.mover_x } else { next + w };
        self.canvas.fill_mut(trail, MOVER_Y, dx.abs(), h, BG);
        self.mover_x = next;
    }
}

#[cfg(test)]
mod tests;
