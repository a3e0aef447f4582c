//! QUIC image decoding, 1920x1080 RGB32, with streams from Sumac's test encoder (which is
//! byte-identical to spice-common's). Throughput is decoded BGRA bytes.
//!
//! Two contents: "text" (a desktop: flat areas, a gradient side bar, text-like rows, where
//! runs dominate) and "photo" (smooth noisy gradients, no runs: every pixel is coded).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sumac::codec::ImageBuf;
use sumac::codec::quic::{self, ImageType, encode::encode_for_tests};

const W: usize = 1920;
const H: usize = 1080;

/// B,G,R,x pixels.
fn text_like() -> Vec<u8> {
    let mut px = Vec::with_capacity(W * H * 4);
    let mut seed = 0x1234_5678u32;
    for y in 0..H {
        for x in 0..W {
            let v: [u8; 4] = if y < 40 {
                [0x30, 0x30, 0x30, 0]
            } else if x < 300 {
                [(y / 4) as u8, 0x80, (x / 2) as u8, 0]
            } else if (y / 18) % 3 == 0 && (x / 8) % 5 != 0 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let t = if seed >> 28 > 9 { 0x10 } else { 0xf0 };
                [t, t, t, 0]
            } else {
                [0xf0, 0xf0, 0xf0, 0]
            };
            px.extend_from_slice(&v);
        }
    }
    px
}

fn photo_like() -> Vec<u8> {
    let mut px = Vec::with_capacity(W * H * 4);
    let mut seed = 0x9e37_79b9u32;
    for y in 0..H {
        for x in 0..W {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = (seed >> 27) as usize;
            let v = [
                ((x / 8 + y / 5 + n) & 0xff) as u8,
                ((x / 3 + n * 2) & 0xff) as u8,
                ((y / 4 + x / 11 + n) & 0xff) as u8,
                0,
            ];
            px.extend_from_slice(&v);
        }
    }
    px
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("quic_1920x1080");
    g.throughput(Throughput::Bytes((W * H * 4) as u64));
    for (name, pixels) in [("rgb32_text", text_like()), ("rgb32_photo", photo_like())] {
        let data = encode_for_tests(ImageType::Rgb32, W as u32, H as u32, &pixels).expect("encode");
        let mut out = ImageBuf::new();
        g.bench_function(name, |b| {
            b.iter(|| quic::decode(&data, &mut out).expect("decode"));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
