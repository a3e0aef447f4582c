//! pixman's combiners for every operator a COMPOSITE may name, on
//! premultiplied pixels packed as `0xAARRGGBB` (the little-endian reading of
//! stored B,G,R,A bytes).
//!
//! pixman computes the Porter-Duff operators, ADD and the blend modes that
//! need no division on 8-bit integers (this module, following its narrow
//! combiners' rounding exactly, also for pixels that are not validly
//! premultiplied) and the others in single-precision floating point
//! ([`super::combine_float`]).

/// pixman operator codes (the low byte of the composite flags).
pub mod pop {
    pub const CLEAR: u8 = 0x00;
    pub const SRC: u8 = 0x01;
    pub const DST: u8 = 0x02;
    pub const OVER: u8 = 0x03;
    pub const OVER_REVERSE: u8 = 0x04;
    pub const IN: u8 = 0x05;
    pub const IN_REVERSE: u8 = 0x06;
    pub const OUT: u8 = 0x07;
    pub const OUT_REVERSE: u8 = 0x08;
    pub const ATOP: u8 = 0x09;
    pub const ATOP_REVERSE: u8 = 0x0a;
    pub const XOR: u8 = 0x0b;
    pub const ADD: u8 = 0x0c;
    pub const SATURATE: u8 = 0x0d;
    /// `DISJOINT_CLEAR`; the disjoint set is this plus the Porter-Duff code.
    pub const DISJOINT: u8 = 0x10;
    /// `CONJOINT_CLEAR`; likewise.
    pub const CONJOINT: u8 = 0x20;
    pub const MULTIPLY: u8 = 0x30;
    pub const SCREEN: u8 = 0x31;
    pub const OVERLAY: u8 = 0x32;
    pub const DARKEN: u8 = 0x33;
    pub const LIGHTEN: u8 = 0x34;
    pub const COLOR_DODGE: u8 = 0x35;
    pub const COLOR_BURN: u8 = 0x36;
    pub const HARD_LIGHT: u8 = 0x37;
    pub const SOFT_LIGHT: u8 = 0x38;
    pub const DIFFERENCE: u8 = 0x39;
    pub const EXCLUSION: u8 = 0x3a;
    pub const HSL_HUE: u8 = 0x3b;
    pub const HSL_SATURATION: u8 = 0x3c;
    pub const HSL_COLOR: u8 = 0x3d;
    pub const HSL_LUMINOSITY: u8 = 0x3e;
}

/// Whether pixman has a combiner for operator `op`.
pub fn is_known(op: u32) -> bool {
    matches!(op, 0x00..=0x0d | 0x10..=0x1b | 0x20..=0x2b | 0x30..=0x3e)
}

/// Operators pixman computes in floating point (those whose formulas
/// divide): SATURATE, the disjoint and conjoint sets, COLOR_DODGE,
/// COLOR_BURN, SOFT_LIGHT and the HSL modes.
pub fn needs_float(op: u8) -> bool {
    matches!(op, 0x0d | 0x10..=0x1b | 0x20..=0x2b | 0x35 | 0x36 | 0x38 | 0x3b..=0x3e)
}

/// Channel `i` (0 blue … 3 alpha) of a packed pixel.
#[inline]
fn ch(p: u32, i: u32) -> u32 {
    (p >> (8 * i)) & 0xff
}

#[inline]
fn alpha(p: u32) -> u32 {
    p >> 24
}

/// Packs four channel values (each already 0..=255).
#[inline]
fn pack(f: impl Fn(u32) -> u32) -> u32 {
    (0..4).fold(0, |acc, i| acc | ((f(i) & 0xff) << (8 * i)))
}

/// `a·b/255` rounded as pixman's `MUL_UN8`.
#[inline]
pub fn mul(a: u32, b: u32) -> u32 {
    let t = a * b + 0x80;
    ((t >> 8) + t) >> 8
}

/// pixman's `DIV_ONE_UN8`: `x/255` rounded (`x` in `0..=255·255`).
#[inline]
fn div_one(x: i32) -> u32 {
    let x = u32::try_from(x.clamp(0, 255 * 255)).unwrap_or(0);
    (x + 0x80 + ((x + 0x80) >> 8)) >> 8
}

#[inline]
fn sat(v: u32) -> u32 {
    v.min(0xff)
}

/// Every channel times the scalar `a`.
#[inline]
fn mul_s(x: u32, a: u32) -> u32 {
    pack(|i| mul(ch(x, i), a))
}

/// Channel-wise product.
#[inline]
fn mul_v(x: u32, a: u32) -> u32 {
    pack(|i| mul(ch(x, i), ch(a, i)))
}

/// Channel-wise saturated sum.
#[inline]
fn add_v(x: u32, y: u32) -> u32 {
    pack(|i| sat(ch(x, i) + ch(y, i)))
}

/// `x·a + y·b` with scalar factors, saturated per channel.
#[inline]
fn mul_add_s(x: u32, a: u32, y: u32, b: u32) -> u32 {
    pack(|i| sat(mul(ch(x, i), a) + mul(ch(y, i), b)))
}

/// `x·a + y·b` with a channel-wise `a` and a scalar `b`, saturated.
#[inline]
fn mul_v_add_s(x: u32, a: u32, y: u32, b: u32) -> u32 {
    pack(|i| sat(mul(ch(x, i), ch(a, i)) + mul(ch(y, i), b)))
}

