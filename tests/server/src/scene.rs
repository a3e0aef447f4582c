//! Display scenes: the messages the test server draws with, and the image a
//! correct client must end up with (computed independently, rectangle by
//! rectangle, not with Sumac's canvas).

use sumac::proto::channel::display::{
    AlphaBlendOp, Bitmap, Brush, Clip, CopyOp, DisplayBase, DisplayServer, FillOp, GlyphString, Head, Image,
    ImageDescriptor, ImageKind, LineAttr, Palette, PaletteRef, PathSegment, Point, PointFix, QMask, RasterGlyph, Rect,
    StrokeOp, SurfaceCreate, TextOp, bitmap_flags, bitmap_fmt, image_flags, image_type, path_flags, ropd, string_flags,
    surface_flags, surface_fmt,
};

/// What a display channel sends after DISPLAY_INIT, and the expected result.
#[derive(Debug, Clone)]
pub struct Scene {
    pub messages: Vec<DisplayServer>,
    pub width: u32,
    pub height: u32,
    /// Expected primary surface after the scene, as RGB8 rows.
    pub expected_rgb: Vec<u8>,
}

/// Builds a scene on a 32-bit primary surface while painting the expected image.
#[derive(Debug)]
pub struct SceneBuilder {
    width: u32,
    height: u32,
    messages: Vec<DisplayServer>,
    rgb: Vec<u8>,
}

pub(crate) fn base(x: i32, y: i32, w: i32, h: i32) -> DisplayBase {
    DisplayBase {
        surface_id: 0,
        bbox: Rect::ltrb(x, y, x + w, y + h),
        clip: Clip::None,
    }
}

impl SceneBuilder {
    pub fn new(width: u32, height: u32) -> Self {
        let messages = vec![
            DisplayServer::SurfaceCreate(SurfaceCreate {
                surface_id: 0,
                width,
                height,
                format: surface_fmt::XRGB32,
                flags: surface_flags::PRIMARY,
            }),
            DisplayServer::MonitorsConfig {
                max_allowed: 1,
                heads: vec![Head {
                    monitor_id: 0,
                    surface_id: 0,
                    width,
                    height,
                    x: 0,
                    y: 0,
                    flags: 0,
                }],
            },
        ];
        Self {
            width,
            height,
            messages,
            rgb: vec![0; width as usize * height as usize * 3],
        }
    }

    pub(crate) fn put(&mut self, x: i32, y: i32, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.rgb[i..i + 3].copy_from_slice(&rgb);
    }

