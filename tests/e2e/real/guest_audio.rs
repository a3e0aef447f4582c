//! Sound with the real Linux guest (QEMU `hda-duplex` on the spice audiodev, spice-vdagent), one
//! boot for every case: the guest's 880 Hz reaches Sumac's sound device (a private PulseAudio's
//! null sink), the private PulseAudio's 1 kHz sine source reaches the guest's `arecord`, the guest
//! mixer's volume and mute reach Sumac, and Sumac's volume reaches the guest mixer through the
//! agent (`VD_AGENT_AUDIO_VOLUME_SYNC`).

use super::audio::{analyse_mono, finish, median_freq, spawn_sumac_cli};
use super::pulse::{PrivatePulse, require_pulse};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use sumac::client::audio::AudioDirection;
use sumac::client::{ConnectionConfig, SessionEvent, SessionOptions};
use sumac_test_guest::{Guest, GuestGroup, GuestOptions};

/// A 48 kHz stereo 16-bit WAV of a sine.
fn sine_wav(freq: f64, seconds: f64) -> Vec<u8> {
    let pcm = super::audio::sine_pcm(freq, seconds, 12_000.0);
    let format = sumac::channel::audio::PcmFormat::OPUS;
    let mut wav = sumac::client::audio::wav::header(format, pcm.len() as u64).to_vec();
    wav.extend(pcm);
    wav
}

fn env_of(pa: &PrivatePulse) -> Vec<(&'static str, PathBuf)> {
    pa.client_env()
}

fn cli_env<'a>(env: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    env.iter().map(|(k, v)| (*k, v.as_path())).collect()
}

/// The left channel of a 16-bit stereo WAV read back from the guest.
fn wav_left(bytes: &[u8]) -> Vec<i16> {
    let wav = sumac::client::audio::wav::read_wav(bytes).expect("a WAV file");
    wav.samples
        .iter()
        .step_by(usize::from(wav.format.channels))
        .copied()
        .collect()
}

type CaseResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn playback(g: &Guest) -> CaseResult {
    let mut pa = PrivatePulse::start(1000)?;
    pa.record_output()?;
    let env = env_of(&pa);
    let cli = spawn_sumac_cli(&g.spice_uri(), 14, &["--audio-device"], &cli_env(&env));
    std::thread::sleep(Duration::from_secs(4));
    g.write_file("/tmp/tone880.wav", &sine_wav(880.0, 3.0))?;
    g.run_ok("aplay -q /tmp/tone880.wav; rm -f /tmp/tone880.wav")?;
    let (stdout, stderr) = finish(cli, Duration::from_secs(60));
    let left = pa.recorded_left();
    let tone =
        analyse_mono(&left, 48_000).ok_or_else(|| format!("nothing heard from the guest; sumac-cli: {stderr}"))?;
    let line = stdout.lines().find(|l| l.starts_with("audio:")).unwrap_or_default();
    // Under load a TCG guest delivers with gaps (and the device may drop what overflows): the
    // whole-span estimate then mixes cuts in; the periods that were heard must be 880 Hz.
    let (freq, periods) = median_freq(&left, 48_000).ok_or("no periods heard")?;
    eprintln!("guest playback: median {freq:.2} Hz over {periods} periods; whole span {tone:?}\n{line}");
    assert!((freq - 880.0).abs() <= 2.0, "frequency {freq:.2} Hz");
    // A TCG guest on a loaded machine does not always deliver the whole 3 s (QEMU's audio
    // timer); what arrives must be heard, not a click.
    assert!(tone.seconds >= 1.0, "heard {:.3} s; sumac-cli: {stderr}", tone.seconds);
    Ok(())
}

fn record(g: &Guest) -> CaseResult {
    let pa = PrivatePulse::start(1000)?;
    let env = env_of(&pa);
    let cli = spawn_sumac_cli(&g.spice_uri(), 14, &["--audio-device"], &cli_env(&env));
    std::thread::sleep(Duration::from_secs(4));
    g.run_ok("arecord -q -d 3 -f S16_LE -r 48000 -c 2 /tmp/rec.wav")?;
    let bytes = g.read_file("/tmp/rec.wav")?;
    g.run_ok("rm -f /tmp/rec.wav")?;
    let (stdout, _) = finish(cli, Duration::from_secs(60));
    let left = wav_left(&bytes);
    let tone = analyse_mono(&left, 48_000).ok_or("the guest recorded silence")?;
    // A TCG guest on a loaded machine reads its capture late and irregularly: spice-server keeps
    // 170 ms for it and QEMU fills what is missing with silence, so the recording has gaps and
    // cuts. The periods that were recorded are 1 kHz.
    let (freq, periods) = median_freq(&left, 48_000).ok_or("no periods recorded")?;
    let line = stdout.lines().find(|l| l.starts_with("audio:")).unwrap_or_default();
    eprintln!("guest record: median {freq:.2} Hz over {periods} periods; whole span {tone:?}\n{line}");
    assert!((freq - 1000.0).abs() <= 3.0, "frequency {freq:.2} Hz");
    // On a quiet machine most of the 3 s holds sound; under TCG with a load of 14 on 2 cores,
    // 0.75 s was seen: ask for a quarter of a second.
    assert!(periods >= 250, "only {periods} periods recorded");
    Ok(())
}