/// Composites source `s` (with mask `m`, if any) onto destination `d` with
/// pixman operator `op`; `ca` selects the component-alpha combiners (only
/// meaningful with a mask). Unknown operators leave `d` as it is.
pub fn combine(op: u8, ca: bool, d: u32, s: u32, m: Option<u32>) -> u32 {
    // pixman computes the disjoint and conjoint CLEAR, SRC and DST as the
    // plain operators.
    let op = match op {
        0x10..=0x12 | 0x20..=0x22 => op & 0x0f,
        _ => op,
    };
    if needs_float(op) {
        return super::combine_float::combine(op, ca, d, s, m);
    }
    match (m, ca) {
        (Some(m), true) => combine_ca(op, d, s, m),
        (m, _) => {
            // The unified mask: the source times the mask's alpha.
            let s = match m.map(alpha) {
                Some(0) => 0,
                Some(ma) => mul_s(s, ma),
                None => s,
            };
            combine_u(op, d, s)
        }
    }
}

/// The unified-alpha combiners (`s` already masked).
fn combine_u(op: u8, d: u32, s: u32) -> u32 {
    let (sa, da) = (alpha(s), alpha(d));
    match op {
        pop::CLEAR => 0,
        pop::SRC => s,
        pop::OVER => mul_add_s(d, 0xff - sa, s, 0xff),
        pop::OVER_REVERSE => mul_add_s(s, 0xff - da, d, 0xff),
        pop::IN => mul_s(s, da),
        pop::IN_REVERSE => mul_s(d, sa),
        pop::OUT => mul_s(s, 0xff - da),
        pop::OUT_REVERSE => mul_s(d, 0xff - sa),
        pop::ATOP => mul_add_s(s, da, d, 0xff - sa),
        pop::ATOP_REVERSE => mul_add_s(s, 0xff - da, d, sa),
        pop::XOR => mul_add_s(s, 0xff - da, d, 0xff - sa),
        pop::ADD => add_v(d, s),
        pop::MULTIPLY => add_v(mul_v(d, s), mul_add_s(s, 0xff - da, d, 0xff - sa)),
        pop::SCREEN..=pop::EXCLUSION => separable(op, d, s, s, true),
        _ => d,
    }
}

/// The component-alpha combiners.
fn combine_ca(op: u8, d: u32, s: u32, m: u32) -> u32 {
    let da = alpha(d);
    // The source times the mask, and the mask times the source alpha.
    let sm = mul_v(s, m);
    let ma = mul_s(m, alpha(s));
    match op {
        pop::CLEAR => 0,
        pop::SRC => sm,
        pop::OVER => mul_v_add_s(d, !ma, sm, 0xff),
        pop::OVER_REVERSE => mul_add_s(sm, 0xff - da, d, 0xff),
        pop::IN => mul_s(sm, da),
        pop::IN_REVERSE => mul_v(d, ma),
        pop::OUT => mul_s(sm, 0xff - da),
        pop::OUT_REVERSE => mul_v(d, !ma),
        pop::ATOP => mul_v_add_s(d, !ma, sm, da),
        pop::ATOP_REVERSE => mul_v_add_s(d, ma, sm, 0xff - da),
        pop::XOR => mul_v_add_s(d, !ma, sm, 0xff - da),
        pop::ADD => add_v(d, sm),
        pop::MULTIPLY => add_v(mul_v_add_s(d, !ma, sm, 0xff - da), mul_v(d, sm)),
        pop::SCREEN..=pop::EXCLUSION => separable(op, d, sm, ma, false),
        _ => d,
    }
}

/// `ad·as·B(d/ad, s/as)` of a separable blend mode, scaled by 255².
fn blend(op: u8, d: i32, ad: i32, s: i32, as_: i32) -> i32 {
    match op {
        pop::SCREEN => s * ad + d * as_ - s * d,
        pop::OVERLAY => {
            if 2 * d < ad {
                2 * s * d
            } else {
                as_ * ad - 2 * (ad - d) * (as_ - s)
            }
        }
        pop::DARKEN => (ad * s).min(as_ * d),
        pop::LIGHTEN => (ad * s).max(as_ * d),
        pop::HARD_LIGHT => {
            if 2 * s < as_ {
                2 * s * d
            } else {
                as_ * ad - 2 * (ad - d) * (as_ - s)
            }
        }
        pop::DIFFERENCE => (d * as_ - s * ad).abs(),
        pop::EXCLUSION => s * ad + d * as_ - 2 * d * s,
        _ => 0,
    }
}

/// A separable blend mode: `(1 − αs)·d + (1 − αd)·s + B`, each channel
/// clamped to 255² and divided once. `m` gives each channel's source alpha
/// (the masked mask with component alpha, else the source itself).
fn separable(op: u8, d: u32, s: u32, m: u32, unified: bool) -> u32 {
    let c = |p: u32, i: u32| i32::try_from(ch(p, i)).unwrap_or(0);
    let da = c(d, 3);
    let sa = c(s, 3);
    pack(|i| {
        if i == 3 {
            return div_one(da * 0xff + sa * 0xff - sa * da);
        }
        let ms = if unified { sa } else { c(m, i) };
        let v = (0xff - ms) * c(d, i) + (0xff - da) * c(s, i) + blend(op, c(d, i), da, c(s, i), ms);
        div_one(v)
    })
}
