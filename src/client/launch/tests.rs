//! The launch path without clap: targets, option values and the merge of a
//! [`LaunchRequest`] with a URI or a `.vv` file.

use super::*;
use crate::client::config::{CaSource, ConnectionConfig, SecureChannels};
use crate::client::inputs::MouseMode;
use crate::client::vv::{Effect, Hotkey, HotkeyAction, Hotkeys, VvFile, VvSource};
use crate::proto::ChannelType;
use crate::proto::channel::display::image_compression;

fn vv(text: &str) -> VvFile {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vm.vv");
    std::fs::write(&path, text).expect("write");
    VvFile::load_with(&VvSource::Path(path), true).expect("valid .vv")
}

fn uri(u: &str) -> ConnectionConfig {
    ConnectionConfig::from_uri(u).expect("valid URI")
}

fn hk(s: &str) -> Hotkey {
    Hotkey::parse(s).expect("valid hotkey")
}

#[test]
fn targets_from_arguments() {
    assert_eq!(Target::from_arg("-"), Target::Stdin);
    assert_eq!(
        Target::from_arg("spice+unix:///s"),
        Target::Uri("spice+unix:///s".into())
    );
    assert_eq!(Target::from_arg("vm.vv"), Target::VvFile("vm.vv".into()));
    assert_eq!(
        Target::from_arg("FILE://localhost/a%20b.vv"),
        Target::VvFile("/a b.vv".into())
    );
    // Not an absolute file URI: a URI the connection will refuse.
    assert_eq!(
        Target::from_arg("file://host/x.vv"),
        Target::Uri("file://host/x.vv".into())
    );
}

#[test]
fn option_values() {
    assert_eq!(parse_zoom(" 400 "), Ok(400));
    assert!(parse_zoom("9").expect_err("too small").contains("out of range"));
    assert_eq!(parse_keymap(""), Ok(vec![]));
    assert_eq!(
        parse_keymap("a=b+c, d="),
        Ok(vec![
            KeyRemap {
                from: "a".into(),
                to: vec!["b".into(), "c".into()]
            },
            KeyRemap {
                from: "d".into(),
                to: vec![]
            }
        ])
    );
    assert!(parse_keymap("=b").is_err());
    assert!(parse_keymap("a=b c").is_err());
    assert_eq!(Compression::AutoGlz.to_spice(), image_compression::AUTO_GLZ);
    assert_eq!(Compression::Off.to_spice(), image_compression::OFF);
    assert_eq!(Renderer::X11.name(), "x11");
    assert_eq!(MouseModeArg::Server.mode(), MouseMode::Server);
}

#[test]
fn a_uri_with_no_option_keeps_the_defaults() {
    let l = LaunchRequest::default().merge(uri("spice://h:5900"), None);
    assert_eq!(l.connection, uri("spice://h:5900"));
    assert_eq!(l.session.disabled_channels, vec![]);
    assert_eq!(l.session.preferred_compression, None);
    assert_eq!(l.hotkeys, Hotkeys::default());
    assert_eq!(l.release_cursor, None, "nobody asked for a release-cursor hotkey");
    assert!(!l.fullscreen && l.enable_usbredir && !l.enable_smartcard && l.vv.is_none());
}

