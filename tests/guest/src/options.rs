//! What a guest is booted with: its devices (each one a SPICE channel or an agent feature), SPICE
//! security, accelerator and limits.

use std::path::PathBuf;
use std::time::Duration;

/// Which accelerator QEMU uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accel {
    /// KVM when the CPU has vmx/svm, `/dev/kvm` opens and a short `-cpu host` probe boots; else TCG.
    /// Overridden by the environment variable `SUMAC_GUEST_ACCEL` (`kvm`, `tcg` or `auto`).
    #[default]
    Auto,
    /// Always TCG (`-accel tcg,tb-size=256`).
    Tcg,
    /// Always KVM (`-accel kvm -cpu host`): fails where KVM does not work.
    Kvm,
}

/// SPICE over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Holds `ca-cert.pem`, `server-cert.pem` and `server-key.pem` (QEMU's `x509-dir`).
    pub x509_dir: PathBuf,
    /// Offer only the TLS port (no plain port).
    pub tls_only: bool,
}

/// How to boot a [`Guest`](crate::Guest). `GuestOptions::default()` is the bare guest (Xorg on qxl:
/// main, display, inputs and cursor channels); [`GuestOptions::all`] adds every device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestOptions {
    /// spice-vdagent: the `com.redhat.spice.0` virtio port, spice-vdagentd and spice-vdagent in
    /// the X session (file transfers land in [`GuestOptions::xfer_dir`]).
    pub agent: bool,
    /// The WebDAV port channel (`org.spice-space.webdav.0`), avahi-daemon and spice-webdavd on
    /// port 9843 in the guest.
    pub webdav: bool,
    /// A port channel carrying QEMU's monitor (`org.qemu.monitor.qmp.0`). The harness's own QMP
    /// socket ([`Guest::qmp`](crate::Guest::qmp)) exists either way.
    pub qmp_port: bool,
    /// Sound: `ich9-intel-hda` + `hda-duplex` on the spice audiodev (playback and record channels);
    /// the guest mixer unmuted at [`GuestOptions::volume_percent`].
    pub audio: bool,
    /// Two usbredir channels (`usb-redir` on `qemu-xhci`).
    pub usbredir: bool,
    /// A serial console port channel (`org.qemu.console.serial.0`) on the guest's ttyS1, with a
    /// root shell on it.
    pub serial: bool,
    /// A smartcard channel (`usb-ccid` on a UHCI controller + `ccid-card-passthru`), pcscd in the guest.
    pub smartcard: bool,
    /// SPICE password (`-object secret` + `password-secret`); `None`: no ticketing.
    pub password: Option<String>,
    /// SPICE over TLS.
    pub tls: Option<TlsOptions>,
    /// Extra `-spice` sub-options, e.g. `image-compression=off`.
    pub spice_extra: Vec<String>,
    /// Extra QEMU arguments, appended last.
    pub qemu_extra: Vec<String>,
    /// Guest memory in MiB (`-m`).
    pub memory_mib: u32,
    pub accel: Accel,
    /// How long [`Guest::boot`](crate::Guest::boot) waits for the guest to report ready
    /// (`SUMAC_GUEST_BOOT_TIMEOUT`, in seconds, overrides it).
    pub boot_timeout: Duration,
    /// Where spice-vdagent puts transferred files (a guest path).
    pub xfer_dir: String,
    /// The guest mixer volume set at boot (with `audio`).
    pub volume_percent: u8,
    /// The Xorg driver for the qxl device: `qxl` (xserver-xorg-video-qxl) or `modesetting`.
    pub xorg_driver: String,
}

impl Default for GuestOptions {
    fn default() -> Self {
        Self {
            agent: false,
            webdav: false,
            qmp_port: false,
            audio: false,
            usbredir: false,
            serial: false,
            smartcard: false,
            password: None,
            tls: None,
            spice_extra: Vec::new(),
            qemu_extra: Vec::new(),
            memory_mib: 1024,
            accel: Accel::Auto,
            boot_timeout: Duration::from_secs(240),
            xfer_dir: "/tmp/xfer".into(),
            volume_percent: 80,
            xorg_driver: "qxl".into(),
        }
    }
}

impl GuestOptions {
    /// Every device: agent, webdav, QMP port channel, audio, usbredir, serial console, smartcard.
    pub fn all() -> Self {
        Self {
            agent: true,
            webdav: true,
            qmp_port: true,
            audio: true,
            usbredir: true,
            serial: true,
            smartcard: true,
            ..Self::default()
        }
    }

    pub fn agent(mut self) -> Self {
        self.agent = true;
        self
    }

    pub fn webdav(mut self) -> Self {
        self.webdav = true;
        self
    }

    pub fn qmp_port(mut self) -> Self {
        self.qmp_port = true;
        self
    }

    pub fn audio(mut self) -> Self {
        self.audio = true;
        self
    }

    pub fn usbredir(mut self) -> Self {
        self.usbredir = true;
        self
    }

    pub fn serial(mut self) -> Self {
        self.serial = true;
        self
    }

    pub fn smartcard(mut self) -> Self {
        self.smartcard = true;
        self
    }

    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    pub fn tls(mut self, x509_dir: impl Into<PathBuf>, tls_only: bool) -> Self {
        self.tls = Some(TlsOptions {
            x509_dir: x509_dir.into(),
            tls_only,
        });
        self
    }

    pub fn spice_option(mut self, option: impl Into<String>) -> Self {
        self.spice_extra.push(option.into());
        self
    }

    /// The boot timeout, after `SUMAC_GUEST_BOOT_TIMEOUT`.
    pub(crate) fn effective_boot_timeout(&self) -> Duration {
        std::env::var("SUMAC_GUEST_BOOT_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(self.boot_timeout, Duration::from_secs)
    }

    /// The accelerator, after `SUMAC_GUEST_ACCEL`.
    pub(crate) fn effective_accel(&self) -> Accel {
        match std::env::var("SUMAC_GUEST_ACCEL").as_deref().map(str::trim) {
            Ok("kvm") => Accel::Kvm,
            Ok("tcg") => Accel::Tcg,
            Ok("auto") => Accel::Auto,
            _ => self.accel,
        }
    }
}