/// The guest mixer's playback volume of `Master` in percent, and whether it is on.
fn guest_master(g: &Guest) -> std::result::Result<(u32, bool), Box<dyn std::error::Error + Send + Sync>> {
    let out = g.run_ok("amixer -c 0 sget Master")?;
    // "  Mono: Playback 58 [91%] [-6.00dB] [on]": the first "[N%]".
    let pct = out
        .split('[')
        .filter_map(|s| s.split_once("%]"))
        .find_map(|(n, _)| n.parse().ok())
        .ok_or_else(|| format!("no volume in {out}"))?;
    Ok((pct, !out.contains("[off]")))
}

fn volume(g: &Guest) -> CaseResult {
    let mut opts = SessionOptions::default();
    // No device needed: the volume arrives as messages, the agent sync goes out as one.
    opts.media.audio = Some(std::sync::Arc::new(sumac::client::audio::wav::WavBackend::new(
        std::env::temp_dir().join(format!("sumac-guest-volume-{}.wav", std::process::id())),
    )));
    let (session, mut rx) = sumac::client::connect(ConnectionConfig::from_uri(&g.spice_uri())?, opts)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    let until = Instant::now() + Duration::from_secs(60);
    let mut agent = false;
    while !agent {
        let ev = rt.block_on(async { tokio::time::timeout(Duration::from_secs(1), rx.recv()).await });
        if let Ok(Some(
            SessionEvent::AgentConnected(true)
            | SessionEvent::Init {
                agent_connected: true, ..
            },
        )) = ev
        {
            agent = true;
        }
        assert!(Instant::now() < until, "the agent never connected");
    }
    let audio = session.audio();
    // The guest mixer reaches Sumac (QEMU forwards it while a stream plays).
    g.write_file("/tmp/vol.wav", &sine_wav(440.0, 8.0))?;
    let player = g.spawn("aplay -q /tmp/vol.wav", false)?;
    std::thread::sleep(Duration::from_secs(1));
    g.run_ok("amixer -q -c 0 sset Master 30% unmute")?;
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let end = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(
                Instant::now() < end,
                "{what}: volume {:?}, mute {}",
                audio.volume(AudioDirection::Playback),
                audio.mute(AudioDirection::Playback)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let full = u16::MAX;
    wait("the guest's 30 %", &|| {
        audio
            .volume(AudioDirection::Playback)
            .iter()
            .all(|&v| v < full / 2 && v > 0)
    });
    let from_guest = audio.volume(AudioDirection::Playback);
    g.run_ok("amixer -q -c 0 sset Master mute")?;
    wait("the guest's mute", &|| audio.mute(AudioDirection::Playback));
    g.run_ok("amixer -q -c 0 sset Master unmute")?;
    wait("the guest's unmute", &|| !audio.mute(AudioDirection::Playback));
    // Sumac's volume reaches the guest mixer through the agent.
    audio.set_volume(AudioDirection::Playback, full / 5 * 3);
    let end = Instant::now() + Duration::from_secs(20);
    let mut last = guest_master(g)?;
    while last.0.abs_diff(60) > 3 {
        assert!(
            Instant::now() < end,
            "the guest mixer stayed at {last:?} after Sumac asked 60 %"
        );
        std::thread::sleep(Duration::from_millis(200));
        last = guest_master(g)?;
    }
    audio.set_mute(AudioDirection::Playback, true);
    let end = Instant::now() + Duration::from_secs(20);
    while guest_master(g)?.1 {
        assert!(Instant::now() < end, "the guest mixer was not muted by Sumac");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("guest volume: from the guest {from_guest:?}; to the guest {last:?}");
    let _ = player.kill();
    g.run_ok("rm -f /tmp/vol.wav")?;
    session.disconnect();
    Ok(())
}

#[test]
fn guest_audio() {
    let Some(()) = require_pulse() else { return };
    GuestGroup::new("audio", GuestOptions::default().audio().agent())
        .case("playback 880 Hz reaches the sound device", playback)
        .case("record 1 kHz from the sound device", record)
        .case("volume and mute both ways", volume)
        .run();
}
