//! spice-gtk's `--spice-*` option group (`spice_get_option_group()`) as plain
//! data. The clap definition of the options is `crate::cli::SpiceArgs`
//! (feature `cli`), shared by `sumac` and `sumac-cli`.

use std::path::PathBuf;

use super::options::{Compression, Effects};
use crate::client::config::SecureChannels;

/// The `--spice-*` options as given (`None`/`false`: not given).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SpiceOptions {
    /// `--spice-secure-channels`: channels that must use TLS.
    pub secure_channels: Option<SecureChannels>,
    /// `--spice-disable-effects`: guest desktop effects to turn off.
    pub disable_effects: Option<Effects>,
    /// `--spice-color-depth` (deprecated, ignored by servers).
    pub color_depth: Option<u32>,
    /// `--spice-ca-file`: CA certificate(s) for TLS (PEM file).
    pub ca_file: Option<PathBuf>,
    /// `--spice-host-subject`: expected subject of the server certificate.
    pub host_subject: Option<String>,
    /// `--spice-disable-audio`: do not open the audio channels.
    pub disable_audio: bool,
    /// `--spice-smartcard`.
    pub smartcard: bool,
    /// `--spice-smartcard-certificates`.
    pub smartcard_certificates: Option<String>,
    /// `--spice-smartcard-db`.
    pub smartcard_db: Option<String>,
    /// `--spice-disable-usbredir`.
    pub disable_usbredir: bool,
    /// `--spice-usbredir-auto-redirect-filter`.
    pub usbredir_auto_redirect_filter: Option<String>,
    /// `--spice-usbredir-redirect-on-connect`.
    pub usbredir_redirect_on_connect: Option<String>,
    /// `--usb-disk=IMAGE[,ro]` (repeatable; Sumac's own): raw images plugged in as USB sticks.
    pub usb_disks: Vec<crate::client::usb::UsbDisk>,
    /// `--spice-share-cd` (repeatable).
    pub share_cd: Vec<PathBuf>,
    /// `--spice-cache-size`: image cache size in bytes (deprecated).
    pub cache_size: Option<u64>,
    /// `--spice-glz-window-size`: GLZ window size in bytes (deprecated).
    pub glz_window_size: Option<u64>,
    /// `--spice-shared-dir`: folder shared with the guest.
    pub shared_dir: Option<PathBuf>,
    /// The shared folder is read-only for the guest (spice-gtk's `share-dir-ro`,
    /// remote-viewer's "Read-only" preference; `--spice-shared-dir-ro` here).
    pub shared_dir_read_only: bool,
    /// `--spice-preferred-compression`: image compression to ask the server for.
    pub preferred_compression: Option<Compression>,
    /// `--spice-preferred-video-codec`: video codec to ask the server for first.
    pub preferred_video_codec: Option<super::VideoCodec>,
    /// `--spice-debug`.
    pub spice_debug: bool,
    /// `--spice-gtk-version`: print the SPICE protocol version and exit.
    pub spice_gtk_version: bool,
}
