//! QUIC's model: the Golomb-Rice code families, the context buckets with their cost
//! counters, the adaptation state (model-update spacing, MELCODE run state) and the
//! per-plane prediction shared by the decoder and the test encoder.

// ---------------------------------------------------------------------------------------------
// Model constants (spice-common's defaults: evolution 3, codeword limit 26, wait mask index
// 0 -> 6 in steps of 2048 pixels)

pub(super) const MAX_CODES: usize = 8;
pub(super) const CODEWORD_LIMIT: u32 = 26;
pub(super) const WAIT_MASK_INDEX_MAX: u32 = 6;
pub(super) const WAIT_MASK_STEP: u32 = 2048;
pub(super) const MAX_BUCKETS: usize = 8;

/// Model-update thresholds by wait mask index (evolution 3).
pub(super) const TRIGGERS: [u32; 11] = [110, 550, 900, 800, 550, 400, 350, 250, 140, 160, 140];

/// MELCODE order (log2 of the expected run) by run state.
pub(super) const MELC_ORDER: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];
pub(super) const MELC_STATES: usize = MELC_ORDER.len();

/// The pseudo-random table that spaces model updates.
pub(super) const CHAOS: [u32; 256] = [
    0x02c57542, 0x35427717, 0x2f5a2153, 0x9244f155, 0x7bd26d07, 0x354c6052, 0x57329b28, 0x2993868e, 0x6cd8808c,
    0x147b46e0, 0x99db66af, 0xe32b4cac, 0x1b671264, 0x9d433486, 0x62a4c192, 0x06089a4b, 0x9e3dce44, 0xdaabee13,
    0x222425ea, 0xa46f331d, 0xcd589250, 0x8bb81d7f, 0xc8b736b9, 0x35948d33, 0xd7ac7fd0, 0x5fbe2803, 0x2cfbc105,
    0x013dbc4e, 0x7a37820f, 0x39f88e9e, 0xedd58794, 0xc5076689, 0xfcada5a4, 0x64c2f46d, 0xb3ba3243, 0x8974b4f9,
    0x5a05aebd, 0x20afcd00, 0x39e2b008, 0x88a18a45, 0x600bde29, 0xf3971ace, 0xf37b0a6b, 0x7041495b, 0x70b707ab,
    0x06beffbb, 0x4206051f, 0xe13c4ee3, 0xc1a78327, 0x91aa067c, 0x8295f72a, 0x732917a6, 0x1d871b4d, 0x4048f136,
    0xf1840e7e, 0x6a6048c1, 0x696cb71a, 0x7ff501c3, 0x0fc6310b, 0x57e0f83d, 0x8cc26e74, 0x11a525a2, 0x946934c7,
    0x7cd888f0, 0x8f9d8604, 0x4f86e73b, 0x04520316, 0xdeeea20c, 0xf1def496, 0x67687288, 0xf540c5b2, 0x22401484,
    0x3478658a, 0xc2385746, 0x01979c2c, 0x5dad73c8, 0x0321f58b, 0xf0fedbee, 0x92826ddf, 0x284bec73, 0x5b1a1975,
    0x03df1e11, 0x20963e01, 0xa17cf12b, 0x740d776e, 0xa7a6bf3c, 0x01b5cce4, 0x1118aa76, 0xfc6fac0a, 0xce927e9b,
    0x00bf2567, 0x806f216c, 0xbca69056, 0x795bd3e9, 0xc9dc4557, 0x8929b6c2, 0x789d52ec, 0x3f3fbf40, 0xb9197368,
    0xa38c15b5, 0xc3b44fa8, 0xca8333b0, 0xb7e8d590, 0xbe807feb, 0xbf5f8360, 0xd99e2f5c, 0x372928e1, 0x7c757c4c,
    0x0db5b154, 0xc01ede02, 0x1fc86e78, 0x1f3985be, 0xb4805c77, 0x00c880fa, 0x974c1b12, 0x35ab0214, 0xb2dc840d,
    0x5b00ae37, 0xd313b026, 0xb260969d, 0x7f4c8879, 0x1734c4d3, 0x49068631, 0xb9f6a021, 0x6b863e6f, 0xcee5debf,
    0x29f8c9fb, 0x53dd6880, 0x72b61223, 0x1f67a9fd, 0x0a0f6993, 0x13e59119, 0x11cca12e, 0xfe6b6766, 0x16b6effc,
    0x97918fc4, 0xc2b8a563, 0x94f2f741, 0x0bfa8c9a, 0xd1537ae8, 0xc1da349c, 0x873c60ca, 0x95005b85, 0x9b5c080e,
    0xbc8abbd9, 0xe1eab1d2, 0x6dac9070, 0x4ea9ebf1, 0xe0cf30d4, 0x1ef5bd7b, 0xd161043e, 0x5d2fa2e2, 0xff5d3cae,
    0x86ed9f87, 0x2aa1daa1, 0xbd731a34, 0x9e8f4b22, 0xb1c2c67a, 0xc21758c9, 0xa182215d, 0xccb01948, 0x8d168df7,
    0x04238cfe, 0x368c3dbc, 0x0aeadca5, 0xbad21c24, 0x0a71fee5, 0x9fc5d872, 0x54c152c6, 0xfc329483, 0x6783384a,
    0xeddb3e1c, 0x65f90e30, 0x884ad098, 0xce81675a, 0x4b372f7d, 0x68bf9a39, 0x43445f1e, 0x40f8d8cb, 0x90d5acb6,
    0x4cd07282, 0x349eeb06, 0x0c9d5332, 0x520b24ef, 0x80020447, 0x67976491, 0x2f931ca3, 0xfe9b0535, 0xfcd30220,
    0x61a9e6cc, 0xa487d8d7, 0x3f7c5dd1, 0x7d0127c5, 0x48f51d15, 0x60dea871, 0xc9a91cb7, 0x58b53bb3, 0x9d5e0b2d,
    0x624a78b4, 0x30dbee1b, 0x9bdf22e7, 0x1df5c299, 0x2d5643a7, 0xf4dd35ff, 0x03ca8fd6, 0x53b47ed8, 0x6f2c19aa,
    0xfeb0c1f4, 0x49e54438, 0x2f2577e6, 0xbf876969, 0x72440ea9, 0xfa0bafb8, 0x74f5b3a0, 0x7dd357cd, 0x89ce1358,
    0x6ef2cdda, 0x1e7767f3, 0xa6be9fdb, 0x4f5f88f8, 0xba994a3a, 0x08ca6b65, 0xe0893818, 0x9e00a16a, 0xf42bfc8f,
    0x9972eedc, 0x749c8b51, 0x32c05f5e, 0xd706805f, 0x6bfbb7cf, 0xd9210a10, 0x31a1db97, 0x923a9559, 0x37a7a1f6,
    0x059f8861, 0xca493e62, 0x65157e81, 0x8f6467dd, 0xab85ff9f, 0x9331aff2, 0x8616b9f5, 0xedbd5695, 0xee7e29b1,
    0x313ac44f, 0xb903112f, 0x432ef649, 0xdc0a36c0, 0x61cf2bba, 0x81474925, 0xa8b6c7ad, 0xee5931de, 0xb2f8158d,
    0x59fb7409, 0x2e3dfaed, 0x9af25a3f, 0xe1fed4d5,
];

