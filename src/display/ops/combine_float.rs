//! The operators pixman composites in single-precision floating point
//! (those whose formulas divide): SATURATE, the disjoint and conjoint
//! Porter-Duff sets, COLOR_DODGE, COLOR_BURN, SOFT_LIGHT and the HSL modes.
//!
//! Pixels go to `f32` as `v · (1/255)`, are combined with pixman's float
//! formulas (same operation order, no fused multiply-add) and come back as
//! `⌊clamp(f)·256⌋` minus its top bit, as pixman's `float_to_unorm` does, so
//! the bytes are pixman's.

use super::combine::pop;

/// One pixel as alpha, red, green, blue in `0.0..=1.0`.
type Argb = [f32; 4];

fn to_float(p: u32) -> Argb {
    let c = |shift: u32| f32::from(u8::try_from((p >> shift) & 0xff).unwrap_or(0)) * (1.0 / 255.0);
    [c(24), c(16), c(8), c(0)]
}

fn to_unorm(f: f32) -> u32 {
    let f = f.clamp(0.0, 1.0);
    // In 0..=256: the cast neither saturates nor loses anything pixman keeps.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let u = (f * 256.0) as u32;
    u - (u >> 8)
}

fn from_float(p: Argb) -> u32 {
    let [a, r, g, b] = p.map(to_unorm);
    (a << 24) | (r << 16) | (g << 8) | b
}

/// pixman's `FLOAT_IS_ZERO`.
fn is_zero(f: f32) -> bool {
    -f32::MIN_POSITIVE < f && f < f32::MIN_POSITIVE
}

fn clamp01(f: f32) -> f32 {
    f.clamp(0.0, 1.0)
}

/// The Porter-Duff factors of the float combiners.
#[derive(Clone, Copy)]
enum F {
    Zero,
    One,
    SaOverDa,
    DaOverSa,
    InvSaOverDa,
    InvDaOverSa,
    OneMinusSaOverDa,
    OneMinusDaOverSa,
    OneMinusInvDaOverSa,
    OneMinusInvSaOverDa,
}

fn factor(f: F, sa: f32, da: f32) -> f32 {
    let ratio = |num: f32, den: f32, if_zero: f32| if is_zero(den) { if_zero } else { clamp01(num / den) };
    match f {
        F::Zero => 0.0,
        F::One => 1.0,
        F::SaOverDa => ratio(sa, da, 1.0),
        F::DaOverSa => ratio(da, sa, 1.0),
        F::InvSaOverDa => ratio(1.0 - sa, da, 1.0),
        F::InvDaOverSa => ratio(1.0 - da, sa, 1.0),
        F::OneMinusSaOverDa => {
            if is_zero(da) {
                0.0
            } else {
                clamp01(1.0 - sa / da)
            }
        }
        F::OneMinusDaOverSa => {
            if is_zero(sa) {
                0.0
            } else {
                clamp01(1.0 - da / sa)
            }
        }
        F::OneMinusInvDaOverSa => {
            if is_zero(sa) {
                0.0
            } else {
                clamp01(1.0 - (1.0 - da) / sa)
            }
        }
        F::OneMinusInvSaOverDa => {
            if is_zero(da) {
                0.0
            } else {
                clamp01(1.0 - (1.0 - sa) / da)
            }
        }
    }
}

