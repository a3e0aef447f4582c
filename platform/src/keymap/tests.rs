//! Hand-written spot checks of every table (values from the set-1 scancode
//! chart, `linux/input-event-codes.h`, `winuser.h`, Carbon `Events.h` and
//! xkeyboard-config's `keycodes/xfree86`), plus structural checks.

use super::*;
use std::collections::HashMap;

/// (name, XT scancode) of keys checked in every table.
const A: u16 = 0x1e;
const ENTER: u16 = 0x1c;
const RIGHT_CTRL: u16 = 0x11d;
const KP_ENTER: u16 = 0x11c;
const DELETE: u16 = 0x153;
const LEFT_WIN: u16 = 0x15b;
const F1: u16 = 0x3b;
const ESC: u16 = 0x01;
const SPACE: u16 = 0x39;
const LEFT_SHIFT: u16 = 0x2a;
const RIGHT_SHIFT: u16 = 0x36;
const LEFT_CTRL: u16 = 0x1d;
const LEFT_ALT: u16 = 0x38;
const RIGHT_ALT: u16 = 0x138;
const BACKSPACE: u16 = 0x0e;
const TAB: u16 = 0x0f;
const UP: u16 = 0x148;
const LEFT: u16 = 0x14b;
const RIGHT: u16 = 0x14d;
const DOWN: u16 = 0x150;
const HOME: u16 = 0x147;
const END: u16 = 0x14f;
const PAGE_UP: u16 = 0x149;
const PAGE_DOWN: u16 = 0x151;
const INSERT: u16 = 0x152;
const KP_DIVIDE: u16 = 0x135;
const KP_7: u16 = 0x47;
const F11: u16 = 0x57;
const F12: u16 = 0x58;
const ISO_102ND: u16 = 0x56;
const PRINT: u16 = 0x54; // keycodemapdb's Print/SysRq: the Alt+SysRq make code
const MENU: u16 = 0x15d;
const CAPS: u16 = 0x3a;
const NUM_LOCK: u16 = 0x45;
const Z: u16 = 0x2c;
const ONE: u16 = 0x02;

fn check(table: &str, map: impl Fn(u32) -> Option<u16>, cases: &[(u32, u16)]) {
    for &(code, want) in cases {
        assert_eq!(
            map(code),
            Some(want),
            "{table}: keycode {code:#x} should map to {want:#x}"
        );
    }
}

#[test]
fn evdev_spot_checks() {
    let cases = [
        (30, A),
        (28, ENTER),
        (97, RIGHT_CTRL),
        (96, KP_ENTER),
        (111, DELETE),
        (125, LEFT_WIN),
        (126, 0x15c),
        (127, MENU),
        (59, F1),
        (87, F11),
        (88, F12),
        (119, XT_PAUSE),
        (99, PRINT),
        (1, ESC),
        (57, SPACE),
        (42, LEFT_SHIFT),
        (54, RIGHT_SHIFT),
        (29, LEFT_CTRL),
        (56, LEFT_ALT),
        (100, RIGHT_ALT),
        (14, BACKSPACE),
        (15, TAB),
        (103, UP),
        (105, LEFT),
        (106, RIGHT),
        (108, DOWN),
        (102, HOME),
        (107, END),
        (104, PAGE_UP),
        (109, PAGE_DOWN),
        (110, INSERT),
        (98, KP_DIVIDE),
        (71, KP_7),
        (86, ISO_102ND),
        (58, CAPS),
        (69, NUM_LOCK),
        (44, Z),
        (2, ONE),
        (113, 0x120), // KEY_MUTE
        (114, 0x12e), // KEY_VOLUMEDOWN
        (115, 0x130), // KEY_VOLUMEUP
        (89, 0x73),   // KEY_RO
        (124, 0x7d),  // KEY_YEN
        (123, 0xf1),  // KEY_HANJA
        (122, 0xf2),  // KEY_HANGEUL
    ];
    check("evdev", |c| u16::try_from(c).ok().and_then(evdev_to_xt), &cases);
    // X11/Wayland (GDK) keycodes are the same keys offset by 8.
    for (code, want) in cases {
        assert_eq!(x11_keycode_to_xt(code + 8), Some(want), "x11 keycode {}", code + 8);
        assert_eq!(KeycodeTable::X11Evdev.to_xt(code + 8), Some(want));
    }
}

