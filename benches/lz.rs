//! LZ image decoding, 1920x1080 RGB32 (report MB/s of decoded B,G,R,A pixels).
//!
//! Text-like (flat areas and repeated glyph-like rows) and photo-like (smooth noise) content,
//! compressed by Sumac's test encoder (`codec::lz::encode`), which writes the server's format.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sumac::codec::ImageBuf;
use sumac::codec::lz::{self, LzType};

#[path = "lz_images.rs"]
mod lz_images;
use lz_images::{H, W, photo_like, text_like};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("lz_1920x1080_rgb32");
    g.throughput(Throughput::Bytes(u64::from(W * H * 4)));
    for (name, px) in [("text", text_like()), ("photo", photo_like())] {
        let data = lz::encode::encode(LzType::Rgb32, W, H, true, &px).expect("encode");
        println!("lz {name}: {} bytes compressed", data.len());
        let mut out = ImageBuf::new();
        g.bench_function(name, |b| b.iter(|| lz::decode(&data, None, &mut out).expect("decode")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