pub(super) const fn low_mask(n: u32) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

/// The low 8 bits (the truncation spice-common does when it stores a value in a byte).
#[inline(always)]
pub(super) fn low_byte(v: u32) -> u8 {
    let [b, ..] = v.to_le_bytes();
    b
}

pub(super) const fn ceil_log2(v: u32) -> u32 {
    if v <= 1 { 0 } else { 32 - (v - 1).leading_zeros() }
}

/// Code tables of one channel depth (5 or 8 bits).
pub(crate) struct Family {
    /// Largest channel value (`2^bpc - 1`).
    pub(super) mask: u32,
    pub(super) bpc: u32,
    /// By code: how many values get a plain Golomb-Rice codeword.
    pub(super) gr_values: [u32; MAX_CODES],
    /// By code: length of the escape codewords (a run of zeros, then a fixed suffix).
    pub(super) esc_len: [u32; MAX_CODES],
    /// By code: mask of the escape suffix.
    pub(super) esc_suffix_mask: [u32; MAX_CODES],
    /// By code: a 32-bit window above this starts with a Golomb-Rice codeword.
    pub(super) gr_threshold: [u32; MAX_CODES],
    /// Codeword length by value and code.
    pub(super) code_len: [[u8; MAX_CODES]; 256],
    /// Unsigned error -> folded value (encoder).
    pub(super) fold: [u8; 256],
    /// Folded value -> unsigned error (decoder); zero past the channel range.
    pub(super) unfold: [u8; 256],
    /// Bucket index by folded value of the left neighbour.
    pub(super) bucket_of: [u8; 256],
}

