//! The `sumac` command line parsed and resolved: remote-viewer's options, the
//! `--spice-*` group, `--help`/`--version`, errors, and the merge with `.vv` files.

use super::*;
use crate::client::agent::DisplayEffects;
use crate::client::config::{CaSource, SecureChannels};
use crate::client::inputs::MouseMode;
use crate::client::launch::{Compression, KeyRemap};
use crate::client::vv::{Effect, Hotkey, HotkeyAction};
use crate::proto::ChannelType;
use crate::proto::channel::display::image_compression;
use std::path::PathBuf;

fn parse_args(args: &[&str]) -> Result<Parsed, CliError> {
    parse(std::iter::once("sumac").chain(args.iter().copied()))
}

fn run(args: &[&str]) -> LaunchRequest {
    match parse_args(args) {
        Ok(Parsed::Run(r)) => r,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn targets() {
    assert_eq!(run(&[]).target, None);
    assert_eq!(run(&["-"]).target, Some(Target::Stdin));
    assert_eq!(
        run(&["spice://h:5900"]).target,
        Some(Target::Uri("spice://h:5900".into()))
    );
    assert_eq!(run(&["vm.vv"]).target, Some(Target::VvFile("vm.vv".into())));
    assert_eq!(
        run(&["file:///home/u/My%20VM.vv"]).target,
        Some(Target::VvFile("/home/u/My VM.vv".into()))
    );
    assert_eq!(
        run(&["--", "-weird.vv"]).target,
        Some(Target::VvFile("-weird.vv".into()))
    );
    let e = parse_args(&["a.vv", "b.vv"]).expect_err("two targets");
    assert!(e.to_string().contains("b.vv"), "{e}");
}

#[test]
fn mouse_mode_option() {
    let r = run(&["--mouse-mode=server", "spice://h:5900"]);
    assert_eq!(r.mouse_mode, Some(MouseModeArg::Server));
    let launch = r.resolve().expect("valid").expect("a target");
    assert_eq!(launch.connection.mouse_mode, Some(MouseMode::Server));
    let r = run(&["--mouse-mode", "client", "spice://h:5900"]);
    let launch = r.resolve().expect("valid").expect("a target");
    assert_eq!(launch.connection.mouse_mode, Some(MouseMode::Client));
    // Not given: the connection keeps the default (client mode when offered).
    let launch = run(&["spice://h:5900"]).resolve().expect("valid").expect("a target");
    assert_eq!(launch.connection.mouse_mode, None);
    let e = parse_args(&["--mouse-mode=tablet", "spice://h:5900"]).expect_err("bad mode");
    assert!(e.to_string().contains("tablet"), "{e}");
}

#[test]
fn remote_viewer_options() {
    let r = run(&[
        "-t",
        "VM %d",
        "-f",
        "-z",
        "150",
        "-k",
        "--kiosk-quit",
        "on-disconnect",
        "--auto-resize=never",
        "-K",
        "Super_L=,1=Shift_L+F1",
        "-v",
        "--renderer",
        "cairo",
        "spice://h:1",
    ]);
    assert_eq!(r.title.as_deref(), Some("VM %d"));
    assert!(r.full_screen && r.kiosk && r.verbose && !r.debug);
    assert_eq!(r.zoom, Some(150));
    assert_eq!(r.kiosk_quit, KioskQuit::OnDisconnect);
    assert_eq!(r.auto_resize, Some(AutoResize::Never));
    assert_eq!(r.renderer, Some(Renderer::Cairo));
    assert_eq!(r.mouse_mode, None);
    assert_eq!(
        r.keymap,
        vec![
            KeyRemap {
                from: "Super_L".into(),
                to: vec![]
            },
            KeyRemap {
                from: "1".into(),
                to: vec!["Shift_L".into(), "F1".into()]
            },
        ]
    );
    assert_eq!(r.log_filter(), "sumac=info,warn");

    let r = run(&[
        "--title=T",
        "--full-screen",
        "--zoom=10",
        "--kiosk",
        "--debug",
        "--keymap",
        "a=b",
    ]);
    assert_eq!(r.title.as_deref(), Some("T"));
    assert_eq!(r.zoom, Some(10));
    assert!(r.full_screen && r.kiosk && r.debug);
    assert_eq!(r.kiosk_quit, KioskQuit::Never);
    assert_eq!(r.log_filter(), "sumac=debug,info");
    assert!(run(&["--spice-debug"]).debug);

    let r = run(&["-H", "toggle-fullscreen=shift+f11,release-cursor=ctrl+alt"]);
    let h = r.hotkeys.expect("hotkeys");
    assert_eq!(
        h.get(HotkeyAction::ToggleFullscreen),
        Some(&Hotkey::parse("shift+f11").expect("valid"))
    );
    assert_eq!(h.get(HotkeyAction::ZoomIn), None);
    assert_eq!(
        run(&["--hotkeys=zoom-in=ctrl+i"]).hotkeys.map(|h| h.iter().count()),
        Some(1)
    );
}

#[test]
fn spice_options() {
    let r = run(&[
        "--spice-secure-channels=main,display",
        "--spice-disable-effects",
        "wallpaper,animation",
        "--spice-ca-file",
        "/tmp/ca.pem",
        "--spice-host-subject=C=XX,O=Org,CN=host",
        "--spice-disable-audio",
        "--spice-smartcard",
        "--spice-smartcard-certificates=a,b,c",
        "--spice-smartcard-db=/db",
        "--spice-disable-usbredir",
        "--spice-usbredir-auto-redirect-filter=0x03,-1,-1,-1,0|-1,-1,-1,-1,1",
        "--spice-usbredir-redirect-on-connect=-1,0x1234,-1,-1,1",
        "--spice-share-cd=/a.iso",
        "--spice-share-cd=/b.iso",
        "--spice-shared-dir=/home/u/share",
        "--spice-preferred-compression=lz4",
        "--spice-color-depth=16",
        "--spice-cache-size=1000000",
        "--spice-glz-window-size=2000000",
        "spice://h?port=1&tls-port=2",
    ]);
    let s = &r.spice;
    assert_eq!(
        s.secure_channels,
        Some(SecureChannels::Only(vec![ChannelType::MAIN, ChannelType::DISPLAY]))
    );
    assert_eq!(s.disable_effects, Some(vec![Effect::Wallpaper, Effect::Animation]));
    assert_eq!(s.ca_file, Some(PathBuf::from("/tmp/ca.pem")));
    assert_eq!(s.host_subject.as_deref(), Some("C=XX,O=Org,CN=host"));
    assert!(s.disable_audio && s.smartcard && s.disable_usbredir);
    assert_eq!(s.smartcard_certificates.as_deref(), Some("a,b,c"));
    assert_eq!(s.smartcard_db.as_deref(), Some("/db"));
    assert_eq!(
        s.usbredir_auto_redirect_filter.as_deref(),
        Some("0x03,-1,-1,-1,0|-1,-1,-1,-1,1")
    );
    assert_eq!(s.usbredir_redirect_on_connect.as_deref(), Some("-1,0x1234,-1,-1,1"));
    assert_eq!(s.share_cd, vec![PathBuf::from("/a.iso"), PathBuf::from("/b.iso")]);
    assert_eq!(s.shared_dir, Some(PathBuf::from("/home/u/share")));
    assert_eq!(s.preferred_compression, Some(Compression::Lz4));
    assert_eq!(s.color_depth, Some(16));

    let launch = r.resolve().expect("valid").expect("a target");
    let c = &launch.connection;
    assert_eq!(c.ca, Some(CaSource::File("/tmp/ca.pem".into())));
    assert_eq!(c.host_subject.as_deref(), Some("C=XX,O=Org,CN=host"));
    assert_eq!(c.endpoint_for(ChannelType::MAIN).map(|e| e.is_tls()), Ok(true));
    // TLS first: with a TLS port known, channels outside secure-channels use it too.
    assert_eq!(c.endpoint_for(ChannelType::INPUTS).map(|e| e.is_tls()), Ok(true));
    assert_eq!(c.plain_endpoint_for(ChannelType::INPUTS).map(|e| e.is_tls()), Ok(false));
    assert!(c.plain_endpoint_for(ChannelType::MAIN).is_err());
    assert_eq!(launch.session.preferred_compression, Some(image_compression::LZ4));
    assert_eq!(
        launch.session.disabled_channels,
        vec![ChannelType::PLAYBACK, ChannelType::RECORD, ChannelType::USBREDIR]
    );
    assert_eq!(launch.session.image_cache_bytes, 1_000_000);
    assert_eq!(launch.session.glz_window_bytes, 2_000_000);
    assert!(!launch.enable_usbredir && launch.enable_smartcard);
    assert_eq!(launch.hotkeys, Hotkeys::default());
}

#[test]
fn bad_values_and_unknown_options() {
    let e = parse_args(&["--frobnicate"]).expect_err("unknown");
    assert!(e.is_unknown_option());
    assert!(e.to_string().contains("--frobnicate"), "{e}");
    assert!(e.to_string().contains("--help"), "{e}");
    assert!(e.help().contains("--full-screen") && e.help().contains("--spice-ca-file"));
    assert_eq!(e.exit_code(), 1);

    for (args, needle) in [
        (&["-z", "5"][..], "out of range"),
        (&["-z", "abc"][..], "not a number"),
        (&["--kiosk-quit", "sometimes"][..], "sometimes"),
        (&["-H", "fullscreen=f11"][..], "unknown hotkey action"),
        (&["--spice-secure-channels", "main,bogus"][..], "bogus"),
        (&["--spice-disable-effects", "sparkles"][..], "sparkles"),
        (&["--spice-preferred-compression", "zstd"][..], "zstd"),
        (&["-K", "a"][..], "key=key"),
        (&["-t"][..], "TITLE"),
    ] {
        let e = parse_args(args).expect_err(needle);
        assert!(!e.is_unknown_option());
        assert!(e.to_string().contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn help_and_version() {
    let Ok(Parsed::Exit(help)) = parse_args(&["--help"]) else {
        panic!("--help")
    };
    for opt in [
        "--title",
        "--full-screen",
        "--zoom",
        "--hotkeys",
        "--kiosk",
        "--kiosk-quit",
        "--auto-resize",
        "--keymap",
        "--verbose",
        "--debug",
        "--version",
        "--spice-ca-file",
        "--spice-host-subject",
        "--spice-secure-channels",
        "--spice-disable-effects",
        "--spice-preferred-compression",
        "--spice-disable-audio",
        "--spice-disable-usbredir",
        "--spice-usbredir-auto-redirect-filter",
        "--spice-shared-dir",
        "--spice-debug",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
    assert_eq!(help, help_text());
    let Ok(Parsed::Exit(v)) = parse_args(&["-V"]) else {
        panic!("-V")
    };
    assert_eq!(v, format!("sumac {}\n", env!("CARGO_PKG_VERSION")));
    assert!(matches!(parse_args(&["--version"]), Ok(Parsed::Exit(t)) if t == v));
    assert!(matches!(parse_args(&["--spice-gtk-version"]), Ok(Parsed::Exit(t)) if t.contains("SPICE protocol 2.")));
}

fn write_vv(dir: &std::path::Path, text: &str) -> PathBuf {
    let path = dir.join("vm.vv");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn vv_and_options_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_vv(
        dir.path(),
        "[virt-viewer]\ntype=spice\nhost=h\ntls-port=5901\ntitle=From file %d\nfullscreen=1\n\
         release-cursor=ctrl+alt\nsecure-attention=ctrl+alt+ins\ndisable-channels=playback\n\
         disable-effects=wallpaper\nusb-filter=-1,-1,-1,-1,1\nenable-usb-autoshare=1\n",
    );
    let p = path.to_string_lossy().into_owned();
    let l = run(&[&p]).resolve().expect("valid").expect("target");
    assert_eq!(l.title.as_deref(), Some("From file %d"));
    assert!(l.fullscreen);
    assert_eq!(l.connection.tls_port, Some(5901));
    assert_eq!(
        l.hotkeys
            .get(HotkeyAction::SecureAttention)
            .and_then(Hotkey::to_accelerator)
            .as_deref(),
        Some("<Control><Alt>Insert")
    );
    assert_eq!(
        l.hotkeys.get(HotkeyAction::ZoomIn),
        Some(&HotkeyAction::ZoomIn.default_hotkey())
    );
    assert_eq!(l.session.disabled_channels, vec![ChannelType::PLAYBACK]);
    assert_eq!(l.disable_effects, vec![Effect::Wallpaper]);
    assert!(l.usb_autoshare && l.enable_usbredir);
    assert_eq!(l.usb_filter.as_deref(), Some("-1,-1,-1,-1,1"));
    assert!(l.vv.is_some());

    // Options win over the file; -H replaces the file's hotkeys; kiosk drops them all.
    let l = run(&[
        "-t",
        "CLI",
        "-H",
        "zoom-in=ctrl+i",
        "--spice-host-subject",
        "CN=x",
        "--spice-disable-effects=all",
        &p,
    ])
    .resolve()
    .expect("valid")
    .expect("target");
    assert_eq!(l.title.as_deref(), Some("CLI"));
    assert_eq!(l.hotkeys.iter().count(), 1);
    assert_eq!(l.connection.host_subject.as_deref(), Some("CN=x"));
    assert_eq!(l.disable_effects, vec![Effect::All]);
    // The effects reach the agent options (DISPLAY_CONFIG).
    assert_eq!(
        l.session.agent.display,
        DisplayEffects {
            disable_wallpaper: true,
            disable_font_smooth: true,
            disable_animation: true,
            color_depth: None
        }
    );
    let l = run(&["--spice-color-depth=16", "--spice-disable-effects=animation", &p])
        .resolve()
        .expect("valid")
        .expect("target");
    assert_eq!(
        l.session.agent.display,
        DisplayEffects {
            disable_animation: true,
            color_depth: Some(16),
            ..DisplayEffects::default()
        }
    );
    let l = run(&["-k", &p]).resolve().expect("valid").expect("target");
    assert_eq!(l.hotkeys.iter().count(), 0);
    assert!(l.fullscreen);

    // A bad file is an error naming the key; no target is Ok(None).
    let bad = write_vv(dir.path(), "[virt-viewer]\ntype=spice\nhost=h\nport=70000\n");
    let e = run(&[&bad.to_string_lossy()]).resolve().expect_err("bad port");
    assert!(e.to_string().contains("`port`"), "{e}");
    assert!(run(&[]).resolve().expect("nothing").is_none());
    let e = run(&["vnc://h:5900"]).resolve().expect_err("vnc");
    assert!(e.to_string().contains("vnc"), "{e}");
}

#[test]
fn usb_options_reach_the_session() {
    let r = run(&[
        "--usb-disk=/tmp/a.img,ro",
        "--usb-disk",
        "/tmp/b.img",
        "--spice-usbredir-redirect-on-connect=-1,0x1234,-1,-1,1",
        "--spice-usbredir-auto-redirect-filter=0x08,-1,-1,-1,1|-1,-1,-1,-1,0",
        "spice://h:5900",
    ]);
    let launch = r.resolve().unwrap().unwrap();
    let usb = &launch.session.usb;
    assert!(usb.enabled);
    assert_eq!(usb.disks.len(), 2);
    assert_eq!(usb.disks[0].path, PathBuf::from("/tmp/a.img"));
    assert!(usb.disks[0].read_only && !usb.disks[1].read_only);
    assert_eq!(usb.policy.redirect_on_connect.as_ref().map(Vec::len), Some(1));
    assert_eq!(usb.policy.auto_connect_filter.len(), 2);
    assert!(!usb.policy.auto_connect);
    let off = run(&["--spice-disable-usbredir", "spice://h:5900"])
        .resolve()
        .unwrap()
        .unwrap();
    assert!(!off.session.usb.enabled);
}
