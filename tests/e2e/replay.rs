//! Deterministic decoder conformance: recordings of real Xspice sessions
//! (`tests/fixtures/recordings/make.sh`: the initial frame, then text
//! scrolling, a photo window shown and moved, windows closed) replayed through
//! the display pipeline must end on the server's framebuffer, pixel for pixel.

use std::path::Path;

fn framebuffer() -> (u32, u32, Vec<u8>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/recordings/xspice-framebuffer.png"
    );
    let mut decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    // ImageMagick writes palette or grey PNGs when it can: expand to 8-bit channels.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf[..info.buffer_size()].to_vec(),
        png::ColorType::Rgba => buf[..info.buffer_size()]
            .chunks(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf[..info.buffer_size()].iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf[..info.buffer_size()]
            .chunks(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, rgb)
}

fn check(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recordings")
        .join(name);
    let r = sumac::client::replay::replay(std::io::BufReader::new(std::fs::File::open(&path).unwrap()), None)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let state = &r.displays[&0];
    let stats = state.stats();
    assert_eq!(r.decode_errors, 0, "{name}");
    assert_eq!(stats.total_errors(), 0, "{name}: {stats:?}");
    assert!(stats.draws_applied > 200, "{name}: too few draws: {stats:?}");
    assert!(stats.images.decoded > 0, "{name}: no compressed image: {stats:?}");
    let (_, surface) = state.primary().expect("primary surface");
    let (w, h, truth) = framebuffer();
    assert_eq!((surface.width, surface.height), (w, h));
    let rgb = surface.to_rgb();
    let differing = rgb.chunks(3).zip(truth.chunks(3)).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing, 0,
        "{name}: {differing} pixels differ from the server's framebuffer"
    );
}

#[test]
fn quic_recording() {
    check("xspice-quic.spicerec");
}

#[test]
fn lz_recording() {
    check("xspice-lz.spicerec");
}

#[test]
fn glz_recording() {
    check("xspice-glz.spicerec");
}

#[test]
fn lz4_recording() {
    check("xspice-lz4.spicerec");
}

#[test]
fn auto_glz_recording() {
    check("xspice-auto-glz.spicerec");
}

#[test]
fn auto_lz_recording() {
    check("xspice-auto-lz.spicerec");
}