#[test]
fn x11_evdev_keycodes() {
    // From xkeyboard-config keycodes/evdev.
    let cases = [
        (38, A),
        (36, ENTER),
        (105, RIGHT_CTRL),
        (104, KP_ENTER),
        (119, DELETE),
        (133, LEFT_WIN),
        (67, F1),
        (127, XT_PAUSE),
        (107, PRINT),
        (114, RIGHT),
        (108, RIGHT_ALT),
        (94, ISO_102ND),
        (135, MENU),
    ];
    check("x11 evdev", x11_keycode_to_xt, &cases);
    for unmapped in [0, 1, 7, 100_000, u32::MAX] {
        assert_eq!(x11_keycode_to_xt(unmapped), None, "x11 keycode {unmapped}");
    }
}

#[test]
fn xfree86_keycodes() {
    // From xkeyboard-config keycodes/xfree86.
    let cases = [
        (38, A),
        (36, ENTER),
        (109, RIGHT_CTRL),
        (108, KP_ENTER),
        (107, DELETE),
        (115, LEFT_WIN),
        (116, 0x15c),
        (117, MENU),
        (67, F1),
        (110, XT_PAUSE),
        (111, PRINT),
        (113, RIGHT_ALT),
        (106, INSERT),
        (97, HOME),
        (98, UP),
        (100, LEFT),
        (104, DOWN),
        (102, RIGHT),
        (112, KP_DIVIDE),
        (94, ISO_102ND),
        (9, ESC),
        (50, LEFT_SHIFT),
        (37, LEFT_CTRL),
    ];
    check("xfree86", xfree86_keycode_to_xt, &cases);
    check("xfree86 table", |c| KeycodeTable::X11Xfree86.to_xt(c), &cases);
}

#[test]
fn win32_virtual_keys() {
    let cases = [
        (0x41, A),           // 'A'
        (0x5a, Z),           // 'Z'
        (0x31, ONE),         // '1'
        (0x0d, ENTER),       // VK_RETURN
        (0xa3, RIGHT_CTRL),  // VK_RCONTROL
        (0xa2, LEFT_CTRL),   // VK_LCONTROL
        (0x11, LEFT_CTRL),   // VK_CONTROL: left when Windows does not say
        (0x2e, DELETE),      // VK_DELETE
        (0x5b, LEFT_WIN),    // VK_LWIN
        (0x5d, MENU),        // VK_APPS
        (0x70, F1),          // VK_F1
        (0x7b, F12),         // VK_F12
        (0x13, XT_PAUSE),    // VK_PAUSE
        (0x2c, PRINT),       // VK_SNAPSHOT
        (0x1b, ESC),         // VK_ESCAPE
        (0x20, SPACE),       // VK_SPACE
        (0x08, BACKSPACE),   // VK_BACK
        (0x09, TAB),         // VK_TAB
        (0x25, LEFT),        // VK_LEFT
        (0x27, RIGHT),       // VK_RIGHT
        (0x26, UP),          // VK_UP
        (0x28, DOWN),        // VK_DOWN
        (0x6f, KP_DIVIDE),   // VK_DIVIDE
        (0x67, KP_7),        // VK_NUMPAD7
        (0xa0, LEFT_SHIFT),  // VK_LSHIFT
        (0xa1, RIGHT_SHIFT), // VK_RSHIFT
        (0xa4, LEFT_ALT),    // VK_LMENU
        (0xa5, RIGHT_ALT),   // VK_RMENU
        (0x14, CAPS),        // VK_CAPITAL
        (0x90, NUM_LOCK),    // VK_NUMLOCK
        (0xe2, ISO_102ND),   // VK_OEM_102: the ISO key, not the JIS Ro key
    ];
    check("win32", win32_vk_to_xt, &cases);
    check("win32 table", |c| KeycodeTable::Win32.to_xt(c), &cases);
    // Mouse buttons are virtual keys too, but no keyboard key.
    for vk in [0x01, 0x02, 0x04, 0x100] {
        assert_eq!(win32_vk_to_xt(vk), None, "vk {vk:#x}");
    }
}