    fn get(&self, x: i32, y: i32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Queues a message whose effect the caller paints with [`Self::put`].
    pub(crate) fn push(&mut self, m: DisplayServer) {
        self.messages.push(m);
    }

    /// The messages queued so far, taken (the expected image stays).
    pub fn take_messages(&mut self) -> Vec<DisplayServer> {
        std::mem::take(&mut self.messages)
    }

    /// The image a correct client shows after every message so far, as RGB8 rows.
    pub fn expected_rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Solid fill with an xRGB colour.
    pub fn fill(mut self, x: i32, y: i32, w: i32, h: i32, color: u32) -> Self {
        self.fill_mut(x, y, w, h, color);
        self
    }

    /// [`Self::fill`] in place.
    pub fn fill_mut(&mut self, x: i32, y: i32, w: i32, h: i32, color: u32) {
        self.messages.push(DisplayServer::DrawFill {
            base: base(x, y, w, h),
            fill: FillOp {
                brush: Brush::Solid(color),
                rop_descriptor: ropd::OP_PUT,
                mask: QMask::default(),
            },
        });
        let rgb = [(color >> 16) as u8, (color >> 8) as u8, color as u8];
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, rgb);
            }
        }
    }

    /// Fill clipped to rectangles.
    pub fn fill_clipped(mut self, x: i32, y: i32, w: i32, h: i32, color: u32, clips: Vec<Rect>) -> Self {
        let mut b = base(x, y, w, h);
        b.clip = Clip::Rects(clips.clone());
        self.messages.push(DisplayServer::DrawFill {
            base: b,
            fill: FillOp {
                brush: Brush::Solid(color),
                rop_descriptor: ropd::OP_PUT,
                mask: QMask::default(),
            },
        });
        let rgb = [(color >> 16) as u8, (color >> 8) as u8, color as u8];
        for yy in y..y + h {
            for xx in x..x + w {
                if clips
                    .iter()
                    .any(|c| xx >= c.left && xx < c.right && yy >= c.top && yy < c.bottom)
                {
                    self.put(xx, yy, rgb);
                }
            }
        }
        self
    }

    /// Copies an uncompressed bitmap whose pixel (px, py) has colour `pattern(px, py)`.
    /// `format` is one of BIT32, BIT24, BIT16 (555) or BIT8 (palettised: the
    /// pattern is quantised to a 256-entry palette).
    pub fn copy_bitmap(mut self, (x, y): (i32, i32), (w, h): (u32, u32), format: u8, top_down: bool, id: u64) -> Self {
        let pattern = |px: u32, py: u32| -> [u8; 3] {
            [
                (px * 255 / w.max(1)) as u8,
                (py * 255 / h.max(1)) as u8,
                ((px + py) * 7 % 256) as u8,
            ]
        };
        let bpp = match format {
            bitmap_fmt::BIT32 => 4,
            bitmap_fmt::BIT24 => 3,
            bitmap_fmt::BIT16 => 2,
            _ => 1,
        };
        let stride = (w * bpp).div_ceil(4) * 4;
        let mut data = vec![0u8; (stride * h) as usize];
        let mut entries = Vec::new();
        for row in 0..h {
            // Wire row `row` holds image row `row` when top-down, else the mirrored one.
            let py = if top_down { row } else { h - 1 - row };
            for px in 0..w {
                let mut c = pattern(px, py);
                let o = (row * stride + px * bpp) as usize;
                match format {
                    bitmap_fmt::BIT32 => data[o..o + 4].copy_from_slice(&[c[2], c[1], c[0], 0]),
                    bitmap_fmt::BIT24 => data[o..o + 3].copy_from_slice(&[c[2], c[1], c[0]]),
                    bitmap_fmt::BIT16 => {
                        let v = (u16::from(c[0] >> 3) << 10) | (u16::from(c[1] >> 3) << 5) | u16::from(c[2] >> 3);
                        data[o..o + 2].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => {
                        // 6x6x6 colour cube index
                        let q = |v: u8| u32::from(v) * 5 / 255;
                        let idx = q(c[0]) * 36 + q(c[1]) * 6 + q(c[2]);
                        data[o] = idx as u8;
                    }
                }
                // Expected colour as a lossless client shows it.
                c = match format {
                    bitmap_fmt::BIT16 => {
                        let e = |v: u8| {
                            let f = v >> 3;
                            (f << 3) | (f >> 2)
                        };
                        [e(c[0]), e(c[1]), e(c[2])]
                    }
                    bitmap_fmt::BIT8 => {
                        let q = |v: u8| (u32::from(v) * 5 / 255 * 51) as u8;
                        [q(c[0]), q(c[1]), q(c[2])]
                    }
                    _ => c,
                };
                self.put(x + px as i32, y + py as i32, c);
            }
        }
        if format == bitmap_fmt::BIT8 {
            for i in 0..216u32 {
                let (r, g, b) = (i / 36 * 51, i / 6 % 6 * 51, i % 6 * 51);
                entries.push((r << 16) | (g << 8) | b);
            }
        }
        let palette = if format == bitmap_fmt::BIT8 {
            PaletteRef::Inline(Palette { unique: 0, entries })
        } else {
            PaletteRef::None
        };
        let image = Image {
            descriptor: ImageDescriptor {
                id,
                image_type: image_type::BITMAP,
                flags: 0,
                width: w,
                height: h,
            },
            kind: ImageKind::Bitmap(Bitmap {
                format,
                flags: if top_down { bitmap_flags::TOP_DOWN } else { 0 },
                width: w,
                height: h,
                stride,
                palette,
                data,
            }),
        };
        self.messages.push(DisplayServer::DrawCopy {
            base: base(x, y, w as i32, h as i32),
            copy: CopyOp {
                src_bitmap: Some(image),
                src_area: Rect::ltrb(0, 0, w as i32, h as i32),
                rop_descriptor: ropd::OP_PUT,
                scale_mode: 0,
                mask: QMask::default(),
            },
        });
        self
    }

    /// COPY_BITS: moves the w×h block at (sx, sy) to (x, y).
    pub fn copy_bits(mut self, sx: i32, sy: i32, x: i32, y: i32, w: i32, h: i32) -> Self {
        self.copy_bits_mut(sx, sy, x, y, w, h);
        self
    }

    /// [`Self::copy_bits`] in place.
    pub fn copy_bits_mut(&mut self, sx: i32, sy: i32, x: i32, y: i32, w: i32, h: i32) {
        self.messages.push(DisplayServer::CopyBits {
            base: base(x, y, w, h),
            src_pos: Point { x: sx, y: sy },
        });
        let mut block = Vec::with_capacity((w * h) as usize);
        for yy in 0..h {
            for xx in 0..w {
                block.push(self.get(sx + xx, sy + yy));
            }
        }
        for yy in 0..h {
            for xx in 0..w {
                self.put(x + xx, y + yy, block[(yy * w + xx) as usize]);
            }
        }
    }

    /// Copies a top-down bitmap (as [`Self::copy_bitmap`]) with `CACHE_ME` at
    /// `src`, then draws it again from the image cache (FROM_CACHE of `id`)
    /// at `dst`. `src` must lie inside the surface. Only a client that
    /// announced a non-zero image cache in DISPLAY_INIT can resolve it.
    pub fn copy_bitmap_cached(self, src: (i32, i32), dst: (i32, i32), (w, h): (u32, u32), format: u8, id: u64) -> Self {
        let mut b = self.copy_bitmap(src, (w, h), format, true, id);
        if let Some(DisplayServer::DrawCopy { copy, .. }) = b.messages.last_mut()
            && let Some(image) = copy.src_bitmap.as_mut()
        {
            image.descriptor.flags |= image_flags::CACHE_ME;
        }
        let (wi, hi) = (w as i32, h as i32);
        b.messages.push(DisplayServer::DrawCopy {
            base: base(dst.0, dst.1, wi, hi),
            copy: CopyOp {
                src_bitmap: Some(Image {
                    descriptor: ImageDescriptor {
                        id,
                        image_type: image_type::FROM_CACHE,
                        flags: 0,
                        width: w,
                        height: h,
                    },
                    kind: ImageKind::NoData,
                }),
                src_area: Rect::ltrb(0, 0, wi, hi),
                rop_descriptor: ropd::OP_PUT,
                scale_mode: 0,
                mask: QMask::default(),
            },
        });
        // The cached image is what the first copy drew at `src`.
        let mut block = Vec::with_capacity((w * h) as usize);
        for yy in 0..hi {
            for xx in 0..wi {
                block.push(b.get(src.0 + xx, src.1 + yy));
            }
        }
        for yy in 0..hi {
            for xx in 0..wi {
                b.put(dst.0 + xx, dst.1 + yy, block[(yy * wi + xx) as usize]);
            }
        }
        b
    }

    /// DRAW_INVERS of a rectangle: every channel becomes 255 − v.
    pub fn invert(mut self, x: i32, y: i32, w: i32, h: i32) -> Self {
        self.messages.push(DisplayServer::DrawInvers {
            base: base(x, y, w, h),
            mask: QMask::default(),
        });
        for yy in y.max(0)..(y + h).min(self.height as i32) {
            for xx in x.max(0)..(x + w).min(self.width as i32) {
                let [r, g, b] = self.get(xx, yy);
                self.put(xx, yy, [!r, !g, !b]);
            }
        }
        self
    }

    /// DRAW_FILL with a 2×2 pattern brush (xRGB colours, row-major) anchored
    /// at `pos`: pixel (px, py) takes tile ((px − pos.x) mod 2, (py − pos.y) mod 2).
    pub fn pattern_fill(mut self, x: i32, y: i32, w: i32, h: i32, tile: [u32; 4], pos: (i32, i32)) -> Self {
        let data = tile.iter().flat_map(|c| c.to_le_bytes()).collect();
        let image = Image {
            descriptor: ImageDescriptor {
                id: 0,
                image_type: image_type::BITMAP,
                flags: 0,
                width: 2,
                height: 2,
            },
            kind: ImageKind::Bitmap(Bitmap {
                format: bitmap_fmt::BIT32,
                flags: bitmap_flags::TOP_DOWN,
                width: 2,
                height: 2,
                stride: 8,
                palette: PaletteRef::None,
                data,
            }),
        };
        self.messages.push(DisplayServer::DrawFill {
            base: base(x, y, w, h),
            fill: FillOp {
                brush: Brush::Pattern {
                    image,
                    pos: Point { x: pos.0, y: pos.1 },
                },
                rop_descriptor: ropd::OP_PUT,
                mask: QMask::default(),
            },
        });
        for yy in y..y + h {
            for xx in x..x + w {
                let c = tile[((yy - pos.1).rem_euclid(2) * 2 + (xx - pos.0).rem_euclid(2)) as usize];
                self.put(xx, yy, [(c >> 16) as u8, (c >> 8) as u8, c as u8]);
            }
        }
        self
    }

    /// DRAW_ALPHA_BLEND of an opaque `color` block with global `alpha`:
    /// d' = round(d·(255 − a)/255) + round(c·a/255) per channel.
    pub fn alpha_blend(mut self, x: i32, y: i32, w: u32, h: u32, color: u32, alpha: u8) -> Self {
        let data = (0..w * h).flat_map(|_| color.to_le_bytes()).collect();
        let image = Image {
            descriptor: ImageDescriptor {
                id: 0,
                image_type: image_type::BITMAP,
                flags: 0,
                width: w,
                height: h,
            },
            kind: ImageKind::Bitmap(Bitmap {
                format: bitmap_fmt::BIT32,
                flags: bitmap_flags::TOP_DOWN,
                width: w,
                height: h,
                stride: w * 4,
                palette: PaletteRef::None,
                data,
            }),
        };
        self.messages.push(DisplayServer::DrawAlphaBlend {
            base: base(x, y, w as i32, h as i32),
            alpha_blend: AlphaBlendOp {
                alpha_flags: 0,
                alpha,
                src_bitmap: Some(image),
                src_area: Rect::ltrb(0, 0, w as i32, h as i32),
            },
        });
        let mul = |a: u32, b: u32| ((a * b + 127) / 255) as u8;
        let a = u32::from(alpha);
        let src = [(color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff];
        for yy in y.max(0)..(y + h as i32).min(self.height as i32) {
            for xx in x.max(0)..(x + w as i32).min(self.width as i32) {
                let d = self.get(xx, yy);
                let mut out = [0u8; 3];
                for c in 0..3 {
                    out[c] = mul(u32::from(d[c]), 255 - a) + mul(src[c], a);
                }
                self.put(xx, yy, out);
            }
        }
        self
    }

    /// DRAW_TEXT of one A1 glyph whose top-left pixel is (x, y); `rows` are
    /// the glyph rows top to bottom, MSB = leftmost pixel, at most 8 wide.
    pub fn text_a1(mut self, x: i32, y: i32, width: u16, rows: &[u8], color: u32) -> Self {
        let h = rows.len() as i32;
        // On the wire glyph rows go bottom-up.
        let data = rows.iter().rev().copied().collect();
        self.messages.push(DisplayServer::DrawText {
            base: base(x, y, i32::from(width), h),
            text: TextOp {
                string: GlyphString {
                    flags: string_flags::RASTER_A1,
                    glyphs: vec![RasterGlyph {
                        render_pos: Point { x, y: y + h },
                        glyph_origin: Point { x: 0, y: -h },
                        width,
                        height: rows.len() as u16,
                        data,
                    }],
                },
                back_area: Rect::default(),
                fore_brush: Brush::Solid(color),
                back_brush: Brush::None,
                fore_mode: ropd::OP_PUT,
                back_mode: ropd::OP_PUT,
            },
        });
        let rgb = [(color >> 16) as u8, (color >> 8) as u8, color as u8];
        for (dy, bits) in rows.iter().enumerate() {
            for dx in 0..i32::from(width).min(8) {
                if bits & (0x80 >> dx) != 0 {
                    self.put(x + dx, y + dy as i32, rgb);
                }
            }
        }
        self
    }

    /// DRAW_STROKE of a thin horizontal line from (x, y) to (x + len, y),
    /// the end point excluded.
    pub fn hline(mut self, x: i32, y: i32, len: i32, color: u32) -> Self {
        let fix = |v: i32| v << 4;
        self.messages.push(DisplayServer::DrawStroke {
            base: base(x, y, len, 1),
            stroke: StrokeOp {
                path: vec![PathSegment {
                    flags: path_flags::BEGIN | path_flags::END,
                    points: vec![
                        PointFix { x: fix(x), y: fix(y) },
                        PointFix {
                            x: fix(x + len),
                            y: fix(y),
                        },
                    ],
                }],
                attr: LineAttr::default(),
                brush: Brush::Solid(color),
                fore_mode: ropd::OP_PUT,
                back_mode: ropd::OP_PUT,
            },
        });
        let rgb = [(color >> 16) as u8, (color >> 8) as u8, color as u8];
        for xx in x..x + len {
            self.put(xx, y, rgb);
        }
        self
    }

    pub fn build(mut self) -> Scene {
        self.messages.push(DisplayServer::Mark);
        Scene {
            messages: self.messages,
            width: self.width,
            height: self.height,
            expected_rgb: self.rgb,
        }
    }
}

/// The default test scene: every first-step operation on a 320x240 surface.
pub fn standard() -> Scene {
    SceneBuilder::new(320, 240)
        .fill(0, 0, 320, 240, 0x00_20_40_60)
        .fill(10, 10, 100, 50, 0x00_ff_00_00)
        .fill(-20, 200, 60, 100, 0x00_00_ff_00) // partly outside: clipped
        .fill_clipped(
            150,
            10,
            150,
            60,
            0x00_ff_ff_00,
            vec![Rect::ltrb(150, 10, 200, 30), Rect::ltrb(250, 40, 300, 70)],
        )
        .copy_bitmap((10, 80), (64, 48), bitmap_fmt::BIT32, false, 1)
        .copy_bitmap((80, 80), (64, 48), bitmap_fmt::BIT24, true, 2)
        .copy_bitmap((150, 80), (64, 48), bitmap_fmt::BIT16, false, 3)
        .copy_bitmap((220, 80), (64, 48), bitmap_fmt::BIT8, true, 4)
        .copy_bits(10, 80, 40, 150, 100, 60) // overlapping source and destination
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sumac::display::{DisplayEvent, Limits, Pipeline};

    /// The cached-bitmap scene, applied to Sumac's display state, gives the expected image.
    #[test]
    fn cached_bitmap_scene_matches_the_display_state() {
        let scene = SceneBuilder::new(64, 32)
            .fill(0, 0, 64, 32, 0x00_20_40_60)
            .copy_bitmap_cached((2, 2), (30, 10), (16, 12), bitmap_fmt::BIT32, 9)
            .copy_bitmap_cached((2, 18), (44, 1), (8, 8), bitmap_fmt::BIT8, 10)
            .build();
        let mut s = Pipeline::new(Limits::default());
        for m in &scene.messages {
            let ev = s.handle(m);
            assert!(!ev.iter().any(|e| matches!(e, DisplayEvent::Error(_))), "{m:?}: {ev:?}");
        }
        assert_eq!(s.primary().unwrap().1.to_rgb(), scene.expected_rgb);
        assert_eq!(s.stats().images.cache_hits, 2);
    }
}