impl Family {
    // Evaluated at compile time (the statics below): an index out of range would fail the build.
    #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
    pub(super) const fn new(bpc: u32) -> Self {
        let mask = low_mask(bpc);
        let mut f = Family {
            mask,
            bpc,
            gr_values: [0; MAX_CODES],
            esc_len: [0; MAX_CODES],
            esc_suffix_mask: [0; MAX_CODES],
            gr_threshold: [0; MAX_CODES],
            code_len: [[0; MAX_CODES]; 256],
            fold: [0; 256],
            unfold: [0; 256],
            bucket_of: [0; 256],
        };
        let mut l = 0;
        while l < bpc {
            let mut prefix = CODEWORD_LIMIT - bpc;
            if prefix > low_mask(bpc - l) {
                prefix = low_mask(bpc - l);
            }
            let gr = prefix << l;
            let suffix_len = ceil_log2(mask + 1 - gr);
            let li = l as usize;
            f.gr_values[li] = gr;
            f.esc_len[li] = prefix + suffix_len;
            f.esc_suffix_mask[li] = low_mask(suffix_len);
            f.gr_threshold[li] = u32::MAX >> prefix;
            let mut v = 0;
            while v < 256 {
                let len = if v < gr { (v >> l) + l + 1 } else { prefix + suffix_len };
                f.code_len[v as usize][li] = len as u8;
                v += 1;
            }
            l += 1;
        }
        let mut s = 0;
        while s <= mask {
            f.fold[s as usize] = if s <= mask >> 1 { s << 1 } else { ((mask - s) << 1) + 1 } as u8;
            f.unfold[s as usize] = if s & 1 == 1 { mask - (s >> 1) } else { s >> 1 } as u8;
            s += 1;
        }
        // Buckets of 1, 2, 4, 8... contexts; the last one takes what is left when the next
        // would not fit.
        let levels = mask + 1;
        let mut start = 0;
        let mut size = 1;
        let mut bucket = 0;
        loop {
            if bucket > 0 {
                size *= 2;
            }
            let mut end = start + size - 1;
            if end + size >= levels {
                end = levels - 1;
            }
            let mut v = start;
            while v <= end {
                f.bucket_of[v as usize] = bucket;
                v += 1;
            }
            bucket += 1;
            if end >= levels - 1 {
                break;
            }
            start = end + 1;
        }
        f
    }

    /// Codeword (value, length) of `v` with code `l` (encoder).
    #[inline(always)]
    pub(crate) fn codeword(&self, v: u8, code: u32) -> (u32, u32) {
        let v = u32::from(v);
        let l = code & 7;
        let gr = self.gr_values.get(l as usize).copied().unwrap_or(0);
        if v < gr {
            ((1 << l) | (v & low_mask(l)), (v >> l) + l + 1)
        } else {
            (v - gr, self.esc_len.get(l as usize).copied().unwrap_or(0))
        }
    }

    #[inline(always)]
    pub(super) fn bucket(&self, context: u8) -> usize {
        // spice-common masks the context to the channel depth.
        let masked = context & low_byte(self.mask);
        usize::from(self.bucket_of.get(usize::from(masked)).copied().unwrap_or(0))
    }

