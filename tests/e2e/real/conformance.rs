//! Display conformance against real Xspice: for each image compression the
//! server can use, Sumac stays connected while real X clients draw (text
//! scrolling, a photo window shown and moved, windows closed: COPY_BITS, image
//! caches and GLZ dictionary references all occur), and its primary surface
//! must end up equal to the server's framebuffer (`xwd -root`) pixel for pixel.
//! With JPEG forced, the lossy result must stay within PSNR ≥ 40 dB.

use crate::support::artifact_dir;
use crate::support::image::{Rect, compare_images, psnr_in};
use crate::support::process::signal_pid;
use crate::support::real::qemu::{MEMTEST_KERNEL, Qemu, QemuOpts};
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{QEMU_TOOLS, XSPICE_TOOLS, require_real_servers};
use crate::support::session::{primary_image, wait_mark};
use crate::support::tools::in_ci;
use std::time::{Duration, Instant};
use sumac::client::{ConnectionConfig, SessionOptions};
use sumac::proto::channel::display::image_compression;

/// Connects, waits for the first frame, drives the X clients, then waits until
/// the client's surface matches the settled framebuffer (or returns the last diff).
fn run_scene(name: &str, opts: XspiceOpts, client: SessionOptions, lossy: bool, expect_codec: bool) {
    if require_real_servers(XSPICE_TOOLS).is_none() {
        return;
    }
    let mut xs = Xspice::start(opts).expect("start Xspice");
    // A gradient background: photo-like content for the codecs.
    let bg = xs.scratch_dir().join("bg.png");
    let out = std::process::Command::new("convert")
        .args(["-size", "1024x768", "gradient:#203060-#a0c0e0"])
        .arg(&bg)
        .output()
        .expect("convert");
    assert!(
        out.status.success(),
        "convert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = xs.run_x("display", &["-window", "root", &bg.display().to_string()]);
    xs.spawn_xterm("80x24+30+30", "Sumac conformance: text, photo, scroll")
        .expect("xterm");
    xs.wait_for_stable_framebuffer(Duration::from_millis(500), Duration::from_secs(30))
        .expect("scene settles");

    let config = ConnectionConfig::from_uri(&xs.uri()).expect("uri");
    let (session, mut rx) = sumac::client::connect(config, client).expect("connect");
    wait_mark(&mut rx, Duration::from_secs(30));

    // Drawing while connected.
    let scroller = xs
        .spawn_x(
            "xterm",
            &[
                "-geometry",
                "60x12+80+420",
                "-e",
                "sh",
                "-c",
                "seq 1 300; exec sleep 100000",
            ],
        )
        .expect("scrolling xterm");
    let photo = xs
        .spawn_x("display", &["-geometry", "+600+350", "-resize", "300%", "rose:"])
        .expect("display");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = xs.run_x(
        "sh",
        &[
            "-c",
            "for w in $(xdotool search --name rose); do xdotool windowmove $w 520 300; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
    signal_pid(scroller, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    let truth = xs
        .wait_for_stable_framebuffer(Duration::from_millis(700), Duration::from_secs(30))
        .expect("framebuffer settles");
    let _ = photo;

    // The client must converge on the same pixels.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut last_diff, mut last_psnr) = (String::new(), 0.0);
    loop {
        while rx.try_recv().is_ok() {}
        if let Some(img) = primary_image(&session) {
            if lossy {
                if img.width == truth.width && img.height == truth.height {
                    last_psnr = psnr_in(&img, &truth, Rect::new(0, 0, img.width, img.height));
                    if last_psnr >= 40.0 {
                        eprintln!("{name}: PSNR {last_psnr:.1} dB");
                        break;
                    }
                }
            } else {
                let d = compare_images(&img, &truth, &[]);
                if d.is_identical() {
                    break;
                }
                last_diff = d.to_string();
            }
            if Instant::now() > deadline {
                let dir = artifact_dir(name);
                let _ = img.save_png(&dir.join("actual.png"));
                let _ = truth.save_png(&dir.join("expected.png"));
                let stats = session
                    .display(0)
                    .map(|s| format!("{:?}", s.lock().unwrap().stats()))
                    .unwrap_or_default();
                panic!(
                    "{name}: Sumac's surface never matched the framebuffer: {last_diff} (PSNR {last_psnr:.1}); \
                     images in {}; display stats {stats}",
                    dir.display()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = session
        .display(0)
        .map(|s| s.lock().unwrap().stats().clone())
        .expect("display stats");
    eprintln!(
        "{name}: {} draws applied, {} images decoded, cache {} inserts / {} hits",
        stats.draws_applied, stats.images.decoded, stats.images.cache_inserts, stats.images.cache_hits
    );
    assert_eq!(stats.total_errors(), 0, "{name}: display errors {stats:?}");
    assert!(stats.draws_applied > 50, "{name}: the scene drew too little: {stats:?}");
    if expect_codec {
        assert!(
            stats.images.decoded > 0,
            "{name}: no compressed image was exercised: {stats:?}"
        );
    }
    session.disconnect();
}

fn server_compression(name: &str, c: &'static str) {
    let opts = XspiceOpts {
        image_compression: Some(c),
        ..Default::default()
    };
    run_scene(name, opts, SessionOptions::default(), false, c != "off");
}

#[test]
fn xspice_compression_off() {
    server_compression("conformance-off", "off");
}

#[test]
fn xspice_compression_quic() {
    server_compression("conformance-quic", "quic");
}

#[test]
fn xspice_compression_lz() {
    server_compression("conformance-lz", "lz");
}

#[test]
fn xspice_compression_glz() {
    server_compression("conformance-glz", "glz");
}

#[test]
fn xspice_compression_auto_glz() {
    server_compression("conformance-auto-glz", "auto_glz");
}

#[test]
fn xspice_compression_auto_lz() {
    server_compression("conformance-auto-lz", "auto_lz");
}

#[test]
fn xspice_lz4_by_client_preference() {
    let client = SessionOptions {
        preferred_compression: Some(image_compression::LZ4),
        ..Default::default()
    };
    run_scene("conformance-lz4", XspiceOpts::default(), client, false, true);
}

#[test]
fn xspice_jpeg_always_psnr_40() {
    let opts = XspiceOpts {
        jpeg_wan: Some("always"),
        ..Default::default()
    };
    run_scene("conformance-jpeg", opts, SessionOptions::default(), true, true);
}

/// QEMU (qxl, the server's default auto_glz) running memtest86+, which keeps
/// redrawing: Sumac follows it live; once the VM is paused (QMP `stop`) the
/// client's surface must equal QMP `screendump` pixel for pixel.
#[test]
fn qemu_memtest_drawing_matches_screendump() {
    if require_real_servers(QEMU_TOOLS).is_none() {
        return;
    }
    if !std::path::Path::new(MEMTEST_KERNEL).exists() {
        assert!(
            !in_ci(),
            "{MEMTEST_KERNEL} missing: install the Debian package memtest86+"
        );
        eprintln!("skipping: {MEMTEST_KERNEL} missing (Debian package memtest86+)");
        return;
    }
    let qemu = Qemu::start(QemuOpts {
        kernel: Some(MEMTEST_KERNEL.into()),
        ..Default::default()
    })
    .expect("start QEMU with memtest86+");
    let config = ConnectionConfig::from_uri(&qemu.uri()).expect("uri");
    let (session, mut rx) = sumac::client::connect(config, SessionOptions::default()).expect("connect");
    // Let memtest86+ boot and start testing (Enter starts it when it waits), while connected.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Boot time depends on the machine's load: poll the guest's screen (up to
    // 90 s) until memtest86+ has drawn its screen, then let it run a little.
    let mut pump = |d: Duration| {
        let end = Instant::now() + d;
        while Instant::now() < end {
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_millis(200), rx.recv()).await });
        }
    };
    let boot_deadline = Instant::now() + Duration::from_secs(90);
    pump(Duration::from_secs(4));
    while Instant::now() < boot_deadline {
        let drawn = qemu
            .screendump()
            .map(|s| (s.count_color([0, 0, 0]) as u64) + 5000 < u64::from(s.width) * u64::from(s.height))
            .unwrap_or(false);
        if drawn {
            break;
        }
        pump(Duration::from_secs(1));
    }
    pump(Duration::from_secs(2));
    let _ = qemu.send_key(&["ret"]);
    pump(Duration::from_secs(3));
    qemu.qmp("stop", None).expect("QMP stop");
    std::thread::sleep(Duration::from_millis(500));
    let truth = qemu.screendump().expect("screendump");
    let black = truth.count_color([0, 0, 0]) as u64;
    assert!(
        black + 5000 < u64::from(truth.width) * u64::from(truth.height),
        "memtest86+ screen is (nearly) black: it did not start"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        while rx.try_recv().is_ok() {}
        let img = primary_image(&session);
        if let Some(img) = &img {
            let d = compare_images(img, &truth, &[]);
            if d.is_identical() {
                break;
            }
            if Instant::now() > deadline {
                let dir = artifact_dir("conformance-memtest");
                let _ = img.save_png(&dir.join("actual.png"));
                let _ = truth.save_png(&dir.join("expected.png"));
                panic!(
                    "memtest86+: Sumac differs from the screendump: {d}; images in {}",
                    dir.display()
                );
            }
        } else if Instant::now() > deadline {
            panic!("memtest86+: no primary surface on the client");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = session
        .display(0)
        .map(|s| s.lock().unwrap().stats().clone())
        .expect("stats");
    eprintln!(
        "memtest86+: {} draws applied, {} images decoded",
        stats.draws_applied, stats.images.decoded
    );
    assert_eq!(stats.total_errors(), 0, "display errors {stats:?}");
    session.disconnect();
}
