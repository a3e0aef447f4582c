//! [`SpiceArgs`]: spice-gtk's `--spice-*` option group as clap arguments,
//! flattened into the command lines of `sumac` and of `sumac-cli`'s
//! connecting subcommands. It becomes a [`SpiceOptions`].

use std::path::PathBuf;

use crate::client::config::{ConfigError, SecureChannels};
use crate::client::launch::{Compression, Effects, SpiceOptions, VideoCodec};
use crate::client::vv::Effect;

fn parse_effects(s: &str) -> Result<Vec<Effect>, String> {
    Effect::parse_list(s)
}

fn parse_secure_channels(s: &str) -> Result<SecureChannels, ConfigError> {
    SecureChannels::parse(s)
}

/// spice-gtk's option group (`spice_get_option_group()`).
#[derive(clap::Args, Debug, Default, Clone, PartialEq, Eq)]
#[command(next_help_heading = "SPICE options")]
pub struct SpiceArgs {
    /// Channels that must use TLS: main,display,inputs,cursor,playback,record,smartcard,usbredir or all
    #[arg(long = "spice-secure-channels", value_name = "LIST", value_parser = parse_secure_channels)]
    pub secure_channels: Option<SecureChannels>,
    /// Guest desktop effects to turn off: wallpaper,font-smooth,animation,all
    #[arg(long = "spice-disable-effects", value_name = "LIST", value_parser = parse_effects)]
    pub disable_effects: Option<Effects>,
    /// Guest colour depth (deprecated; sent to agents that take DISPLAY_CONFIG)
    #[arg(long = "spice-color-depth", value_name = "BITS", hide = true)]
    pub color_depth: Option<u32>,
    /// CA certificate(s) for TLS (PEM file)
    #[arg(long = "spice-ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Expected subject of the server certificate, e.g. "C=XX,O=Org,CN=host"
    #[arg(long = "spice-host-subject", value_name = "SUBJECT")]
    pub host_subject: Option<String>,
    /// Do not open the audio channels
    #[arg(long = "spice-disable-audio")]
    pub disable_audio: bool,
    /// Enable smartcard support
    #[arg(long = "spice-smartcard")]
    pub smartcard: bool,
    /// Certificates of the emulated smartcard
    #[arg(long = "spice-smartcard-certificates", value_name = "CERTS")]
    pub smartcard_certificates: Option<String>,
    /// Certificate database of the emulated smartcard
    #[arg(long = "spice-smartcard-db", value_name = "DB")]
    pub smartcard_db: Option<String>,
    /// Do not redirect USB devices
    #[arg(long = "spice-disable-usbredir")]
    pub disable_usbredir: bool,
    /// USB devices redirected automatically: class,vendor,product,version,allow|…
    #[arg(long = "spice-usbredir-auto-redirect-filter", value_name = "FILTER")]
    pub usbredir_auto_redirect_filter: Option<String>,
    /// USB devices redirected when the session starts: class,vendor,product,version,allow|…
    #[arg(long = "spice-usbredir-redirect-on-connect", value_name = "FILTER")]
    pub usbredir_redirect_on_connect: Option<String>,
    /// A raw disk image to plug into the guest as a USB stick, read-only with ",ro" (repeatable)
    #[arg(long = "usb-disk", value_name = "IMAGE[,ro]")]
    pub usb_disks: Vec<crate::client::usb::UsbDisk>,
    /// ISO file to share with the guest as a CD (repeatable)
    #[arg(long = "spice-share-cd", value_name = "FILE")]
    pub share_cd: Vec<PathBuf>,
    /// Image cache size in bytes (deprecated)
    #[arg(long = "spice-cache-size", value_name = "BYTES", hide = true)]
    pub cache_size: Option<u64>,
    /// GLZ window size in bytes (deprecated)
    #[arg(long = "spice-glz-window-size", value_name = "BYTES", hide = true)]
    pub glz_window_size: Option<u64>,
    /// Folder shared with the guest
    #[arg(long = "spice-shared-dir", value_name = "DIR")]
    pub shared_dir: Option<PathBuf>,
    /// The shared folder is read-only for the guest
    #[arg(long = "spice-shared-dir-ro", requires = "shared_dir")]
    pub shared_dir_read_only: bool,
    /// Image compression to ask the server for
    #[arg(long = "spice-preferred-compression", value_name = "KIND", value_enum)]
    pub preferred_compression: Option<Compression>,
    /// Video codec to ask the server for first (if this machine decodes it)
    #[arg(long = "spice-preferred-video-codec", value_name = "CODEC", value_enum)]
    pub preferred_video_codec: Option<VideoCodec>,
    /// Print SPICE debug information
    #[arg(long = "spice-debug")]
    pub spice_debug: bool,
    /// Print the SPICE protocol version and exit
    #[arg(long = "spice-gtk-version")]
    pub spice_gtk_version: bool,
}

impl From<SpiceArgs> for SpiceOptions {
    fn from(a: SpiceArgs) -> Self {
        Self {
            secure_channels: a.secure_channels,
            disable_effects: a.disable_effects,
            color_depth: a.color_depth,
            ca_file: a.ca_file,
            host_subject: a.host_subject,
            disable_audio: a.disable_audio,
            smartcard: a.smartcard,
            smartcard_certificates: a.smartcard_certificates,
            smartcard_db: a.smartcard_db,
            disable_usbredir: a.disable_usbredir,
            usbredir_auto_redirect_filter: a.usbredir_auto_redirect_filter,
            usbredir_redirect_on_connect: a.usbredir_redirect_on_connect,
            usb_disks: a.usb_disks,
            share_cd: a.share_cd,
            cache_size: a.cache_size,
            glz_window_size: a.glz_window_size,
            shared_dir: a.shared_dir,
            shared_dir_read_only: a.shared_dir_read_only,
            preferred_compression: a.preferred_compression,
            preferred_video_codec: a.preferred_video_codec,
            spice_debug: a.spice_debug,
            spice_gtk_version: a.spice_gtk_version,
        }
    }
}