/// Source and destination factors of a float Porter-Duff operator.
fn pd_factors(op: u8) -> Option<(F, F)> {
    use F::*;
    Some(match op {
        pop::SATURATE => (InvDaOverSa, One),
        0x10..=0x1b => match op - pop::DISJOINT {
            pop::CLEAR => (Zero, Zero),
            pop::SRC => (One, Zero),
            pop::DST => (Zero, One),
            pop::OVER => (One, InvSaOverDa),
            pop::OVER_REVERSE => (InvDaOverSa, One),
            pop::IN => (OneMinusInvDaOverSa, Zero),
            pop::IN_REVERSE => (Zero, OneMinusInvSaOverDa),
            pop::OUT => (InvDaOverSa, Zero),
            pop::OUT_REVERSE => (Zero, InvSaOverDa),
            pop::ATOP => (OneMinusInvDaOverSa, InvSaOverDa),
            pop::ATOP_REVERSE => (InvDaOverSa, OneMinusInvSaOverDa),
            _ => (InvDaOverSa, InvSaOverDa),
        },
        0x20..=0x2b => match op - pop::CONJOINT {
            pop::CLEAR => (Zero, Zero),
            pop::SRC => (One, Zero),
            pop::DST => (Zero, One),
            pop::OVER => (One, OneMinusSaOverDa),
            pop::OVER_REVERSE => (OneMinusDaOverSa, One),
            pop::IN => (DaOverSa, Zero),
            pop::IN_REVERSE => (Zero, SaOverDa),
            pop::OUT => (OneMinusDaOverSa, Zero),
            pop::OUT_REVERSE => (Zero, OneMinusSaOverDa),
            pop::ATOP => (DaOverSa, OneMinusSaOverDa),
            pop::ATOP_REVERSE => (OneMinusDaOverSa, SaOverDa),
            _ => (OneMinusDaOverSa, OneMinusSaOverDa),
        },
        _ => return None,
    })
}

/// `sa·da·B(d/da, s/sa)` of the float separable modes.
fn blend(op: u8, sa: f32, s: f32, da: f32, d: f32) -> f32 {
    match op {
        pop::COLOR_DODGE => {
            if is_zero(d) {
                0.0
            } else if d * sa >= sa * da - s * da || is_zero(sa - s) {
                sa * da
            } else {
                sa * sa * d / (sa - s)
            }
        }
        pop::COLOR_BURN => {
            if d >= da {
                sa * da
            } else if sa * (da - d) >= s * da || is_zero(s) {
                0.0
            } else {
                sa * (da - sa * (da - d) / s)
            }
        }
        pop::SOFT_LIGHT => {
            if 2.0 * s <= sa {
                if is_zero(da) {
                    d * sa
                } else {
                    d * sa - d * (da - d) * (sa - 2.0 * s) / da
                }
            } else if is_zero(da) {
                d * sa
            } else if 4.0 * d <= da {
                d * sa + (2.0 * s - sa) * d * ((16.0 * d / da - 12.0) * d / da + 3.0)
            } else {
                d * sa + ((d * da).sqrt() - d) * (2.0 * s - sa)
            }
        }
        _ => 0.0,
    }
}

/// One channel of the float combiners: `sa` is the source alpha this
/// channel sees (the masked mask channel with component alpha).
fn channel(op: u8, sa: f32, s: f32, da: f32, d: f32) -> f32 {
    match pd_factors(op) {
        Some((fa, fb)) => {
            let v = s * factor(fa, sa, da) + d * factor(fb, sa, da);
            if 1.0 < v { 1.0 } else { v }
        }
        None => (1.0 - sa) * d + (1.0 - da) * s + blend(op, sa, s, da, d),
    }
}

fn alpha_channel(op: u8, sa: f32, da: f32) -> f32 {
    if pd_factors(op).is_some() {
        channel(op, sa, sa, da, da)
    } else {
        da + sa - da * sa
    }
}

pub fn combine(op: u8, ca: bool, d: u32, s: u32, m: Option<u32>) -> u32 {
    let [da, dr, dg, db] = to_float(d);
    let [mut sa, mut sr, mut sg, mut sb] = to_float(s);
    if (pop::HSL_HUE..=pop::HSL_LUMINOSITY).contains(&op) {
        if ca && m.is_some() {
            // pixman has no component-alpha HSL modes: the destination stays.
            return from_float([da, dr, dg, db]);
        }
        if let Some(m) = m {
            let ma = to_float(m)[0];
            sa *= ma;
            sr *= ma;
            // pixman scales green twice and blue not at all here.
            sg *= ma;
            sg *= ma;
        }
        return from_float(hsl(op, [sa, sr, sg, sb], [da, dr, dg, db]));
    }
    // Per channel: the source alpha it sees.
    let mut m4 = [sa; 4];
    match m {
        Some(m) if ca => {
            let [ma, mr, mg, mb] = to_float(m);
            sr *= mr;
            sg *= mg;
            sb *= mb;
            m4 = [ma * sa, mr * sa, mg * sa, mb * sa];
        }
        Some(m) => {
            let ma = to_float(m)[0];
            sa *= ma;
            sr *= ma;
            sg *= ma;
            sb *= ma;
            m4 = [sa; 4];
        }
        None => {}
    }
    from_float([
        alpha_channel(op, m4[0], da),
        channel(op, m4[1], sr, da, dr),
        channel(op, m4[2], sg, da, dg),
        channel(op, m4[3], sb, da, db),
    ])
}

