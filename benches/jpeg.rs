//! JPEG / MJPEG frame decoding, 1920x1080 (as fast as zune-jpeg allows).
//! Throughput is counted in decoded B,G,R,A bytes.
//!
//! `q85_420` is Sumac's decoder; `zune_bgra_direct` asks zune-jpeg for BGRA
//! directly (its scalar colour conversion), the way Sumac did before, for
//! comparison in the same run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sumac::codec::{ImageBuf, jpeg};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

fn bench(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jpeg/bench-1920x1080-q85.jpg"
    );
    let data = std::fs::read(path).expect("fixture");
    let mut g = c.benchmark_group("jpeg_1920x1080");
    g.throughput(Throughput::Bytes(1920 * 1080 * 4));
    let mut out = ImageBuf::new();
    g.bench_function("q85_420", |b| b.iter(|| jpeg::decode(&data, &mut out).expect("decode")));
    let mut buf = vec![0u8; 1920 * 1080 * 4];
    g.bench_function("zune_bgra_direct", |b| {
        b.iter(|| {
            let opts = DecoderOptions::new_fast().jpeg_set_out_colorspace(ColorSpace::BGRA);
            let mut dec = JpegDecoder::new_with_options(ZCursor::new(&data[..]), opts);
            dec.decode_into(&mut buf).expect("decode");
        })
    });
    g.finish();
    // Sumac's output equals zune-jpeg's own BGRA conversion, byte for byte.
    jpeg::decode(&data, &mut out).expect("decode");
    assert_eq!(out.data, buf, "RGBA + swap differs from zune-jpeg's BGRA");
}

criterion_group!(benches, bench);
criterion_main!(benches);