#[test]
fn options_win_over_the_same_vv_keys() {
    let file = vv(
        "[virt-viewer]\ntype=spice\nhost=h\nport=5900\ntls-port=5901\ntitle=File\n\
                   ca=-----BEGIN CERTIFICATE-----\\nX\\n-----END CERTIFICATE-----\\n\n\
                   host-subject=CN=file\nsecure-channels=main\ndisable-effects=wallpaper\n\
                   usb-filter=-1,-1,-1,-1,1\nenable-usbredir=1\ndisable-channels=playback;usbredir\n",
    );
    let request = LaunchRequest {
        title: Some("CLI".into()),
        mouse_mode: Some(MouseModeArg::Server),
        spice: SpiceOptions {
            ca_file: Some("/ca.pem".into()),
            host_subject: Some("CN=cli".into()),
            secure_channels: Some(SecureChannels::All),
            disable_effects: Some(vec![Effect::Animation]),
            usbredir_auto_redirect_filter: Some("0x03,-1,-1,-1,0".into()),
            disable_usbredir: true,
            disable_audio: true,
            preferred_compression: Some(Compression::Quic),
            ..SpiceOptions::default()
        },
        ..LaunchRequest::default()
    };
    let l = request.merge(file.connection.clone(), Some(file));
    assert_eq!(l.title.as_deref(), Some("CLI"));
    assert_eq!(l.connection.ca, Some(CaSource::File("/ca.pem".into())));
    assert_eq!(l.connection.host_subject.as_deref(), Some("CN=cli"));
    assert_eq!(l.connection.secure_channels, SecureChannels::All);
    assert_eq!(l.connection.mouse_mode, Some(MouseMode::Server));
    assert_eq!(
        l.connection.host.as_deref(),
        Some("h"),
        "the file's keys nobody overrides stay"
    );
    assert_eq!(l.disable_effects, vec![Effect::Animation]);
    assert_eq!(l.usb_filter.as_deref(), Some("0x03,-1,-1,-1,0"));
    assert!(
        !l.enable_usbredir,
        "--spice-disable-usbredir wins over enable-usbredir=1"
    );
    // The file's channels first, then the options' ones, each once.
    assert_eq!(
        l.session.disabled_channels,
        vec![ChannelType::PLAYBACK, ChannelType::USBREDIR, ChannelType::RECORD]
    );
    assert_eq!(l.session.preferred_compression, Some(image_compression::QUIC));
}

#[test]
fn release_cursor_comes_from_the_command_line_or_the_vv_file() {
    let file = vv("[virt-viewer]\ntype=spice\nhost=h\nport=5900\nrelease-cursor=ctrl+alt+r\n");
    let merge = |request: &LaunchRequest, file: Option<&VvFile>| request.merge(uri("spice://h:5900"), file.cloned());
    // The .vv key.
    let l = merge(&LaunchRequest::default(), Some(&file));
    assert_eq!(l.release_cursor, Some(hk("ctrl+alt+r")));
    assert_eq!(l.hotkeys.get(HotkeyAction::ReleaseCursor), Some(&hk("ctrl+alt+r")));
    // -H wins over the file, with or without release-cursor in it.
    let with = LaunchRequest {
        hotkeys: Some(Hotkeys::parse_list("release-cursor=shift+f12").expect("valid")),
        ..LaunchRequest::default()
    };
    assert_eq!(merge(&with, Some(&file)).release_cursor, Some(hk("shift+f12")));
    let without = LaunchRequest {
        hotkeys: Some(Hotkeys::parse_list("zoom-in=ctrl+i").expect("valid")),
        ..LaunchRequest::default()
    };
    let l = merge(&without, Some(&file));
    assert_eq!(l.release_cursor, None);
    assert_eq!(l.hotkeys.get(HotkeyAction::ReleaseCursor), None);
    // Kiosk mode: no hotkey at all.
    let kiosk = LaunchRequest { kiosk: true, ..with };
    let l = merge(&kiosk, Some(&file));
    assert_eq!((l.release_cursor, l.hotkeys.iter().count()), (None, 0));
    assert!(l.fullscreen);
    // A file without the key.
    let plain = vv("[virt-viewer]\ntype=spice\nhost=h\nport=5900\n");
    assert_eq!(merge(&LaunchRequest::default(), Some(&plain)).release_cursor, None);
}

#[test]
fn deprecated_cache_sizes_reach_the_session() {
    let request = LaunchRequest {
        spice: SpiceOptions {
            cache_size: Some(1234),
            glz_window_size: Some(5678),
            ..SpiceOptions::default()
        },
        ..LaunchRequest::default()
    };
    let l = request.merge(uri("spice://h:1"), None);
    assert_eq!((l.session.image_cache_bytes, l.session.glz_window_bytes), (1234, 5678));
}

