//! Canvas draw operations on a 1920x1080 surface: whole-surface fill, copy,
//! ROP3 (pattern brush), alpha blend, and a 100-glyph A1 text draw.
//! Throughput is reported per operation (ops/s) via the mean iteration time.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sumac::display::{Limits, Pipeline};
use sumac::proto::channel::display::{
    AlphaBlendOp, Bitmap, Brush, Clip, CopyOp, DisplayBase, DisplayServer, FillOp, GlyphString, Image, ImageDescriptor,
    ImageKind, PaletteRef, Point, QMask, RasterGlyph, Rect, Rop3Op, SurfaceCreate, TextOp, bitmap_flags, bitmap_fmt,
    image_type, ropd, string_flags, surface_flags, surface_fmt,
};

const W: u32 = 1920;
const H: u32 = 1080;

fn base() -> DisplayBase {
    DisplayBase {
        surface_id: 0,
        bbox: Rect::ltrb(0, 0, W as i32, H as i32),
        clip: Clip::None,
    }
}

fn image(w: u32, h: u32, format: u8) -> Image {
    let data = (0..w * h * 4).map(|i| (i * 7 % 251) as u8).collect();
    Image {
        descriptor: ImageDescriptor {
            id: 1,
            image_type: image_type::BITMAP,
            flags: 0,
            width: w,
            height: h,
        },
        kind: ImageKind::Bitmap(Bitmap {
            format,
            flags: bitmap_flags::TOP_DOWN,
            width: w,
            height: h,
            stride: w * 4,
            palette: PaletteRef::None,
            data,
        }),
    }
}

fn state() -> Pipeline {
    let mut s = Pipeline::new(Limits::default());
    s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: W,
        height: H,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    s
}

fn text() -> DisplayServer {
    let glyphs = (0..100)
        .map(|i| RasterGlyph {
            render_pos: Point {
                x: 10 + (i % 50) * 9,
                y: 20 + (i / 50) * 16,
            },
            glyph_origin: Point { x: 0, y: -12 },
            width: 8,
            height: 12,
            data: vec![0x3c, 0x42, 0x81, 0x81, 0xff, 0x81, 0x81, 0x81, 0x42, 0x3c, 0x18, 0x00],
        })
        .collect();
    DisplayServer::DrawText {
        base: base(),
        text: TextOp {
            string: GlyphString {
                flags: string_flags::RASTER_A1,
                glyphs,
            },
            back_area: Rect::default(),
            fore_brush: Brush::Solid(0x0020_2020),
            back_brush: Brush::None,
            fore_mode: ropd::OP_PUT,
            back_mode: ropd::OP_PUT,
        },
    }
}

fn bench(c: &mut Criterion) {
    let full = Rect::ltrb(0, 0, W as i32, H as i32);
    let ops = [
        (
            "fill",
            DisplayServer::DrawFill {
                base: base(),
                fill: FillOp {
                    brush: Brush::Solid(0x0012_3456),
                    rop_descriptor: ropd::OP_PUT,
                    mask: QMask::default(),
                },
            },
        ),
        (
            "copy",
            DisplayServer::DrawCopy {
                base: base(),
                copy: CopyOp {
                    src_bitmap: Some(image(W, H, bitmap_fmt::BIT32)),
                    src_area: full,
                    rop_descriptor: ropd::OP_PUT,
                    scale_mode: 1,
                    mask: QMask::default(),
                },
            },
        ),
        (
            "rop3",
            DisplayServer::DrawRop3 {
                base: base(),
                rop3: Rop3Op {
                    src_bitmap: Some(image(W, H, bitmap_fmt::BIT32)),
                    src_area: full,
                    brush: Brush::Pattern {
                        image: image(8, 8, bitmap_fmt::BIT32),
                        pos: Point { x: 0, y: 0 },
                    },
                    rop3: 0xb8,
                    scale_mode: 1,
                    mask: QMask::default(),
                },
            },
        ),
        (
            "alpha_blend",
            DisplayServer::DrawAlphaBlend {
                base: base(),
                alpha_blend: AlphaBlendOp {
                    alpha_flags: 0,
                    alpha: 0x80,
                    src_bitmap: Some(image(W, H, bitmap_fmt::RGBA)),
                    src_area: full,
                },
            },
        ),
        ("text", text()),
    ];
    let mut g = c.benchmark_group("canvas_1920x1080");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    for (name, m) in &ops {
        let mut s = state();
        g.bench_function(*name, |b| {
            b.iter(|| {
                let ev = s.handle(m);
                assert!(
                    ev.iter().all(|e| !matches!(e, sumac::display::DisplayEvent::Error(_))),
                    "{ev:?}"
                );
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
