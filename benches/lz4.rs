//! LZ4 image decoding, 1920x1080 (target ≥ 1 GB/s of decoded pixels).
//!
//! The content mimics a desktop: flat areas, gradients and text-like noise,
//! compressed as the server does (a chained LZ4 stream, one block per 32 rows).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sumac::codec::{ImageBuf, lz4};
use sumac::proto::channel::display::bitmap_fmt;

const W: usize = 1920;
const H: usize = 1080;

fn desktop(bpp: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(W * H * bpp);
    let mut seed = 0x1234_5678u32;
    for y in 0..H {
        for x in 0..W {
            let v: [u8; 4] = if y < 40 {
                [0x30, 0x30, 0x30, 0xff]
            } else if x < 300 {
                [(y / 4) as u8, 0x80, (x / 2) as u8, 0xff]
            } else if (y / 18) % 3 == 0 && (x / 8) % 5 != 0 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let t = if seed >> 28 > 9 { 0x10 } else { 0xf0 };
                [t, t, t, 0xff]
            } else {
                [0xf0, 0xf0, 0xf0, 0xff]
            };
            px.extend_from_slice(&v[..bpp]);
        }
    }
    px
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("lz4_1920x1080");
    g.throughput(Throughput::Bytes((W * H * 4) as u64));
    for (name, fmt, bpp) in [
        ("rgba", bitmap_fmt::RGBA, 4),
        ("xrgb32", bitmap_fmt::BIT32, 4),
        ("rgb24", bitmap_fmt::BIT24, 3),
    ] {
        let data = lz4::encode(&desktop(bpp), W * bpp, 32, true, fmt);
        let mut out = ImageBuf::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.reset("lz4", W as u32, H as u32).expect("size");
                lz4::decode(&data, &mut out).expect("decode");
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
