#![allow(clippy::cast_possible_truncation)] // test data
use super::encode::GlzEncoder;
use super::*;
use crate::codec::lz::tests::{Content, Rng, bytes, expected};
use crate::codec::lz::{MAGIC, VERSION};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const NO_WAIT: Absent = Absent::Missing;

/// The runtime's wait for other channels' images, for threaded tests: counts
/// the window's arrivals and lets a decode retry after each one.
#[derive(Default)]
struct Arrivals {
    count: Mutex<u64>,
    changed: Condvar,
}

impl Arrivals {
    fn attach(window: &GlzWindow) -> Arc<Self> {
        let a = Arc::new(Self::default());
        let a2 = Arc::clone(&a);
        assert!(window.set_arrival_listener(Arc::new(move || {
            *a2.count.lock().unwrap() += 1;
            a2.changed.notify_all();
        })));
        a
    }

    /// Decodes, retrying a pending decode after each arrival for at most `wait`;
    /// then once more with the image counted missing.
    fn decode(&self, window: &GlzWindow, data: &[u8], out: &mut ImageBuf, wait: Duration) -> Result<(), CodecError> {
        let end = Instant::now() + wait;
        let generation = window.generation();
        loop {
            let seen = *self.count.lock().unwrap();
            if window.generation() != generation {
                // Cleared meanwhile: what it waited for is gone.
                return window.decode(data, out, Absent::Missing);
            }
            match window.decode(data, out, Absent::Pending) {
                Err(CodecError::GlzPending { .. }) => {}
                r => return r,
            }
            let mut count = self.count.lock().unwrap();
            while *count == seen {
                let now = Instant::now();
                if now >= end {
                    drop(count);
                    return window.decode(data, out, Absent::Missing);
                }
                count = self.changed.wait_timeout(count, end - now).unwrap().0;
            }
        }
    }
}

fn src(ty: LzType, w: u32, h: u32, content: Content, seed: u64) -> Vec<u8> {
    bytes(
        content,
        (ty.stride_for(w).unwrap() * h) as usize,
        ty.bytes_per_pixel() as usize,
        seed,
    )
}

fn check(out: &ImageBuf, ty: LzType, w: u32, h: u32, top_down: bool, s: &[u8]) {
    assert_eq!((out.width, out.height), (w, h));
    assert_eq!(out.has_alpha, ty == LzType::Rgba);
    assert!(
        out.data == expected(ty, w, h, top_down, s, &[]),
        "{ty:?} {w}x{h} top_down={top_down}"
    );
}

#[test]
fn round_trips_every_type_size_and_content() {
    let mut enc = GlzEncoder::new(1 << 22);
    let window = GlzWindow::new(4 << 22);
    let mut out = ImageBuf::new();
    for ty in [LzType::Rgb16, LzType::Rgb24, LzType::Rgb32, LzType::Rgba] {
        for (w, h) in [(1, 1), (2, 1), (1, 5), (9, 9), (33, 17), (131, 47), (640, 20)] {
            for content in [Content::Text, Content::Photo, Content::Solid] {
                for top_down in [true, false] {
                    let s = src(ty, w, h, content, u64::from(w * 7 + h));
                    let data = enc.encode(ty, w, h, top_down, &s).unwrap();
                    window
                        .decode(&data, &mut out, NO_WAIT)
                        .unwrap_or_else(|e| panic!("{ty:?} {w}x{h}: {e}"));
                    check(&out, ty, w, h, top_down, &s);
                }
            }
        }
    }
    assert!(window.held_bytes() <= 4 << 22);
}

