//! Tone analysis the audio tests share (hermetic and real): sine generation, frequency by zero
//! crossings with hysteresis, duration of the sounding span. Our own code, no FFT library.
//! (Declared once per test binary, in its `main.rs`.)
#![allow(dead_code)]

use sumac::client::audio::wav::Wav;

/// Interleaved S16LE stereo 48 kHz sine bytes (what Xspice's FIFO takes).
pub fn sine_pcm(freq: f64, seconds: f64, amplitude: f64) -> Vec<u8> {
    let n = (48_000.0 * seconds) as usize;
    (0..n)
        .flat_map(|i| {
            let v = (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / 48_000.0).sin()) as i16;
            let b = v.to_le_bytes();
            [b[0], b[1], b[0], b[1]]
        })
        .collect()
}

/// What a recording holds: the sounding span and its frequency.
#[derive(Debug, Clone, Copy)]
pub struct Tone {
    /// Hz, from zero crossings (with hysteresis) over the sounding span.
    pub freq: f64,
    /// Seconds from the first to the last sample louder than a tenth of the peak.
    pub seconds: f64,
    pub peak: i16,
}

/// The first channel of a WAV, analysed.
pub fn analyse(wav: &Wav) -> Option<Tone> {
    let ch = usize::from(wav.format.channels.max(1));
    let mono: Vec<i16> = wav.samples.iter().step_by(ch).copied().collect();
    analyse_mono(&mono, wav.format.rate)
}

pub fn analyse_mono(x: &[i16], rate: u32) -> Option<Tone> {
    let peak = x.iter().map(|v| v.unsigned_abs()).max()?;
    if peak < 100 {
        return None;
    }
    let thr = i32::from(peak / 10);
    let first = x.iter().position(|v| i32::from(*v).abs() > thr)?;
    let last = x.iter().rposition(|v| i32::from(*v).abs() > thr)?;
    let span = &x[first..=last];
    // Crossings of zero with hysteresis: a sign counts once the signal passed ±thr/2.
    let h = thr / 2;
    let mut state = 0i8;
    let mut crossings: Vec<f64> = Vec::new();
    for (i, v) in span.iter().enumerate() {
        let v = i32::from(*v);
        let s = if v > h {
            1
        } else if v < -h {
            -1
        } else {
            continue;
        };
        if state != 0 && s != state {
            crossings.push(i as f64);
        }
        state = s;
    }
    if crossings.len() < 3 {
        return None;
    }
    let periods = (crossings.len() - 1) as f64 / 2.0;
    let dt = (crossings[crossings.len() - 1] - crossings[0]) / f64::from(rate);
    Some(Tone {
        freq: periods / dt,
        seconds: span.len() as f64 / f64::from(rate),
        peak: i16::try_from(peak).unwrap_or(i16::MAX),
    })
}

/// The frequency of the sounding periods only: rising zero crossings (interpolated between
/// samples), the median of the periods whose amplitude reaches a quarter of the peak. Robust to
/// gaps and dropped stretches (a real guest on a loaded machine), unlike [`analyse_mono`].
/// Returns (Hz, how many periods).
pub fn median_freq(x: &[i16], rate: u32) -> Option<(f64, usize)> {
    let peak = x.iter().map(|v| v.unsigned_abs()).max()?;
    let thr = peak / 4;
    let mut rising = Vec::new();
    for i in 1..x.len() {
        let (a, b) = (f64::from(x[i - 1]), f64::from(x[i]));
        if a < 0.0 && b >= 0.0 {
            rising.push((i - 1) as f64 + (-a) / (b - a));
        }
    }
    let mut periods: Vec<f64> = rising
        .windows(2)
        .filter(|w| {
            let (s, e) = (w[0] as usize, (w[1] as usize + 1).min(x.len()));
            x[s..e].iter().any(|v| v.unsigned_abs() >= thr) && w[1] - w[0] < f64::from(rate) / 20.0
        })
        .map(|w| w[1] - w[0])
        .collect();
    if periods.len() < 10 {
        return None;
    }
    periods.sort_by(f64::total_cmp);
    let median = periods[periods.len() / 2];
    Some((f64::from(rate) / median, periods.len()))
}
