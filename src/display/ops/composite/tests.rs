//! COMPOSITE against hand-computed pixels and against the table the system
//! pixman computed (`tests/fixtures/pixman/`, made by its `oracle.c`).

use super::super::combine::{combine, pop};
use super::{Filter, Input, wrap};

const TABLE: &str = include_str!("../../../../tests/fixtures/pixman/ops.txt");

fn hex(v: &str) -> u32 {
    u32::from_str_radix(v, 16).unwrap_or_else(|_| panic!("bad hex {v}"))
}

fn int(v: &str) -> i64 {
    v.parse().unwrap_or_else(|_| panic!("bad number {v}"))
}

#[test]
fn every_operator_matches_pixman() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in TABLE.lines().filter(|l| l.starts_with("C ")) {
        let f: Vec<&str> = line.split(' ').collect();
        let op = u8::try_from(hex(f[1])).unwrap();
        let mode = f[2];
        let (s, m, d, want) = (hex(f[3]), hex(f[4]), hex(f[5]), hex(f[6]));
        let got = combine(op, mode == "2", d, s, (mode != "0").then_some(m));
        if got != want {
            wrong.push(format!("{line}: got {got:08x}"));
        }
        checked += 1;
    }
    // 53 operators × 3 mask modes × 32 pixels
    assert_eq!(checked, 53 * 3 * 32);
    assert!(
        wrong.is_empty(),
        "{} of {checked} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn transforms_filters_and_repeats_match_pixman() {
    let src: Vec<u32> = TABLE.lines().filter_map(|l| l.strip_prefix("S ")).map(hex).collect();
    assert_eq!(src.len(), 20);
    let mut lines = TABLE.lines().skip_while(|l| !l.starts_with("T ")).peekable();
    let mut cases = 0;
    let mut wrong = Vec::new();
    while let Some(head) = lines.next() {
        let f: Vec<i64> = head.split(' ').skip(1).map(int).collect();
        let filter = Filter::from_wire(u32::try_from(f[6]).unwrap()).unwrap();
        let input = Input {
            pixels: src.clone(),
            width: 5,
            height: 4,
            repeat: u32::try_from(f[7]).unwrap(),
            filter,
            m: [f[0], f[1], f[2], f[3], f[4], f[5]],
            ox: f[8],
            oy: f[9],
        };
        let mut out = Vec::new();
        for y in 0..7 {
            let row = lines.next().expect("result row");
            let want: Vec<u32> = row.split(' ').skip(1).map(hex).collect();
            input.row(y, 0, 9, &mut out);
            if out != want {
                wrong.push(format!("{head} row {y}: got {out:08x?} want {want:08x?}"));
            }
        }
        cases += 1;
    }
    // 10 matrices × 3 filters × 4 repeats × 2 origins
    assert_eq!(cases, 240);
    assert!(wrong.is_empty(), "{} rows differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// 0xAARRGGBB from alpha, red, green, blue.
fn px(a: u32, r: u32, g: u32, b: u32) -> u32 {
    a << 24 | r << 16 | g << 8 | b
}

#[test]
fn porter_duff_family_by_hand() {
    let s = px(0x80, 0x80, 0x40, 0x00);
    let d = px(0xff, 0x00, 0x00, 0xff);
    // OVER: d·(255−128)/255 + s, rounded: 255·127/255 = 127
    assert_eq!(combine(pop::OVER, false, d, s, None), px(0xff, 0x80, 0x40, 0x7f));
    // IN: s·da = s; OUT: s·(1−da) = 0; ATOP: s·da + d·(1−sa)
    assert_eq!(combine(pop::IN, false, d, s, None), s);
    assert_eq!(combine(pop::OUT, false, d, s, None), 0);
    assert_eq!(combine(pop::ATOP, false, d, s, None), px(0xff, 0x80, 0x40, 0x7f));
    // ADD saturates per channel
    assert_eq!(combine(pop::ADD, false, d, s, None), px(0xff, 0x80, 0x40, 0xff));
    // a mask of alpha 0x80 halves the source (128·128/255 = 64.25 → 64)
    let m = px(0x80, 0, 0, 0);
    assert_eq!(combine(pop::SRC, false, d, s, Some(m)), px(0x40, 0x40, 0x20, 0x00));
    // component alpha: each channel of the source times its mask channel
    let m = px(0xff, 0xff, 0x80, 0x00);
    assert_eq!(combine(pop::SRC, true, d, s, Some(m)), px(0x80, 0x80, 0x20, 0x00));
    // SATURATE: only 0x20 of room left: source scaled by 0x20·255/0x80 = 64
    let d = px(0xdf, 0x10, 0x10, 0x10);
    assert_eq!(combine(pop::SATURATE, false, d, s, None), px(0xff, 0x30, 0x20, 0x10));
}

#[test]
fn disjoint_and_conjoint_by_hand() {
    let s = px(0x80, 0x80, 0x80, 0x80);
    let d = px(0xc0, 0x60, 0x60, 0x60);
    // DISJOINT_OVER: Fb = min(1, (1−sa)/da) = 127·255/192 → 169 (rounded)
    // d·169/255 = 0x60·169/255 = 63.6 → 64; alpha 192·169/255 = 127.2 → 127
    assert_eq!(
        combine(pop::DISJOINT + pop::OVER, false, d, s, None),
        px(0x80 + 127, 0x80 + 64, 0x80 + 64, 0x80 + 64)
    );
    // CONJOINT_IN: Fa = min(1, da/sa) = 1: the source
    assert_eq!(combine(pop::CONJOINT + pop::IN, false, d, s, None), s);
    // CONJOINT_OUT: Fa = max(1 − da/sa, 0) = 0
    assert_eq!(combine(pop::CONJOINT + pop::OUT, false, d, s, None), 0);
    // DISJOINT_IN: Fa = max(1 − (1−da)/sa, 0) = 1 − 63/128 → 255 − 126 = 129
    // 128·129/255 = 64.75 → 65
    assert_eq!(combine(pop::DISJOINT + pop::IN, false, d, s, None), px(65, 65, 65, 65));
}

#[test]
fn blend_modes_by_hand() {
    // opaque pixels: the blend modes reduce to their textbook formulas
    let s = px(0xff, 0xff, 0x80, 0x00);
    let d = px(0xff, 0x40, 0x40, 0x40);
    // MULTIPLY: s·d/255 per channel
    assert_eq!(combine(pop::MULTIPLY, false, d, s, None), px(0xff, 0x40, 0x20, 0x00));
    // SCREEN: s + d − s·d: red 255, green 128+64−32 = 160 (32.1 rounds to 32)
    assert_eq!(combine(pop::SCREEN, false, d, s, None), px(0xff, 0xff, 0xa0, 0x40));
    // DARKEN / LIGHTEN: channel-wise min / max
    assert_eq!(combine(pop::DARKEN, false, d, s, None), px(0xff, 0x40, 0x40, 0x00));
    assert_eq!(combine(pop::LIGHTEN, false, d, s, None), px(0xff, 0xff, 0x80, 0x40));
    // DIFFERENCE: |s − d|; EXCLUSION: s + d − 2·s·d/255
    assert_eq!(combine(pop::DIFFERENCE, false, d, s, None), px(0xff, 0xbf, 0x40, 0x40));
    assert_eq!(combine(pop::EXCLUSION, false, d, s, None), px(0xff, 0xbf, 0x80, 0x40));
    // a transparent source leaves the destination, whatever the mode
    for op in pop::MULTIPLY..=pop::HSL_LUMINOSITY {
        assert_eq!(combine(op, false, d, 0, None), d, "op {op:#x}");
    }
    // HSL_LUMINOSITY of a grey source onto grey: the source's grey
    let grey = px(0xff, 0x80, 0x80, 0x80);
    assert_eq!(combine(pop::HSL_LUMINOSITY, false, d, grey, None), grey);
    // component alpha has no HSL modes in pixman: the destination stays
    assert_eq!(combine(pop::HSL_HUE, true, d, s, Some(u32::MAX)), d);
}

/// A 2×2 source with distinct pixels, sampled over a 4×4 box.
fn sampled(m: [i64; 6], filter: Filter, repeat: u32) -> Vec<Vec<u32>> {
    let input = Input {
        pixels: vec![1, 2, 3, 4],
        width: 2,
        height: 2,
        repeat,
        filter,
        m,
        ox: 0,
        oy: 0,
    };
    (0..4)
        .map(|y| {
            let mut out = Vec::new();
            input.row(y, 0, 4, &mut out);
            out
        })
        .collect()
}

const ONE: i64 = 0x1_0000;

#[test]
fn transforms_by_hand() {
    // scale 2× up: each source pixel covers 2×2 destination pixels
    let up = sampled([ONE / 2, 0, 0, 0, ONE / 2, 0], Filter::Nearest, 0);
    assert_eq!(up, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]);
    // rotate 90°: (x, y) samples (y, 1 − x)... with the +2 translation the
    // box's columns become the source's rows read bottom-up
    let rot = sampled([0, ONE, 0, -ONE, 0, 2 * ONE], Filter::Nearest, 0);
    assert_eq!(rot[0][..2], [3, 1]);
    assert_eq!(rot[1][..2], [4, 2]);
    // an integer translation by one pixel, nothing beyond the image
    let tr = sampled([ONE, 0, ONE, 0, ONE, 0], Filter::Nearest, 0);
    assert_eq!(tr[0], [2, 0, 0, 0]);
    // bilinear half-way between pixels 0x00 and 0xff: 0x7f (truncated)
    let input = Input {
        pixels: vec![0, 0xffff_ffff],
        width: 2,
        height: 1,
        repeat: 2,
        filter: Filter::Bilinear,
        m: [ONE, 0, ONE / 2, 0, ONE, 0],
        ox: 0,
        oy: 0,
    };
    let mut out = Vec::new();
    input.row(0, 0, 1, &mut out);
    assert_eq!(out, [0x7f7f_7f7f]);
}

#[test]
fn repeat_modes() {
    let at = |mode| (-3..6).map(|v| wrap(v, 3, mode)).collect::<Vec<_>>();
    let s = |v: &[usize]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    assert_eq!(at(0), [None, None, None, Some(0), Some(1), Some(2), None, None, None]);
    assert_eq!(at(1), s(&[0, 1, 2, 0, 1, 2, 0, 1, 2]));
    assert_eq!(at(2), s(&[0, 0, 0, 0, 1, 2, 2, 2, 2]));
    assert_eq!(at(3), s(&[2, 1, 0, 0, 1, 2, 2, 1, 0]));
    let tiled = sampled([ONE, 0, 0, 0, ONE, 0], Filter::Nearest, 1);
    assert_eq!(tiled[2], [1, 2, 1, 2]);
    let padded = sampled([ONE, 0, 0, 0, ONE, 0], Filter::Nearest, 2);
    assert_eq!(padded[3], [3, 4, 4, 4]);
}