#[test]
fn macos_virtual_keycodes() {
    let cases = [
        (0x00, A),           // kVK_ANSI_A
        (0x06, Z),           // kVK_ANSI_Z
        (0x12, ONE),         // kVK_ANSI_1
        (0x24, ENTER),       // kVK_Return
        (0x3e, RIGHT_CTRL),  // kVK_RightControl
        (0x3b, LEFT_CTRL),   // kVK_Control
        (0x4c, KP_ENTER),    // kVK_ANSI_KeypadEnter
        (0x75, DELETE),      // kVK_ForwardDelete
        (0x33, BACKSPACE),   // kVK_Delete
        (0x37, LEFT_WIN),    // kVK_Command
        (0x7a, F1),          // kVK_F1
        (0x6f, F12),         // kVK_F12
        (0x35, ESC),         // kVK_Escape
        (0x31, SPACE),       // kVK_Space
        (0x30, TAB),         // kVK_Tab
        (0x7b, LEFT),        // kVK_LeftArrow
        (0x7c, RIGHT),       // kVK_RightArrow
        (0x7e, UP),          // kVK_UpArrow
        (0x7d, DOWN),        // kVK_DownArrow
        (0x73, HOME),        // kVK_Home
        (0x77, END),         // kVK_End
        (0x74, PAGE_UP),     // kVK_PageUp
        (0x79, PAGE_DOWN),   // kVK_PageDown
        (0x4b, KP_DIVIDE),   // kVK_ANSI_KeypadDivide
        (0x59, KP_7),        // kVK_ANSI_Keypad7
        (0x38, LEFT_SHIFT),  // kVK_Shift
        (0x3c, RIGHT_SHIFT), // kVK_RightShift
        (0x3a, LEFT_ALT),    // kVK_Option
        (0x3d, RIGHT_ALT),   // kVK_RightOption
        (0x39, CAPS),        // kVK_CapsLock
        (0x0a, ISO_102ND),   // kVK_ISO_Section
    ];
    check("macos", macos_keycode_to_xt, &cases);
    check("macos table", |c| KeycodeTable::MacOs.to_xt(c), &cases);
    // XQuartz is the same keys offset by 8.
    for (code, want) in cases {
        assert_eq!(
            xquartz_keycode_to_xt(code + 8),
            Some(want),
            "xquartz keycode {}",
            code + 8
        );
    }
}

#[test]
fn xwin_keycodes() {
    let cases = [
        (38, A),
        (36, ENTER),
        (109, RIGHT_CTRL),
        (108, KP_ENTER),
        (107, DELETE),
        (67, F1),
        (9, ESC),
    ];
    check("xwin", xwin_keycode_to_xt, &cases);
}

/// Keycodes several physical keys of a table must not share: two keys
/// mapping to one XT code would make the guest see the wrong key.
fn assert_injective(name: &str, table: &[u16], allowed: &[u16]) {
    let mut seen: HashMap<u16, usize> = HashMap::new();
    for (code, &xt) in table.iter().enumerate() {
        if xt == 0 || allowed.contains(&xt) {
            continue;
        }
        let previous = seen.insert(xt, code);
        assert!(
            previous.is_none(),
            "{name}: keycodes {previous:#x?} and {code:#x} both map to {xt:#x}"
        );
    }
    assert!(seen.len() > 80, "{name}: only {} keys", seen.len());
}

#[test]
fn no_duplicate_keys() {
    // keycodemapdb gives 0x54 (Alt+SysRq) both to KEY_SYSRQ and to the unnamed
    // Linux keycode 84, the kernel's code for that scancode.
    assert_injective("evdev", &gen_evdev::EVDEV, &[PRINT]);
    assert_injective("x11 evdev", &gen_x11_evdev::X11_EVDEV, &[PRINT]);
    assert_eq!(evdev_to_xt(84), Some(PRINT));
    assert_injective("xfree86", &gen_xfree86::XFREE86, &[]);
    assert_injective("xquartz", &gen_xquartz::XQUARTZ, &[]);
    assert_injective("macos", &gen_macos::MACOS, &[]);
    assert_injective("xwin", &gen_xwin::XWIN, &[]);
    // Windows has generic and sided modifier codes (VK_CONTROL and VK_LCONTROL,
    // VK_SHIFT and VK_LSHIFT, VK_MENU and VK_LMENU) for the same key, and
    // VK_HANGUL/VK_IME_ON and VK_HANJA/VK_IME_OFF are the same keys too.
    assert_injective(
        "win32",
        &gen_win32::WIN32,
        &[LEFT_CTRL, LEFT_SHIFT, LEFT_ALT, 0xf1, 0xf2],
    );
}