    #[inline(always)]
    pub(crate) fn fold(&self, v: u32) -> u8 {
        self.fold.get((v & self.mask) as usize).copied().unwrap_or(0)
    }
}

pub(crate) static FAMILY_8BPC: Family = Family::new(8);
pub(crate) static FAMILY_5BPC: Family = Family::new(5);

/// Cost counters of one context bucket and the code they currently pick.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    pub(super) counters: [u32; MAX_CODES],
    pub(super) best: u32,
}

/// Adaptation state shared by the channels of a plane: model-update spacing and run coding.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(super) waitcnt: u32,
    pub(super) seed: u32,
    pub(super) trigger: u32,
    pub(super) wm_index: u32,
    pub(super) wm_left: u32,
    pub(super) melc_state: usize,
    pub(super) melc_len: u32,
    pub(super) melc_order: u32,
}

impl State {
    pub(super) fn new() -> Self {
        Self {
            waitcnt: 0,
            seed: 0xff,
            trigger: TRIGGERS[0],
            wm_index: 0,
            wm_left: WAIT_MASK_STEP,
            melc_state: 0,
            melc_len: 0,
            melc_order: 1,
        }
    }

    #[inline]
    pub(super) fn next_random(&mut self) -> u32 {
        self.seed = self.seed.wrapping_add(1);
        CHAOS.get((self.seed & 0xff) as usize).copied().unwrap_or(0)
    }

    #[inline]
    pub(super) fn next_wait_mask(&mut self) {
        self.wm_index += 1;
        let i = self.wm_index.min(10) as usize;
        self.trigger = TRIGGERS.get(i).copied().unwrap_or(0);
        self.wm_left = WAIT_MASK_STEP;
    }

    #[inline]
    pub(super) fn melc_up(&mut self) {
        if self.melc_state < MELC_STATES - 1 {
            self.melc_state += 1;
            self.set_melc();
        }
    }

    #[inline]
    pub(super) fn melc_down(&mut self) {
        if self.melc_state > 0 {
            self.melc_state -= 1;
            self.set_melc();
        }
    }

    #[inline]
    pub(super) fn set_melc(&mut self) {
        self.melc_len = MELC_ORDER.get(self.melc_state).copied().unwrap_or(0);
        self.melc_order = 1 << self.melc_len;
    }
}

/// One plane (the three RGB channels, or alpha, or gray) of a coder: models, adaptation
/// state and the rows it predicts from. Shared by the decoder and the test encoder.
pub(crate) struct Plane<const N: usize> {
    pub(super) fam: &'static Family,
    pub(super) buckets: [[Bucket; MAX_BUCKETS]; N],
    pub(crate) state: State,
    /// Folded errors; entry `k` is spice-common's `correlate_row[k - 1]`. Kept across rows.
    pub(super) corr: Vec<[u8; N]>,
    pub(crate) prev: Vec<[u8; N]>,
    pub(crate) cur: Vec<[u8; N]>,
}

impl<const N: usize> Plane<N> {
    pub(crate) fn new(fam: &'static Family, width: usize) -> Self {
        let bucket = Bucket {
            counters: [0; MAX_CODES],
            best: fam.bpc - 1,
        };
        Self {
            fam,
            buckets: [[bucket; MAX_BUCKETS]; N],
            state: State::new(),
            corr: vec![[0; N]; width + 1],
            prev: vec![[0; N]; width],
            cur: vec![[0; N]; width],
        }
    }

    pub(crate) fn width(&self) -> usize {
        self.cur.len()
    }

    /// Code picked for channel `c` after the folded error `context`.
    #[inline(always)]
    pub(super) fn code_for(&self, c: usize, context: u8) -> u32 {
        let b = self.fam.bucket(context) & (MAX_BUCKETS - 1);
        self.buckets.get(c).and_then(|bs| bs.get(b)).map_or(0, |b| b.best)
    }

