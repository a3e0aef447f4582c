//! What the connecting subcommands share: the target and `--spice-*`
//! options, their merge into a connection, and waiting on the session.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use sumac::cli::SpiceArgs;
use sumac::client::launch::{LaunchError, LaunchRequest, Target};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::display::DisplayState;
use tokio::sync::mpsc::UnboundedReceiver;

/// The target and the connection options, shared with the GUI (remote-viewer's `--spice-*` names).
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// spice://host:port, spice://host?port=..&tls-port=..&password=.., spice+tls://host:port, spice+unix:///path,
    /// a .vv connection file, or - (a .vv file on standard input). SPICE_PROXY=http://[user:pass@]host:port
    /// sets an HTTP CONNECT proxy (a .vv `proxy` key wins).
    #[arg(value_name = "URI|FILE.vv|-")]
    pub uri: String,
    #[command(flatten)]
    pub spice: SpiceArgs,
    /// Save what the playback channel plays into this WAV file (16-bit PCM).
    #[arg(long = "audio-wav", value_name = "FILE", conflicts_with = "audio_device")]
    pub audio_wav: Option<std::path::PathBuf>,
    /// Play through the default sound output and record from the default input (feature `audio`).
    #[arg(long = "audio-device")]
    pub audio_device: bool,
    /// Offer raw PCM only, not Opus (also with SPICE_DISABLE_OPUS set).
    #[arg(long = "no-opus")]
    pub no_opus: bool,
    /// Reconnect by itself when the server goes away (with backoff).
    #[arg(long)]
    pub reconnect: bool,
}

/// The connection and session options `args` name: the URI or `.vv` file
/// (deleted once read when it says `delete-this-file=1`, unless
/// VIRT_VIEWER_KEEP_FILE is set) with the `--spice-*` options over it.
pub fn build(args: &ConnectArgs) -> Result<(ConnectionConfig, SessionOptions)> {
    let target = Target::from_arg(&args.uri);
    let request = LaunchRequest {
        target: Some(target.clone()),
        spice: args.spice.clone().into(),
        ..LaunchRequest::default()
    };
    let launch = match request.resolve() {
        Ok(launch) => launch.context("nothing to connect to")?,
        Err(e @ LaunchError::Uri(_)) => return Err(e.into()),
        Err(e) => {
            let what = match target {
                Target::VvFile(path) => path.display().to_string(),
                Target::Stdin => "standard input".to_owned(),
                Target::Uri(uri) => uri,
            };
            return Err(anyhow::Error::new(e).context(what));
        }
    };
    let mut opts = launch.session;
    if args.reconnect {
        opts.reconnect = Some(sumac::client::ReconnectPolicy::default());
    }
    opts.opus = !args.no_opus && std::env::var_os("SPICE_DISABLE_OPUS").is_none();
    if let Some(path) = &args.audio_wav {
        opts.media.audio = Some(Arc::new(sumac::client::audio::wav::WavBackend::new(path)));
    } else if args.audio_device {
        #[cfg(feature = "audio")]
        {
            opts.media.audio = Some(Arc::new(sumac::client::audio::device::DeviceBackend::new()));
        }
        #[cfg(not(feature = "audio"))]
        anyhow::bail!("--audio-device needs sumac-cli built with the `audio` feature");
    }
    add_video_decoders(&mut opts);
    Ok((launch.connection, opts))
}

/// With the `gst` feature, GStreamer decodes VP8, VP9, H.264 and H.265
/// streams (the codecs the registry has a decoder for are advertised);
/// `SUMAC_GST=0` turns it off (MJPEG only, as without the feature);
/// `SUMAC_MJPEG_DECODER=gstreamer` decodes MJPEG through it too.
#[cfg(feature = "gst")]
fn add_video_decoders(session: &mut SessionOptions) {
    if std::env::var("SUMAC_GST").is_ok_and(|v| v == "0") {
        return;
    }
    // Found while the main channel connects; the display channel's link waits for them.
    let v = std::sync::Arc::new(sumac::gst::PendingVideo::start(sumac::gst::mjpeg_by_gstreamer()));
    *VIDEO.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::sync::Arc::clone(&v));
    session.media.video = Some(v);
}

#[cfg(not(feature = "gst"))]
fn add_video_decoders(_session: &mut SessionOptions) {}

/// The session's GStreamer decoders, for `stats`.
#[cfg(feature = "gst")]
static VIDEO: Mutex<Option<Arc<sumac::gst::PendingVideo>>> = Mutex::new(None);

/// What each live video stream decodes with (`stream 0 vp8 via vp8dec (software)`).
pub fn video_decoders() -> Vec<String> {
    #[cfg(feature = "gst")]
    if let Some(v) = VIDEO.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
        return v.decoders().iter().map(ToString::to_string).collect();
    }
    Vec::new()
}

/// The next session event, or `None` once `deadline` passed (or the session is gone).
pub fn next_event(rx: &mut UnboundedReceiver<SessionEvent>, deadline: Instant) -> Option<SessionEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .ok()?;
    let left = deadline.saturating_duration_since(Instant::now());
    rt.block_on(async { tokio::time::timeout(left, rx.recv()).await.ok().flatten() })
}

fn live_states(session: &SessionHandle) -> Vec<(u8, Arc<Mutex<DisplayState>>)> {
    (0..=u8::MAX)
        .filter_map(|ch| session.display(ch).map(|s| (ch, s)))
        .collect()
}

/// Runs `f` over the locked display states of a live session, in channel id order.
pub fn with_states<T>(session: &SessionHandle, f: impl FnOnce(&[(u8, &DisplayState)]) -> T) -> Result<T> {
    let states = live_states(session);
    let guards = states
        .iter()
        .map(|(ch, s)| {
            s.lock()
                .map(|g| (*ch, g))
                .map_err(|_| anyhow!("display state poisoned"))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(u8, &DisplayState)> = guards.iter().map(|(ch, g)| (*ch, &**g)).collect();
    Ok(f(&refs))
}