#[test]
fn every_value_is_an_xt_scancode() {
    let tables: [&[u16]; 7] = [
        &gen_evdev::EVDEV,
        &gen_x11_evdev::X11_EVDEV,
        &gen_xfree86::XFREE86,
        &gen_xquartz::XQUARTZ,
        &gen_xwin::XWIN,
        &gen_win32::WIN32,
        &gen_macos::MACOS,
    ];
    for table in tables {
        for &xt in table {
            let ok = xt == 0 || (xt & !0x17f) == 0 || xt == 0xf1 || xt == 0xf2;
            assert!(ok, "{xt:#x} is not an XT scancode");
            if xt != 0 {
                assert!(xt_bytes(xt, true).is_some(), "{xt:#x} has no byte encoding");
            }
        }
    }
    // The first 8 X11 keycodes do not exist.
    assert!(gen_x11_evdev::X11_EVDEV.iter().take(8).all(|&xt| xt == 0));
}

#[test]
fn x11_keycodes_name_selects_table() {
    assert_eq!(
        keycode_table_for_x11("evdev+aliases(qwerty)"),
        Some(KeycodeTable::X11Evdev)
    );
    assert_eq!(keycode_table_for_x11("evdev"), Some(KeycodeTable::X11Evdev));
    assert_eq!(
        keycode_table_for_x11("xfree86+aliases(qwertz)"),
        Some(KeycodeTable::X11Xfree86)
    );
    assert_eq!(keycode_table_for_x11("  XFree86 "), Some(KeycodeTable::X11Xfree86));
    assert_eq!(keycode_table_for_x11("xquartz"), Some(KeycodeTable::X11Xquartz));
    assert_eq!(keycode_table_for_x11("sun(type6)"), None);
    assert_eq!(keycode_table_for_x11(""), None);
    assert_eq!(keycode_table_for_x11("é"), None);
}

#[test]
fn byte_sequences() {
    let bytes = |code, pressed| xt_bytes(code, pressed).map(|b| b.as_slice().to_vec());
    assert_eq!(bytes(A, true), Some(vec![0x1e]));
    assert_eq!(bytes(A, false), Some(vec![0x9e]));
    assert_eq!(bytes(RIGHT_CTRL, true), Some(vec![0xe0, 0x1d]));
    assert_eq!(bytes(RIGHT_CTRL, false), Some(vec![0xe0, 0x9d]));
    assert_eq!(bytes(XT_PAUSE, true), Some(PAUSE_SEQUENCE.to_vec()));
    assert_eq!(bytes(XT_PAUSE, false), Some(vec![]));
    assert_eq!(bytes(0xf1, true), Some(vec![0xf1]));
    assert_eq!(bytes(0xf2, false), Some(vec![]));
    for invalid in [0, 0x80, 0x100, 0x180, 0x200, 0xffff] {
        assert_eq!(bytes(invalid, true), None, "{invalid:#x}");
    }
}

#[test]
fn spice_key_codes() {
    assert_eq!(spice_key_code(A, true), Some(0x1e));
    assert_eq!(spice_key_code(A, false), Some(0x9e));
    assert_eq!(spice_key_code(RIGHT_CTRL, true), Some(0x1de0));
    assert_eq!(spice_key_code(RIGHT_CTRL, false), Some(0x9de0));
    assert_eq!(spice_key_code(DELETE, true), Some(0x53e0));
    assert_eq!(spice_key_code(XT_PAUSE, true), None);
    assert_eq!(spice_key_code(XT_PAUSE, false), None);
    assert_eq!(spice_key_code(0, true), None);
}

#[test]
fn native_table_matches_target() {
    let native = KeycodeTable::native();
    if cfg!(target_os = "linux") {
        assert_eq!(native, KeycodeTable::X11Evdev);
    }
    assert_eq!(native.to_xt(native_a()), Some(A));
}