    /// spice-common's `update_model` for pixel `i` of every channel.
    pub(super) fn update_model(&mut self, i: usize) {
        let (Some(&ctx), Some(&val)) = (self.corr.get(i), self.corr.get(i + 1)) else {
            return;
        };
        let bpc = self.fam.bpc;
        let trigger = self.state.trigger;
        for c in 0..N {
            let (Some(&context), Some(&v)) = (ctx.get(c), val.get(c)) else {
                return;
            };
            let b = self.fam.bucket(context);
            let lens = self.fam.code_len.get(usize::from(v)).copied().unwrap_or([0; MAX_CODES]);
            let Some(bucket) = self.buckets.get_mut(c).and_then(|bs| bs.get_mut(b)) else {
                return;
            };
            let mut best = bpc - 1;
            let mut best_len = 0;
            for l in (0..bpc).rev() {
                let (Some(counter), Some(&len)) = (bucket.counters.get_mut(l as usize), lens.get(l as usize)) else {
                    continue;
                };
                *counter = counter.wrapping_add(u32::from(len));
                if l == bpc - 1 || *counter < best_len {
                    best = l;
                    best_len = *counter;
                }
            }
            bucket.best = best;
            if best_len > trigger {
                for counter in bucket.counters.iter_mut().take(bpc as usize) {
                    *counter >>= 1;
                }
            }
        }
    }

    /// Sets the context of pixel 0 (spice-common's `correlate_row[-1]`): 0 on the first
    /// row, else the folded error of pixel 0 of the row before.
    pub(crate) fn start_row(&mut self, first: bool) {
        let head = if first {
            [0; N]
        } else {
            self.corr.get(1).copied().unwrap_or([0; N])
        };
        if let Some(c) = self.corr.first_mut() {
            *c = head;
        }
    }

    /// Splits a row into segments at the points where the wait mask grows, calling
    /// `seg(self, start, end, wait_mask)` on each.
    pub(crate) fn for_each_segment<E>(
        &mut self,
        mut seg: impl FnMut(&mut Self, usize, usize, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut pos = 0usize;
        let mut left = self.width();
        while self.state.wm_index < WAIT_MASK_INDEX_MAX && self.state.wm_left as usize <= left {
            let n = self.state.wm_left as usize;
            if n > 0 {
                seg(self, pos, pos + n, low_mask(self.state.wm_index))?;
                left -= n;
                pos += n;
            }
            self.state.next_wait_mask();
        }
        if left > 0 {
            seg(self, pos, pos + left, low_mask(self.state.wm_index))?;
            if self.state.wm_index < WAIT_MASK_INDEX_MAX {
                // left < wm_left here
                self.state.wm_left = self
                    .state
                    .wm_left
                    .saturating_sub(u32::try_from(left).unwrap_or(u32::MAX));
            }
        }
        Ok(())
    }

    /// Whether pixel `i` (>= 1) starts a run: same pixels above-left and above, same two
    /// pixels on the left, and no zero-length run just ended here.
    #[inline(always)]
    pub(super) fn run_starts(&self, i: usize, run_index: usize) -> bool {
        i > 2
            && run_index != i
            && self.prev.get(i - 1) == self.prev.get(i)
            && self.cur.get(i - 1) == self.cur.get(i - 2)
    }

    /// Prediction of pixel `i` on the first row (`FIRST`) or another.
    #[inline(always)]
    pub(crate) fn predict<const FIRST: bool>(&self, i: usize) -> [u32; N] {
        let mut p = [0u32; N];
        let left = if i > 0 { self.cur.get(i - 1).copied() } else { None };
        let above = if FIRST { None } else { self.prev.get(i).copied() };
        for (c, p) in p.iter_mut().enumerate() {
            let a = left.and_then(|px| px.get(c).copied()).map(u32::from);
            let b = above.and_then(|px| px.get(c).copied()).map(u32::from);
            *p = match (a, b) {
                (Some(a), Some(b)) => (a + b) >> 1,
                (Some(v), None) | (None, Some(v)) => v,
                (None, None) => 0,
            };
        }
        p
    }
}