type Rgb = [f32; 3];

fn lum(c: Rgb) -> f32 {
    c[0] * 0.3 + c[1] * 0.59 + c[2] * 0.11
}

fn min3(c: Rgb) -> f32 {
    let m = if c[0] < c[1] { c[0] } else { c[1] };
    if m < c[2] { m } else { c[2] }
}

fn max3(c: Rgb) -> f32 {
    let m = if c[0] > c[1] { c[0] } else { c[1] };
    if m > c[2] { m } else { c[2] }
}

fn clip_color(c: &mut Rgb, a: f32) {
    let l = lum(*c);
    let n = min3(*c);
    let x = max3(*c);
    if n < 0.0 {
        let t = l - n;
        *c = if is_zero(t) {
            [0.0; 3]
        } else {
            c.map(|v| l + (((v - l) * l) / t))
        };
    }
    if x > a {
        let t = x - l;
        *c = if is_zero(t) {
            [a; 3]
        } else {
            c.map(|v| l + ((v - l) * (a - l) / t))
        };
    }
}

fn set_lum(c: &mut Rgb, sa: f32, l: f32) {
    let d = l - lum(*c);
    *c = c.map(|v| v + d);
    clip_color(c, sa);
}

fn set_sat(c: &mut Rgb, sat: f32) {
    // (largest, middle, smallest), ties broken as pixman does
    let (hi, mid, lo) = if c[0] > c[1] {
        if c[0] > c[2] {
            if c[1] > c[2] { (0, 1, 2) } else { (0, 2, 1) }
        } else {
            (2, 0, 1)
        }
    } else if c[0] > c[2] {
        (1, 0, 2)
    } else if c[1] > c[2] {
        (1, 2, 0)
    } else {
        (2, 1, 0)
    };
    let get = |c: &Rgb, i: usize| c.get(i).copied().unwrap_or(0.0);
    let (max, v_mid, min) = (get(c, hi), get(c, mid), get(c, lo));
    let mut put = |i: usize, v: f32| {
        if let Some(x) = c.get_mut(i) {
            *x = v;
        }
    };
    let t = max - min;
    if is_zero(t) {
        put(mid, 0.0);
        put(hi, 0.0);
    } else {
        put(mid, ((v_mid - min) * sat) / t);
        put(hi, sat);
    }
    put(lo, 0.0);
}

fn hsl(op: u8, s: Argb, d: Argb) -> Argb {
    let (sa, da) = (s[0], d[0]);
    let sc: Rgb = [s[1], s[2], s[3]];
    let dc: Rgb = [d[1], d[2], d[3]];
    let sat = |c: Rgb| max3(c) - min3(c);
    let mut r;
    match op {
        pop::HSL_HUE => {
            r = sc.map(|v| v * da);
            set_sat(&mut r, sat(dc) * sa);
            set_lum(&mut r, sa * da, lum(dc) * sa);
        }
        pop::HSL_SATURATION => {
            r = dc.map(|v| v * sa);
            set_sat(&mut r, sat(sc) * da);
            set_lum(&mut r, sa * da, lum(dc) * sa);
        }
        pop::HSL_COLOR => {
            r = sc.map(|v| v * da);
            set_lum(&mut r, sa * da, lum(dc) * sa);
        }
        _ => {
            r = dc.map(|v| v * sa);
            set_lum(&mut r, sa * da, lum(sc) * da);
        }
    }
    let [c0, c1, c2] = [0, 1, 2].map(|i| {
        let at = |c: &Rgb| c.get(i).copied().unwrap_or(0.0);
        (1.0 - sa) * at(&dc) + (1.0 - da) * at(&sc) + at(&r)
    });
    [sa + da - sa * da, c0, c1, c2]
}