fn native_a() -> u32 {
    match KeycodeTable::native() {
        KeycodeTable::Win32 => 0x41,
        KeycodeTable::MacOs => 0,
        _ => 38,
    }
}

/// The checked-in `gen_*.rs` are exactly what `tools/gen-keymaps.py` makes
/// from `tools/data/keymaps.csv`. Skips without python3 (fails under CI).
#[test]
fn generated_tables_are_up_to_date() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("sumac-gen-keymaps-{}", std::process::id()));
    let status = std::process::Command::new("python3")
        .arg(crate_dir.join("tools/gen-keymaps.py"))
        .arg("--out-dir")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status();
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but python3 cannot run: {error}"
            );
            eprintln!("skipped: python3 not available ({error})");
            return;
        }
    };
    assert!(status.success(), "gen-keymaps.py failed: {status}");
    let mut compared = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let fresh = std::fs::read_to_string(&path).unwrap();
        let checked_in = std::fs::read_to_string(crate_dir.join("src/keymap").join(&name)).unwrap();
        assert!(
            fresh == checked_in,
            "src/keymap/{} is stale: run python3 platform/tools/gen-keymaps.py",
            name.to_string_lossy()
        );
        compared += 1;
    }
    std::fs::remove_dir_all(&out).unwrap();
    assert_eq!(compared, 7, "tables generated");
}

/// Cross-check with xkeyboard-config, a source independent of keycodemapdb:
/// for every key name of `keycodes/evdev` and `keycodes/xfree86` that the
/// CSV's "XKB key name" column knows, the table maps the X keycode to that
/// row's set-1 code. Skips when xkb-data is not installed (fails under CI).
#[test]
fn x11_tables_agree_with_xkeyboard_config() {
    let dir = std::path::Path::new("/usr/share/X11/xkb/keycodes");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {} is missing (xkb-data)",
            dir.display()
        );
        eprintln!("skipped: {} not found (Debian package xkb-data)", dir.display());
        return;
    }
    let csv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/data/keymaps.csv")).unwrap();
    let mut header = csv.lines().next().unwrap().split(',').map(|h| h.trim_matches('"'));
    let at1_col = header.clone().position(|h| h == "AT set1 keycode").unwrap();
    let xkb_col = header.position(|h| h == "XKB key name").unwrap();
    let mut expected: HashMap<String, u16> = HashMap::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (at1, name) = (fields[at1_col], fields[xkb_col]);
        if at1.is_empty() || name.is_empty() {
            continue;
        }
        let at1 = match at1.strip_prefix("0x") {
            Some(hex) => u16::from_str_radix(hex, 16).unwrap(),
            None => at1.parse().unwrap(),
        };
        let xt = if at1 <= 0x7f || at1 == 0xf1 || at1 == 0xf2 {
            at1
        } else {
            XT_E0 | (at1 & 0x7f)
        };
        expected.entry(name.to_owned()).or_insert(xt);
    }
    // Keys where keycodemapdb's "Xfree86 KBD XT" column and xkeyboard-config
    // disagree (or the column is empty); the table follows keycodemapdb.
    let known_xfree86_gaps = ["SYRQ", "KPDC", "HKTG", "AB11", "XFER"];
    for (file, map, gaps) in [
        ("evdev", x11_keycode_to_xt as fn(u32) -> Option<u16>, &[][..]),
        ("xfree86", xfree86_keycode_to_xt, &known_xfree86_gaps[..]),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut checked = 0;
        for line in text.lines() {
            // `    <AC01> = 38;`
            let Some((name, code)) = line.trim().strip_prefix('<').and_then(|l| l.split_once("> =")) else {
                continue;
            };
            let Ok(code) = code.trim().trim_end_matches(';').trim().parse::<u32>() else {
                continue;
            };
            // The first definition of a name is the one xkbcomp keeps.
            if !seen.insert(name.to_owned()) || gaps.contains(&name) {
                continue;
            }
            if let Some(&want) = expected.get(name) {
                assert_eq!(map(code), Some(want), "{file}: <{name}> = {code}");
                checked += 1;
            }
        }
        assert!(checked > 80, "{file}: only {checked} keys compared");
        eprintln!("{file}: {checked} keys agree with xkeyboard-config");
    }
}