/// Image `n` made of pieces of images `n - 1` and `n - 2`, shifted, plus fresh noise.
fn sequence(len: usize, w: u32, h: u32) -> Vec<Vec<u8>> {
    let size = (w * h * 4) as usize;
    let mut rng = Rng(99);
    let mut imgs: Vec<Vec<u8>> = vec![bytes(Content::Photo, size, 4, 1), bytes(Content::Photo, size, 4, 2)];
    while imgs.len() < len {
        let (a, b) = (&imgs[imgs.len() - 1], &imgs[imgs.len() - 2]);
        let mut img = Vec::with_capacity(size);
        while img.len() < size {
            let piece = 4 * (50 + rng.below(400) as usize);
            let from = 4 * rng.below((w * h) as u64) as usize;
            let choice = rng.below(3);
            for k in 0..piece {
                let v = match choice {
                    0 => a[(from + k) % size],
                    1 => b[(from + k) % size],
                    _ => rng.next() as u8,
                };
                img.push(v);
            }
        }
        img.truncate(size);
        imgs.push(img);
    }
    imgs
}

#[test]
fn sequence_references_previous_images() {
    let (w, h) = (96u32, 64u32);
    let imgs = sequence(12, w, h);
    let mut enc = GlzEncoder::new(u64::from(w * h) * 3);
    let encoded: Vec<Vec<u8>> = imgs
        .iter()
        .map(|s| enc.encode(LzType::Rgb32, w, h, true, s).unwrap())
        .collect();
    // the later images are much smaller than the first (noise) ones: they use the window
    assert!(
        encoded[5].len() * 2 < encoded[0].len(),
        "{} vs {}",
        encoded[5].len(),
        encoded[0].len()
    );
    let window = GlzWindow::new(u64::from(w * h) * 3 * 4);
    let mut out = ImageBuf::new();
    for (i, (data, s)) in encoded.iter().zip(&imgs).enumerate() {
        let hd = header(data).unwrap();
        assert_eq!(hd.id, i as u64);
        assert_eq!(hd.win_head_dist, (i as u32).min(2));
        window.decode(data, &mut out, NO_WAIT).unwrap();
        check(&out, LzType::Rgb32, w, h, true, s);
        // the window keeps exactly [id - win_head_dist, id]
        let first = i.saturating_sub(2) as u64;
        assert_eq!(window.ids(), (first..=i as u64).collect::<Vec<_>>());
        assert!(window.held_bytes() <= window.max_bytes());
    }
    // image 7 without image 6: pending (nothing changes, no wait), then missing after a bounded wait
    let fresh = GlzWindow::new(1 << 24);
    let arrivals = Arrivals::attach(&fresh);
    for data in &encoded[..6] {
        fresh.decode(data, &mut out, NO_WAIT).unwrap();
    }
    let ids = fresh.ids();
    assert_eq!(
        fresh.decode(&encoded[7], &mut out, Absent::Pending),
        Err(CodecError::GlzPending { id: 6, by: 7 })
    );
    assert_eq!(fresh.ids(), ids);
    let t = Instant::now();
    let e = arrivals
        .decode(&fresh, &encoded[7], &mut out, Duration::from_millis(60))
        .unwrap_err();
    assert!(matches!(e, CodecError::GlzMissing { id: 6, by: 7 }), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(50) && t.elapsed() < Duration::from_secs(5));
    // image 6 arriving late still decodes, then image 7 does
    fresh.decode(&encoded[6], &mut out, NO_WAIT).unwrap();
    check(&out, LzType::Rgb32, w, h, true, &imgs[6]);
    fresh.decode(&encoded[7], &mut out, NO_WAIT).unwrap();
    check(&out, LzType::Rgb32, w, h, true, &imgs[7]);
    // a window that never saw the referenced images fails without waiting
    let empty = GlzWindow::new(1 << 24);
    assert!(matches!(
        empty.decode(&encoded[9], &mut out, NO_WAIT),
        Err(CodecError::GlzMissing { by: 9, .. })
    ));
}

