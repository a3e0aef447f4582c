//! `usbredir_filter` oracle: usbredirfilter strings (from `.vv` files, the command line and
//! the peer's `filter_filter` packets). Input: byte 0 selects the separator sets, the rest
//! is the filter text. Properties: no panic; at most `MAX_RULES` rules; rules written back
//! with the first separator of each set parse to the same rules; checking a device never
//! allows it without an allowing rule unless `default_allow` is set. Accepted when the
//! text parses.

use sumac::usbredir::filter::{self, CheckFlags, Device, MAX_RULES, Verdict};
use sumac::usbredir::proto::InterfaceEntry;

const SEPARATORS: [(&str, &str); 3] = [(",", "|"), (":", "|"), (",;", " \t\n")];

pub fn fuzz(data: &[u8]) -> bool {
    let Some((&sel, text)) = data.split_first() else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    let (tokens, rules_sep) = SEPARATORS[usize::from(sel) % SEPARATORS.len()];
    let Ok(rules) = filter::parse_with(text, tokens, rules_sep) else {
        return false;
    };
    assert!(rules.len() <= MAX_RULES);
    let tok = tokens.chars().next().unwrap_or(',');
    let rul = rules_sep.chars().next().unwrap_or('|');
    let written = filter::to_string_with(&rules, tok, rul);
    assert_eq!(
        filter::parse_with(&written, tokens, rules_sep).as_ref(),
        Ok(&rules),
        "{written:?} does not parse back"
    );
    let interfaces = [
        InterfaceEntry {
            number: 0,
            class: 3,
            subclass: 0,
            protocol: 0,
        },
        InterfaceEntry {
            number: 1,
            class: 8,
            subclass: 6,
            protocol: 0x50,
        },
    ];
    for (class, n) in [(0u8, 1usize), (0, 2), (9, 0), (0xef, 2)] {
        let dev = Device {
            class,
            subclass: 0,
            protocol: 0,
            vendor: 0x1209,
            product: 0x0001,
            version_bcd: 0x0100,
            interfaces: &interfaces[..n],
        };
        for default_allow in [false, true] {
            let flags = CheckFlags {
                default_allow,
                dont_skip_non_boot_hid: sel & 0x80 != 0,
            };
            let v = filter::check(&rules, &dev, flags);
            if v == Verdict::Allow && !default_allow && (class != 0 && class != 0xef || n > 0) {
                assert!(rules.iter().any(|r| r.allow), "allowed without an allowing rule");
            }
        }
    }
    true
}

/// Seed inputs: (file name, bytes).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let with = |sel: u8, s: &str| {
        let mut v = vec![sel];
        v.extend_from_slice(s.as_bytes());
        v
    };
    vec![
        (
            "seed-spice-gtk-default".into(),
            with(0, "0x03,-1,-1,-1,0|-1,-1,-1,-1,1"),
        ),
        (
            "seed-qemu-colons".into(),
            with(1, "0x08:0x1209:0x0001:-1:0|-1:-1:-1:-1:1"),
        ),
        (
            "seed-whitespace-rules".into(),
            with(2, "\t 0x03,-1;-1;-1,0\n\n-1,-1,-1;-1;1"),
        ),
        ("hostile-class-256".into(), with(0, "0x100,-1,-1,-1,0")),
        ("hostile-six-values".into(), with(0, "1,2,3,4,5,6")),
    ]
}
