//! JPEG / MJPEG frame decoding, 1920x1080 (as fast as zune-jpeg allows).
//! Throughput is counted in decoded B,G,R,A bytes.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sumac::codec::{ImageBuf, jpeg};

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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
