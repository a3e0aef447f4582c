//! Channel and rate conversion between the stream SPICE sends or wants and
//! what a device takes or gives: pull-based (the consumer asks for output
//! frames, the converter pulls input frames as it needs them), linear
//! interpolation, at most [`MAX_CHANNELS`] channels. Pure computation, used
//! in device callbacks: no allocation after construction.

/// Most channels on either side.
pub const MAX_CHANNELS: usize = 8;

type Frame = [f32; MAX_CHANNELS];

/// Converts frames of `in_channels` at `in_rate` to `out_channels` at `out_rate`.
#[derive(Debug, Clone)]
pub struct Converter {
    in_channels: usize,
    out_channels: usize,
    /// Input frames per output frame.
    step: f64,
    /// Position between `prev` (0.0) and `next` (1.0).
    pos: f64,
    prev: Frame,
    next: Frame,
    /// Input frames held (0, 1: `prev` only, 2: both).
    have: u8,
}

impl Converter {
    pub fn new(in_channels: usize, in_rate: u32, out_channels: usize, out_rate: u32) -> Self {
        Self {
            in_channels: in_channels.clamp(1, MAX_CHANNELS),
            out_channels: out_channels.clamp(1, MAX_CHANNELS),
            step: f64::from(in_rate.max(1)) / f64::from(out_rate.max(1)),
            pos: 0.0,
            prev: [0.0; MAX_CHANNELS],
            next: [0.0; MAX_CHANNELS],
            have: 0,
        }
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Same channels and rate on both sides: nothing to convert.
    pub fn is_identity(&self) -> bool {
        self.in_channels == self.out_channels && (self.step - 1.0).abs() < f64::EPSILON
    }

    /// Forgets the frames kept between calls (a new stream starts).
    pub fn reset(&mut self) {
        self.pos = 0.0;
        self.have = 0;
    }

    /// Fills `out` (interleaved, `out_channels`) with as many whole frames as
    /// the input gives; `pull` fills one input frame (`in_channels` values)
    /// and returns false when no more is available now. Returns the frames
    /// written; the rest of `out` is left untouched.
    pub fn produce(&mut self, out: &mut [f32], mut pull: impl FnMut(&mut [f32]) -> bool) -> usize {
        let mut written = 0;
        for frame in out.chunks_exact_mut(self.out_channels) {
            // Input frames around the output position: `prev` at 0, `next` at 1.
            while self.have < 2 || self.pos >= 1.0 {
                let mut f: Frame = [0.0; MAX_CHANNELS];
                let Some(slot) = f.get_mut(..self.in_channels) else {
                    return written;
                };
                if !pull(slot) {
                    return written;
                }
                match self.have {
                    0 => self.prev = f,
                    1 => self.next = f,
                    _ => {
                        self.prev = self.next;
                        self.next = f;
                        self.pos -= 1.0;
                    }
                }
                self.have = (self.have + 1).min(2);
            }
            let t = self.pos as f32;
            for (c, o) in frame.iter_mut().enumerate() {
                let a = self.map(&self.prev, c);
                let b = self.map(&self.next, c);
                *o = a + (b - a) * t;
            }
            self.pos += self.step;
            written += 1;
        }
        written
    }

    /// Output channel `c` from an input frame: mono is copied everywhere,
    /// stereo to mono is averaged, extra output channels are silent.
    fn map(&self, f: &Frame, c: usize) -> f32 {
        let get = |i: usize| f.get(i).copied().unwrap_or(0.0);
        match (self.in_channels, self.out_channels) {
            (1, _) => get(0),
            (n, 1) => (0..n).map(get).sum::<f32>() / n as f32,
            (n, _) if c < n => get(c),
            _ => 0.0,
        }
    }
}

/// i16 to f32 in [-1, 1).
pub fn to_f32(s: i16) -> f32 {
    f32::from(s) / 32768.0
}

/// f32 to i16, clamped.
pub fn to_i16(v: f32) -> i16 {
    let scaled = (v * 32768.0).round().clamp(-32768.0, 32767.0);
    // In range after the clamp.
    scaled as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &mut Converter, input: &[f32], out_frames: usize) -> Vec<f32> {
        let mut it = input.chunks(c.in_channels()).map(<[f32]>::to_vec);
        let mut out = vec![0.0; out_frames * c.out_channels()];
        let n = c.produce(&mut out, |slot| match it.next() {
            Some(f) => {
                slot.copy_from_slice(&f);
                true
            }
            None => false,
        });
        out.truncate(n * c.out_channels());
        out
    }

    #[test]
    fn same_format_passes_through() {
        let mut c = Converter::new(2, 48_000, 2, 48_000);
        let input: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let out = run(&mut c, &input, 100);
        // The last frame stays pending (it is the interpolation's right end).
        assert_eq!(out, input[..18].to_vec());
    }

    #[test]
    fn identity_is_same_channels_and_rate_only() {
        assert!(Converter::new(2, 48_000, 2, 48_000).is_identity());
        assert!(!Converter::new(2, 48_000, 2, 44_100).is_identity());
        assert!(!Converter::new(1, 48_000, 2, 48_000).is_identity());
    }

    #[test]
    fn channels_are_mapped() {
        let mut c = Converter::new(1, 100, 2, 100);
        assert_eq!(run(&mut c, &[1.0, 2.0, 3.0], 10), vec![1.0, 1.0, 2.0, 2.0]);
        let mut c = Converter::new(2, 100, 1, 100);
        assert_eq!(run(&mut c, &[1.0, 3.0, 5.0, 7.0, 0.0, 0.0], 10), vec![2.0, 6.0]);
        let mut c = Converter::new(2, 100, 4, 100);
        assert_eq!(run(&mut c, &[1.0, 2.0, 0.0, 0.0], 10), vec![1.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn rates_are_interpolated() {
        // Doubling the rate puts a midpoint between every pair.
        let mut c = Converter::new(1, 100, 1, 200);
        assert_eq!(run(&mut c, &[0.0, 2.0, 4.0], 10), vec![0.0, 1.0, 2.0, 3.0]);
        // Halving takes every other frame.
        let mut c = Converter::new(1, 200, 1, 100);
        assert_eq!(run(&mut c, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 10), vec![0.0, 2.0, 4.0]);
        // 44.1 kHz to 48 kHz: one second in, ~one second out.
        let mut c = Converter::new(2, 44_100, 2, 48_000);
        let out = run(&mut c, &vec![0.5; 2 * 44_100], 50_000);
        assert!((out.len() / 2).abs_diff(48_000) < 3, "{}", out.len() / 2);
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        assert_eq!(
            (to_i16(to_f32(-32768)), to_i16(2.0), to_i16(to_f32(1234))),
            (-32768, 32767, 1234)
        );
    }
}
