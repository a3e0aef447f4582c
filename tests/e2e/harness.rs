//! Tests of the test harness's own pieces (`support/`; no server needed).

use crate::support::image::{Rect, RgbImage, compare_images, decode_xwd};
use crate::support::real::clients::spice_uri;
use crate::support::tools::{Tool, in_ci, require_tools};

#[test]
fn harness_image_compare_and_mask() {
    let a = RgbImage {
        width: 4,
        height: 2,
        data: vec![0; 24],
    };
    let mut b = a.clone();
    b.data[(4 + 2) * 3] = 9; // pixel (2, 1)
    let diff = compare_images(&a, &b, &[]);
    assert_eq!((diff.differing, diff.bbox), (1, Some(Rect::new(2, 1, 1, 1))), "{diff}");
    assert!(
        compare_images(&a, &b, &[Rect::new(2, 0, 1, 2)]).is_identical(),
        "mask hides the pixel"
    );
    let c = RgbImage {
        width: 2,
        height: 4,
        data: vec![0; 24],
    };
    assert!(!compare_images(&a, &c, &[]).size_matches, "4x2 vs 2x4");

    let ppm = [b"P6\n# comment\n4 2\n255\n".as_slice(), &b.data].concat();
    assert_eq!(RgbImage::decode(&ppm).expect("decode PPM"), b, "PPM round trip");
    let png = std::env::temp_dir().join(format!("sumac-harness-{}.png", std::process::id()));
    b.save_png(&png).expect("write PNG");
    let back = RgbImage::load(&png).expect("read PNG back");
    let _ = std::fs::remove_file(&png);
    assert_eq!(back, b, "PNG round trip");
}

#[test]
fn harness_missing_tool_policy() {
    let tool = Tool {
        binary: "sumac-no-such-program",
        package: "sumac-no-such-package",
    };
    let outcome = std::panic::catch_unwind(|| require_tools(&[tool]));
    if in_ci() {
        let err = outcome.expect_err("CI set: a missing tool must fail the test");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("sumac-no-such-package"),
            "the failure names the package: {msg}"
        );
    } else {
        assert_eq!(
            outcome.expect("CI unset: a missing tool skips"),
            None,
            "missing tool → skip"
        );
    }
    assert_eq!(
        require_tools(&[Tool {
            binary: "sh",
            package: "dash"
        }]),
        Some(()),
        "sh exists"
    );
}

#[test]
fn harness_spice_uris() {
    assert_eq!(spice_uri(Some(5900), None, None), "spice://127.0.0.1:5900");
    assert_eq!(spice_uri(None, Some(5901), None), "spice+tls://127.0.0.1:5901");
    assert_eq!(
        spice_uri(Some(1), Some(2), Some("pw")),
        "spice://127.0.0.1?port=1&tls-port=2&password=pw"
    );
    assert_eq!(
        spice_uri(Some(1), None, Some("pw")),
        "spice://127.0.0.1?port=1&password=pw"
    );
}

#[test]
fn harness_xwd_decoder() {
    // A 2x1 ZPixmap TrueColor dump, 32 bpp, LSBFirst pixels, as `xwd -root` writes on x86.
    let name = b"xwdump\0\0";
    let header_size = 25 * 4 + name.len() as u32;
    let fields: [u32; 25] = [
        header_size,
        7,
        2,
        24,
        2,
        1,
        0,
        0,
        32,
        0,
        32,
        32,
        8,
        4,
        0xff0000,
        0xff00,
        0xff,
        8,
        256,
        1,
        2,
        1,
        0,
        0,
        0,
    ];
    let mut bytes: Vec<u8> = fields.iter().flat_map(|f| f.to_be_bytes()).collect();
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&[0; 12]); // one XWDColor entry (ncolors = 1), ignored for TrueColor
    bytes.extend_from_slice(&0x0033_6699u32.to_le_bytes());
    bytes.extend_from_slice(&0x00ff_8001u32.to_le_bytes());
    let image = decode_xwd(&bytes).expect("decode synthetic XWD");
    assert_eq!((image.width, image.height), (2, 1), "XWD size");
    assert_eq!(image.data, vec![0x33, 0x66, 0x99, 0xff, 0x80, 0x01], "XWD pixels");
    assert!(decode_xwd(&bytes[..50]).is_err(), "truncated XWD is an error");
}

#[test]
fn harness_refuses_real_servers_in_the_hermetic_binary() {
    let outcome = std::panic::catch_unwind(|| crate::support::real::require_real_servers(&[]));
    let err = outcome.expect_err("a real-server test in the e2e binary must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("tests/e2e/real/"),
        "the failure says where such tests go: {msg}"
    );
}