#[test]
fn two_threads_decode_interleaved_images_of_one_window() {
    let (w, h) = (80u32, 40u32);
    let imgs = Arc::new(sequence(30, w, h));
    let mut enc = GlzEncoder::new(u64::from(w * h) * 4);
    let encoded: Arc<Vec<Vec<u8>>> = Arc::new(
        imgs.iter()
            .map(|s| enc.encode(LzType::Rgb32, w, h, false, s).unwrap())
            .collect(),
    );
    // a little slack for out-of-order arrival
    let window = Arc::new(GlzWindow::new(u64::from(w * h) * 4 * 4 * 2));
    let arrivals = Arrivals::attach(&window);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (window, encoded, imgs) = (Arc::clone(&window), Arc::clone(&encoded), Arc::clone(&imgs));
            let arrivals = Arc::clone(&arrivals);
            thread::spawn(move || {
                let mut out = ImageBuf::new();
                let mut rng = Rng(t + 5);
                for i in (t as usize..encoded.len()).step_by(2) {
                    thread::sleep(Duration::from_micros(rng.below(3000)));
                    arrivals
                        .decode(&window, &encoded[i], &mut out, Duration::from_secs(20))
                        .unwrap();
                    check(&out, LzType::Rgb32, w, h, false, &imgs[i]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(window.held_bytes() <= window.max_bytes());
    assert!(window.ids().len() <= 5, "{:?}", window.ids());
}

#[test]
fn out_of_order_images_are_kept_until_the_gap_closes() {
    let (w, h) = (32u32, 32u32);
    let imgs = sequence(6, w, h);
    let mut enc = GlzEncoder::new(u64::from(w * h) * 3);
    let encoded: Vec<Vec<u8>> = imgs
        .iter()
        .map(|s| enc.encode(LzType::Rgb32, w, h, true, s).unwrap())
        .collect();
    let window = GlzWindow::new(u64::from(w * h) * 4 * 4);
    let arrivals = Arrivals::attach(&window);
    let mut out = ImageBuf::new();
    for i in [0, 1, 2] {
        window.decode(&encoded[i], &mut out, NO_WAIT).unwrap();
    }
    // 4 arrives before 3; 3 then still finds 1 and 2
    let t4 = {
        let data = encoded[4].clone();
        thread::scope(|s| {
            let h4 = s.spawn(|| {
                let mut o = ImageBuf::new();
                arrivals
                    .decode(&window, &data, &mut o, Duration::from_secs(20))
                    .map(|_| o)
            });
            thread::sleep(Duration::from_millis(30));
            window.decode(&encoded[3], &mut out, NO_WAIT).unwrap();
            check(&out, LzType::Rgb32, w, h, true, &imgs[3]);
            h4.join().unwrap()
        })
    };
    check(&t4.unwrap(), LzType::Rgb32, w, h, true, &imgs[4]);
    window.decode(&encoded[5], &mut out, NO_WAIT).unwrap();
    assert_eq!(window.ids(), vec![3, 4, 5]);
}

/// A hand-made GLZ image: header then `body`.
fn glz(ty: u8, w: u32, h: u32, stride: u32, id: u64, head_dist: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAGIC.to_be_bytes());
    v.extend_from_slice(&VERSION.to_be_bytes());
    v.push(ty);
    for x in [w, h, stride] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&head_dist.to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn hostile_images_are_rejected() {
    let window = GlzWindow::new(1 << 20);
    let mut out = ImageBuf::new();
    let lit4 = [3u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    // image 0: 4x1 RGB32, four literal pixels
    window
        .decode(&glz(8, 4, 1, 16, 0, 0, &lit4), &mut out, NO_WAIT)
        .unwrap();
    // type nibble out of range, palette and alpha types, unknown flag bits
    for ty in [0u8, 1, 5, 10, 11, 12, 15, 0x28, 0x88] {
        let e = window
            .decode(&glz(ty, 4, 1, 16, 1, 1, &lit4), &mut out, NO_WAIT)
            .unwrap_err();
        assert!(matches!(e, CodecError::Invalid { .. }), "{ty}: {e:?}");
    }
    // w*h overflow / limits, stride mismatch, empty, negative
    assert!(matches!(
        window.decode(&glz(8, 65536, 65536, 262_144, 1, 1, &lit4), &mut out, NO_WAIT),
        Err(CodecError::TooLarge { .. })
    ));
    assert!(
        window
            .decode(&glz(8, 4, 1, 12, 1, 1, &lit4), &mut out, NO_WAIT)
            .is_err()
    );
    assert!(window.decode(&glz(8, 0, 1, 0, 1, 1, &lit4), &mut out, NO_WAIT).is_err());
    assert!(
        window
            .decode(&glz(8, 0x8000_0000, 1, 0, 1, 1, &lit4), &mut out, NO_WAIT)
            .is_err()
    );
    // truncated header and body
    let ok = glz(8, 4, 1, 16, 1, 1, &lit4);
    for cut in [3, 20, 36, ok.len() - 1] {
        assert!(window.decode(&ok[..cut], &mut out, NO_WAIT).is_err(), "cut {cut}");
    }
    // head before image 0
    assert!(
        window
            .decode(&glz(8, 4, 1, 16, 1, 2, &lit4), &mut out, NO_WAIT)
            .is_err()
    );
    // image 1 references image 0 at offset 1, 3 pixels: fits exactly
    let reference = |ofs: u8, len_field: u8, dist_code: u8| [len_field << 5 | ofs, 0, dist_code];
    let body = [&[0u8, 9, 9, 9][..], &reference(1, 3, 1)].concat();
    window
        .decode(&glz(8, 4, 1, 16, 1, 1, &body), &mut out, NO_WAIT)
        .unwrap();
    assert_eq!(out.data, [9, 9, 9, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255]);
    // offset + len beyond the referenced image
    let body = [&[0u8, 9, 9, 9][..], &reference(2, 3, 1)].concat();
    assert!(
        window
            .decode(&glz(8, 4, 1, 16, 2, 2, &body), &mut out, NO_WAIT)
            .is_err()
    );
    // reference beyond the window head (image distance 2 with win_head_dist 1)
    let body = [&[0u8, 9, 9, 9][..], &reference(0, 3, 2)].concat();
    assert!(matches!(
        window.decode(&glz(8, 4, 1, 16, 3, 1, &body), &mut out, NO_WAIT),
        Err(CodecError::Invalid { .. })
    ));
    // image distance larger than the id
    let body = [&[0u8, 9, 9, 9][..], &reference(0, 3, 63)].concat();
    assert!(
        window
            .decode(&glz(8, 4, 1, 16, 5, 5, &body), &mut out, NO_WAIT)
            .is_err()
    );
    // a reference to an id that never comes: pending, then GlzMissing once the caller gives up
    let body = [&[0u8, 9, 9, 9][..], &reference(0, 3, 1)].concat();
    let e = window.decode(&glz(8, 4, 1, 16, 1000, 1, &body), &mut out, Absent::Pending);
    assert_eq!(e, Err(CodecError::GlzPending { id: 999, by: 1000 }));
    let e = window.decode(&glz(8, 4, 1, 16, 1000, 1, &body), &mut out, Absent::Missing);
    assert_eq!(e, Err(CodecError::GlzMissing { id: 999, by: 1000 }));
    // in-image match before the start, and past the end
    assert!(
        window
            .decode(&glz(8, 4, 1, 16, 6, 0, &[0, 1, 2, 3, 0x20, 1, 0]), &mut out, NO_WAIT)
            .is_err()
    );
    assert!(
        window
            .decode(&glz(8, 4, 1, 16, 6, 0, &[0, 1, 2, 3, 0xe0, 9, 0, 0]), &mut out, NO_WAIT)
            .is_err()
    );
}

#[test]
fn window_stays_bounded_and_clear_forgets() {
    let (w, h) = (50u32, 50u32);
    let size = u64::from(w * h) * 4;
    // the encoder's window is larger than the decoder's: the decoder evicts by size
    let mut enc = GlzEncoder::new(u64::from(w * h) * 10);
    let window = GlzWindow::new(size * 3);
    let mut out = ImageBuf::new();
    for i in 0..20 {
        let s = src(LzType::Rgb32, w, h, Content::Text, i);
        let data = enc.encode(LzType::Rgb32, w, h, true, &s).unwrap();
        // references to evicted images are missing, never pending
        let r = window.decode(&data, &mut out, Absent::Pending);
        assert!(!matches!(r, Err(CodecError::GlzPending { .. })), "{r:?}");
        assert!(window.held_bytes() <= size * 3);
    }
    // an image larger than the whole window is decoded, not kept
    let small = GlzWindow::new(16);
    let data = GlzEncoder::new(1 << 20)
        .encode(LzType::Rgb32, 8, 8, true, &src(LzType::Rgb32, 8, 8, Content::Text, 1))
        .unwrap();
    small.decode(&data, &mut out, NO_WAIT).unwrap();
    assert_eq!(small.held_bytes(), 0);
    // clear: empty, and a waiter fails at once
    let window = Arc::new(window);
    let arrivals = Arrivals::attach(&window);
    let waiter = {
        let window = Arc::clone(&window);
        let body = [&[0u8, 9, 9, 9][..], &[0x61u8, 0, 1][..]].concat();
        thread::spawn(move || {
            let t = Instant::now();
            let mut o = ImageBuf::new();
            let r = arrivals.decode(
                &window,
                &glz(8, 4, 1, 16, 500, 1, &body),
                &mut o,
                Duration::from_secs(30),
            );
            (r, t.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(50));
    window.clear();
    let (r, took) = waiter.join().unwrap();
    assert!(matches!(r, Err(CodecError::GlzMissing { id: 499, by: 500 })), "{r:?}");
    assert!(took < Duration::from_secs(10));
    assert_eq!(window.held_bytes(), 0);
    assert!(window.ids().is_empty());
}

#[test]
fn poisoned_lock_is_recovered() {
    let window = Arc::new(GlzWindow::new(1 << 20));
    let w2 = Arc::clone(&window);
    let _ = thread::spawn(move || {
        let _g = w2.state.lock();
        panic!("poison the window lock");
    })
    .join();
    assert!(window.state.is_poisoned());
    let mut out = ImageBuf::new();
    let data = GlzEncoder::new(1 << 10)
        .encode(LzType::Rgb32, 4, 1, true, &[1; 16])
        .unwrap();
    window.decode(&data, &mut out, NO_WAIT).unwrap();
    window.clear();
}

/// Writes the committed fuzz seeds of `lz`, `glz_sequence` and `zlib_glz` into
/// `tests/fuzz/regression/<target>/`: `cargo test --lib write_lz_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes tests/fuzz/regression/{lz,glz_sequence,zlib_glz}; run on demand"]
fn write_lz_fuzz_seeds() {
    use crate::codec::lz::encode::encode;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regression");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    // lz: byte 0 = palette length
    let lz = |plt: u8, ty: LzType, w: u32, h: u32, top_down: bool, content: Content| {
        let mut s = bytes(
            content,
            (ty.stride_for(w).unwrap() * h) as usize,
            ty.bytes_per_pixel() as usize,
            5,
        );
        if ty == LzType::Plt8 {
            s.iter_mut().for_each(|b| *b %= plt.max(1));
        }
        [vec![plt], encode(ty, w, h, top_down, &s).unwrap()].concat()
    };
    write(
        "lz",
        "seed-rgb32-text-16x8",
        &lz(0, LzType::Rgb32, 16, 8, true, Content::Text),
    );
    write(
        "lz",
        "seed-rgba-9x5-bottom-up",
        &lz(0, LzType::Rgba, 9, 5, false, Content::Text),
    );
    write(
        "lz",
        "seed-rgb24-photo-5x5",
        &lz(0, LzType::Rgb24, 5, 5, true, Content::Photo),
    );
    write(
        "lz",
        "seed-rgb16-12x4",
        &lz(0, LzType::Rgb16, 12, 4, true, Content::Text),
    );
    write(
        "lz",
        "seed-plt8-10x6",
        &lz(20, LzType::Plt8, 10, 6, false, Content::Text),
    );
    write(
        "lz",
        "seed-plt4be-7x3",
        &lz(16, LzType::Plt4Be, 7, 3, true, Content::Text),
    );
    write(
        "lz",
        "seed-plt1le-13x3",
        &lz(2, LzType::Plt1Le, 13, 3, true, Content::Photo),
    );
    write("lz", "seed-a8-8x8", &lz(0, LzType::A8, 8, 8, true, Content::Text));
    write("lz", "seed-xxxa-6x6", &lz(0, LzType::Xxxa, 6, 6, false, Content::Text));
    let mut bad = lz(0, LzType::Rgb32, 4, 4, true, Content::Text);
    bad[1 + 11] = 12;
    write("lz", "hostile-type-12", &bad);
    let mut bad = lz(0, LzType::Rgb32, 4, 4, true, Content::Text);
    bad[1 + 23] = 15;
    write("lz", "hostile-stride-not-width-times-bpp", &bad);
    let mut bad = lz(0, LzType::Rgb32, 4, 4, true, Content::Text);
    bad[1 + 12] = 0xff;
    write("lz", "hostile-negative-width", &bad);
    write(
        "lz",
        "hostile-palette-index-beyond-palette",
        &lz(200, LzType::Plt8, 10, 6, true, Content::Photo)
            .iter()
            .enumerate()
            .map(|(i, &b)| if i == 0 { 3 } else { b })
            .collect::<Vec<_>>(),
    );
    let ok = lz(0, LzType::Rgb32, 16, 8, true, Content::Text);
    write("lz", "hostile-truncated", &ok[..ok.len() - 3]);
    let mut hdr: Vec<u8> = vec![0];
    for w in [MAGIC, VERSION, 8, 4, 1, 16, 1] {
        hdr.extend_from_slice(&w.to_be_bytes());
    }
    write(
        "lz",
        "hostile-match-before-start",
        &[hdr, vec![0, 1, 2, 3, 0x20, 5]].concat(),
    );

    // glz_sequence: b0 = count - 1 | window selector << 5, images length-prefixed
    let seq = |k: u8, imgs: &[Vec<u8>]| {
        let mut v = vec![(imgs.len() as u8 - 1) | k << 5];
        for (i, img) in imgs.iter().enumerate() {
            if i + 1 < imgs.len() {
                v.extend_from_slice(&(img.len() as u16).to_le_bytes());
            }
            v.extend_from_slice(img);
        }
        v
    };
    let (w, h) = (16u32, 8u32);
    let imgs = sequence(4, w, h);
    let mut enc = GlzEncoder::new(u64::from(w * h) * 4);
    let encoded: Vec<Vec<u8>> = imgs
        .iter()
        .map(|s| enc.encode(LzType::Rgb32, w, h, true, s).unwrap())
        .collect();
    assert!(header(&encoded[3]).unwrap().win_head_dist == 3);
    write(
        "glz_sequence",
        "seed-four-images-referencing-earlier-ones",
        &seq(4, &encoded),
    );
    let mut enc = GlzEncoder::new(1000);
    let a = src(LzType::Rgba, 8, 4, Content::Text, 3);
    let rgba: Vec<Vec<u8>> = (0..2)
        .map(|_| enc.encode(LzType::Rgba, 8, 4, false, &a).unwrap())
        .collect();
    write("glz_sequence", "seed-rgba-bottom-up-pair", &seq(3, &rgba));
    let mut enc = GlzEncoder::new(1000);
    let one = enc
        .encode(LzType::Rgb16, 10, 3, true, &src(LzType::Rgb16, 10, 3, Content::Text, 4))
        .unwrap();
    write("glz_sequence", "seed-rgb16-single", &seq(0, &[one]));
    let refers_to_4 = [&[0u8, 9, 9, 9][..], &[0x61u8, 0, 1][..]].concat();
    write(
        "glz_sequence",
        "hostile-reference-never-sent",
        &seq(4, &[encoded[0].clone(), glz(8, 4, 1, 16, 5, 2, &refers_to_4)]),
    );
    let mut bad = encoded[0].clone();
    bad[8] = 0x2c;
    write("glz_sequence", "hostile-type-nibble", &seq(4, &[bad]));
    let body = [&[0u8, 9, 9, 9][..], &[0x62u8, 0, 1][..]].concat();
    let first = glz(8, 4, 1, 16, 0, 0, &[3u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    write(
        "glz_sequence",
        "hostile-offset-beyond-referenced-image",
        &seq(4, &[first, glz(8, 4, 1, 16, 1, 1, &body)]),
    );

    // zlib_glz: declared size (LE) + zlib stream
    let zlib = |d: &[u8]| {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let mut enc = GlzEncoder::new(1 << 16);
    let g = enc
        .encode(
            LzType::Rgb32,
            32,
            16,
            true,
            &src(LzType::Rgb32, 32, 16, Content::Text, 8),
        )
        .unwrap();
    let sized = |n: u32, z: &[u8]| [n.to_le_bytes().to_vec(), z.to_vec()].concat();
    write("zlib_glz", "seed-rgb32-32x16", &sized(g.len() as u32, &zlib(&g)));
    write(
        "zlib_glz",
        "hostile-inflates-beyond-declared-size",
        &sized(g.len() as u32 - 1, &zlib(&g)),
    );
    write("zlib_glz", "hostile-zip-bomb", &sized(64, &zlib(&vec![0u8; 1 << 20])));
    let mut z = zlib(&g);
    let last = z.len() - 1;
    z[last] ^= 0x55;
    write("zlib_glz", "hostile-bad-adler32", &sized(g.len() as u32, &z));
    write(
        "zlib_glz",
        "hostile-truncated-stream",
        &sized(g.len() as u32, &zlib(&g)[..20]),
    );
}

#[test]
fn shared_decode_gives_the_window_pixels_without_a_copy_when_top_down() {
    let mut enc = GlzEncoder::new(1 << 22);
    let window = GlzWindow::new(4 << 22);
    let mut out = ImageBuf::new();
    let (w, h) = (33, 17);
    for ty in [LzType::Rgb32, LzType::Rgba, LzType::Rgb16] {
        for top_down in [true, false] {
            let s = src(ty, w, h, Content::Text, 5);
            let data = enc.encode(ty, w, h, top_down, &s).unwrap();
            let d = window.decode_shared(&data, NO_WAIT).unwrap();
            assert_eq!((d.width, d.height, d.has_alpha), (w, h, ty == LzType::Rgba));
            assert!(
                *d.pixels == expected(ty, w, h, top_down, &s, &[]),
                "{ty:?} top_down={top_down}"
            );
            // Top-down: the window holds the very same buffer.
            assert_eq!(Arc::strong_count(&d.pixels), if top_down { 2 } else { 1 });
            if ty != LzType::Rgba {
                assert!(
                    d.pixels.chunks_exact(4).all(|p| p[3] == 255),
                    "opaque output has alpha 255"
                );
            }
            // The copying decode gives the same pixels (of the same image encoded again).
            let again = enc.encode(ty, w, h, top_down, &s).unwrap();
            window.decode(&again, &mut out, NO_WAIT).unwrap();
            assert_eq!(out.data, *d.pixels);
        }
    }
}

#[test]
fn the_window_counts_against_the_session_budget() {
    use crate::budget::MemoryBudget;
    let one = 16 * 16 * 4;
    // Room for one image and a half: each new image evicts the previous one.
    let budget = MemoryBudget::new(one * 3 / 2);
    let window = GlzWindow::new(1 << 20);
    window.attach_budget(&budget);
    let mut enc = GlzEncoder::new(16 * 16 + 16);
    let mut out = ImageBuf::new();
    for i in 0..6u64 {
        let s = src(LzType::Rgb32, 16, 16, Content::Text, i);
        let data = enc.encode(LzType::Rgb32, 16, 16, true, &s).unwrap();
        window.decode(&data, &mut out, NO_WAIT).unwrap();
        check(&out, LzType::Rgb32, 16, 16, true, &s);
        assert_eq!(window.ids(), [i]);
        assert_eq!(budget.used(), window.held_bytes());
    }
    // Larger than what the budget has left: decoded, not kept.
    let big = src(LzType::Rgb32, 32, 32, Content::Text, 9);
    let mut enc = GlzEncoder::starting_at(1 << 12, enc.next_id());
    let data = enc.encode(LzType::Rgb32, 32, 32, true, &big).unwrap();
    window.decode(&data, &mut out, NO_WAIT).unwrap();
    assert!(budget.used() <= budget.limit());
    assert_eq!(budget.used(), window.held_bytes());
    window.clear();
    assert_eq!(budget.used(), 0);
    assert!(budget.peak() <= budget.limit());
}
