//! GLZ and ZLIB_GLZ decoding, 1920x1080 RGB32 (report MB/s of decoded pixels; target ≥ 1 GB/s
//! on text). Content as in `benches/lz.rs`, compressed by Sumac's test encoder
//! (`codec::glz::encode`). Each iteration decodes into a window emptied with `clear()` (its
//! buffer is recycled), as a display channel does after a reset.

use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::ZlibEncoder;
use sumac::codec::ImageBuf;
use sumac::codec::glz::{Absent, GlzWindow, encode::GlzEncoder};
use sumac::codec::lz::LzType;
use sumac::codec::zlib_glz;

#[path = "lz_images.rs"]
mod lz_images;
use lz_images::{H, W, photo_like, text_like};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("glz_1920x1080_rgb32");
    g.throughput(Throughput::Bytes(u64::from(W * H * 4)));
    for (name, px) in [("text", text_like()), ("photo", photo_like())] {
        let data = GlzEncoder::new(u64::from(W * H) * 2)
            .encode(LzType::Rgb32, W, H, true, &px)
            .expect("encode");
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&data).expect("zlib");
        let zdata = z.finish().expect("zlib");
        println!("glz {name}: {} bytes, zlib-glz {} bytes", data.len(), zdata.len());
        let window = GlzWindow::new(u64::from(W * H) * 4 * 2);
        let mut out = ImageBuf::new();
        g.bench_function(format!("glz_{name}"), |b| {
            b.iter(|| {
                window.clear();
                window.decode(&data, &mut out, Absent::Missing).expect("decode")
            })
        });
        let mut scratch = Vec::new();
        g.bench_function(format!("zlib_glz_{name}"), |b| {
            b.iter(|| {
                window.clear();
                zlib_glz::decode(
                    data.len() as u32,
                    &zdata,
                    &window,
                    &mut out,
                    &mut scratch,
                    Absent::Missing,
                )
                .expect("decode")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
