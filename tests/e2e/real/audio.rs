//! Sound against real servers: a tone written into Xspice's audio FIFO must arrive in
//! `sumac-cli`'s WAV sink at its frequency and duration, over Opus and over raw PCM (a session
//! that does not offer Opus). Also the analysis the audio tests share (frequency by zero
//! crossings, duration of the sounding span) and a private PulseAudio for tests that go through
//! the real output path (`/work/shared/real-guest.md`, "No host sound card").

use crate::pulse;
use crate::support::{real::xspice::*, real::*};
use std::path::Path;
use std::process::Child;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sumac::client::audio::wav::{Wav, read_wav};

pub use crate::tone::{analyse, analyse_mono, median_freq, sine_pcm};

/// A `sumac-cli` left running (killed by its PID when dropped).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sumac-cli stats URI --seconds N ARGS` in the background.
pub fn spawn_sumac_cli(uri: &str, seconds: u64, args: &[&str], env: &[(&str, &Path)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sumac-cli"));
    cmd.args(["stats", uri, "--seconds", &seconds.to_string()]).args(args);
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    Running(cmd.spawn().expect("start sumac-cli"))
}

/// Waits for a running `sumac-cli` (at most `timeout`); returns its stdout and stderr.
pub fn finish(mut r: Running, timeout: Duration) -> (String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = r.0.try_wait().expect("wait for sumac-cli") {
            let mut out = String::new();
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut o) = r.0.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            if let Some(mut e) = r.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "sumac-cli failed ({status}): {err}\n{out}");
            return (out, err);
        }
        assert!(start.elapsed() < timeout, "sumac-cli did not finish in {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the server lists a linked playback channel for the client (Xspice logs nothing
/// for it, so this waits for the client to have had time: its stats line is printed at the end).
fn settle() {
    std::thread::sleep(Duration::from_secs(3));
}

fn xspice_tone(extra: &[&str], expect_opus: bool) {
    let Some(()) = require_real_servers(&[XSPICE, XORG]) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts {
        audio: true,
        ..Default::default()
    })
    .expect("start Xspice with an audio FIFO directory");
    let wav_path = xs.scratch_dir().join("playback.wav");
    let mut args = vec!["--audio-wav", wav_path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let cli = spawn_sumac_cli(&xs.uri(), 12, &args, &[]);
    settle();
    // 4 s of 440 Hz, then the FIFO closes (Xspice sends STOP).
    xs.play_pcm("tone", &sine_pcm(440.0, 4.0, 12_000.0))
        .expect("feed the FIFO");
    let (stdout, _) = finish(cli, Duration::from_secs(60));
    let wav = read_wav(&std::fs::read(&wav_path).expect("the WAV file exists")).expect("a WAV file");
    let tone = analyse(&wav).expect("the WAV holds a tone");
    eprintln!("Xspice tone {extra:?}: {tone:?}\n{stdout}");
    assert_eq!((wav.format.channels, wav.format.rate), (2, 48_000));
    assert!((tone.freq - 440.0).abs() <= 2.0, "frequency {:.2} Hz", tone.freq);
    assert!((tone.seconds - 4.0).abs() <= 0.08, "duration {:.3} s", tone.seconds);
    // Opus: ~14 KB/s; raw: 192 KB/s.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("audio: playback"))
        .expect("audio counters");
    let bytes: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    if expect_opus {
        assert!(bytes < 200_000, "Opus expected, got {bytes} bytes: {line}");
    } else {
        assert!(bytes >= 768_000, "raw PCM expected, got {bytes} bytes: {line}");
    }
    assert!(line.contains(" 0 dropped"), "{line}");
}

#[test]
fn xspice_tone_arrives_over_opus() {
    xspice_tone(&[], true);
}

#[test]
fn xspice_tone_arrives_over_raw_pcm_when_opus_is_not_offered() {
    xspice_tone(&["--no-opus"], false);
}

/// The stats line's field after `what` (e.g. "sink delay").
fn stat(line: &str, before: &str) -> u64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let n = before.split_whitespace().count();
    let at = words
        .windows(n)
        .position(|w| w.join(" ") == before)
        .unwrap_or_else(|| panic!("{before:?} not in {line}"));
    words[at + n].trim_end_matches(',').parse().unwrap()
}