#[test]
fn resolve_reads_the_target() {
    assert!(LaunchRequest::default().resolve().expect("no target").is_none());
    let request = LaunchRequest {
        target: Some(Target::Uri("spice://h:5900".into())),
        ..LaunchRequest::default()
    };
    let l = request.resolve().expect("valid").expect("a target");
    assert_eq!(l.connection.port, Some(5900));
    let bad = LaunchRequest {
        target: Some(Target::Uri("spice://h".into())),
        ..LaunchRequest::default()
    };
    assert!(matches!(bad.resolve(), Err(LaunchError::Uri(_))));
    let missing = LaunchRequest {
        target: Some(Target::VvFile("/nonexistent/sumac-test.vv".into())),
        ..LaunchRequest::default()
    };
    let e = missing.resolve().expect_err("no such file");
    assert!(matches!(e, LaunchError::Vv { .. }));
    assert!(e.to_string().contains("sumac-test.vv"), "{e}");
}

#[test]
fn usb_options_come_from_the_options_and_the_vv_file() {
    let file = vv("[virt-viewer]\ntype=spice\nhost=h\nport=5900\nenable-usb-autoshare=1\n\
                   usb-filter=0x08,-1,-1,-1,1|-1,-1,-1,-1,0\n");
    let request = LaunchRequest {
        spice: SpiceOptions {
            usb_disks: vec!["/img/stick.raw,ro".parse().unwrap()],
            ..SpiceOptions::default()
        },
        ..LaunchRequest::default()
    };
    let l = request.merge(file.connection.clone(), Some(file));
    let usb = &l.session.usb;
    assert!(usb.enabled && usb.policy.auto_connect);
    assert_eq!(usb.policy.auto_connect_filter.len(), 2);
    assert_eq!(usb.disks.len(), 1);
    assert!(usb.disks[0].read_only);
    // A filter that does not parse: the default one, auto-connect as the file says.
    let bad = vv("[virt-viewer]\ntype=spice\nhost=h\nport=5900\nenable-usb-autoshare=1\nusb-filter=nonsense\n");
    let l = LaunchRequest::default().merge(bad.connection.clone(), Some(bad));
    assert!(l.session.usb.policy.auto_connect);
    assert_eq!(
        l.session.usb.policy.auto_connect_filter,
        crate::client::usb::UsbPolicy::default().auto_connect_filter
    );
}

#[test]
fn forwarded_command_line_paths_are_made_absolute() {
    use std::path::{Path, PathBuf};
    let mut r = LaunchRequest {
        target: Some(Target::VvFile("vm.vv".into())),
        ..LaunchRequest::default()
    };
    r.spice.ca_file = Some("ca.pem".into());
    r.spice.share_cd = vec!["/abs.iso".into(), "cd.iso".into()];
    r.spice.shared_dir = Some("share".into());
    r.spice.usb_disks = vec!["stick.raw,ro".parse().unwrap()];
    r.relative_to(Path::new("/home/u"));
    assert_eq!(r.target, Some(Target::VvFile("/home/u/vm.vv".into())));
    assert_eq!(r.spice.ca_file, Some(PathBuf::from("/home/u/ca.pem")));
    assert_eq!(
        r.spice.share_cd,
        [PathBuf::from("/abs.iso"), PathBuf::from("/home/u/cd.iso")]
    );
    assert_eq!(r.spice.shared_dir, Some(PathBuf::from("/home/u/share")));
    assert_eq!(r.spice.usb_disks[0].path, PathBuf::from("/home/u/stick.raw"));
    assert!(r.spice.usb_disks[0].read_only);
    // A URI stays as it is.
    let mut r = LaunchRequest {
        target: Some(Target::Uri("spice://h:1".into())),
        ..LaunchRequest::default()
    };
    r.relative_to(Path::new("/x"));
    assert_eq!(r.target, Some(Target::Uri("spice://h:1".into())));
}