/// The real output path: Xspice's tone, Opus, decoded by `sumac-cli --audio-device`, played by
/// cpal through ALSA into a private PulseAudio's null sink, recorded from its monitor.
#[test]
fn device_output_plays_an_xspice_tone_into_pulseaudio() {
    let Some(()) = require_real_servers(&[XSPICE, XORG]) else {
        return;
    };
    let Some(()) = pulse::require_pulse() else { return };
    let mut pa = pulse::PrivatePulse::start(1000).expect("private PulseAudio");
    let xs = Xspice::start(XspiceOpts {
        audio: true,
        ..Default::default()
    })
    .expect("start Xspice");
    pa.record_output().expect("parec");
    let env = pa.client_env();
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let cli = spawn_sumac_cli(&xs.uri(), 10, &["--audio-device"], &env);
    settle();
    xs.play_pcm("tone", &sine_pcm(440.0, 3.0, 12_000.0))
        .expect("feed the FIFO");
    let (stdout, stderr) = finish(cli, Duration::from_secs(60));
    let left = pa.recorded_left();
    let tone = analyse_mono(&left, 48_000).unwrap_or_else(|| panic!("nothing heard; sumac-cli said:\n{stderr}"));
    let line = stdout
        .lines()
        .find(|l| l.starts_with("audio: playback"))
        .expect("audio counters");
    eprintln!("device output: {tone:?}\n{line}");
    assert!((tone.freq - 440.0).abs() <= 2.0, "frequency {:.2} Hz", tone.freq);
    assert!((tone.seconds - 3.0).abs() <= 0.06, "duration {:.3} s", tone.seconds);
    // The device delay was measured (ring + device), so the clock was corrected by it.
    let delay = stat(line, "sink delay");
    assert!(delay > 0 && delay < 1000, "sink delay {delay} ms");
}

/// The real capture path: the test server asks for audio, `sumac-cli --audio-device` captures
/// the private PulseAudio's 1 kHz sine source through cpal and sends it Opus-encoded.
#[test]
fn device_input_sends_the_pulseaudio_sine_to_the_server() {
    use sumac::proto::ChannelType;
    use sumac::proto::channel::record::{RecordClient, RecordServer, RecordStart};
    let Some(()) = pulse::require_pulse() else { return };
    let pa = pulse::PrivatePulse::start(1000).expect("private PulseAudio");
    let server = sumac_test_server::TestServer::start(sumac_test_server::ServerConfig {
        channels: vec![(ChannelType::DISPLAY, 0), (ChannelType::RECORD, 0)],
        audio: sumac_test_server::audio::AudioConfig {
            opus: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let env = pa.client_env();
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let cli = spawn_sumac_cli(&server.uri(), 6, &["--audio-device"], &env);
    assert!(server.wait_for(Duration::from_secs(30), |r| {
        r.linked.iter().any(|l| l.0 == ChannelType::RECORD)
    }));
    server.record_send(RecordServer::Start(RecordStart {
        channels: 2,
        format: 1,
        frequency: 48_000,
    }));
    let data = |l: &[RecordClient]| l.iter().filter(|m| matches!(m, RecordClient::Data { .. })).count();
    assert!(
        server.wait_for_record(Duration::from_secs(30), |l| data(l) >= 150),
        "the client sent {} frames",
        data(&server.record_log())
    );
    let log = server.record_log();
    assert!(
        matches!(log[0], RecordClient::Mode { mode: 3, .. }),
        "Opus first: {:?}",
        log[0]
    );
    assert!(matches!(log[1], RecordClient::StartMark { .. }));
    let mut dec = sumac::codec::opus::OpusDecoder::new().unwrap();
    let mut pcm = Vec::new();
    for m in &log[2..] {
        if let RecordClient::Data { data, .. } = m {
            pcm.extend_from_slice(dec.decode(data).unwrap());
        }
    }
    let left: Vec<i16> = pcm.iter().step_by(2).copied().collect();
    let tone = analyse_mono(&left, 48_000).expect("a tone");
    eprintln!("device input: {tone:?}");
    assert!((tone.freq - 1000.0).abs() <= 3.0, "frequency {:.2} Hz", tone.freq);
    drop(finish(cli, Duration::from_secs(60)));
}

#[test]
fn analysis_measures_a_known_tone() {
    let pcm = sine_pcm(880.0, 1.5, 8000.0);
    let samples: Vec<i16> = pcm.chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let mut padded = vec![0i16; 9600];
    padded.extend(samples);
    padded.extend(vec![0i16; 9600]);
    let wav = Wav {
        format: sumac::channel::audio::PcmFormat::OPUS,
        samples: padded,
    };
    let t = analyse(&wav).unwrap();
    assert!((t.freq - 880.0).abs() < 0.5, "{t:?}");
    // With a gap of silence and a dropped stretch, the median period still says 880 Hz.
    let mut gappy = wav.samples.iter().step_by(2).copied().collect::<Vec<i16>>();
    gappy.splice(20_000..20_000, vec![0i16; 3000]);
    gappy.drain(40_000..40_777);
    let (f, n) = median_freq(&gappy, 48_000).unwrap();
    assert!((f - 880.0).abs() < 0.5 && n > 1000, "{f} Hz over {n} periods");
    assert!((t.seconds - 1.5).abs() < 0.01, "{t:?}");
}
