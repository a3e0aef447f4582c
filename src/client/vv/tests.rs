use super::keyfile::{Entry, unescape_str};
use super::*;

const CA_LINE: &str = "-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUTest\\n-----END CERTIFICATE-----\\n";

fn proxmox() -> String {
    format!(
        "[virt-viewer]\n\
         secure-attention=Ctrl+Alt+Ins\n\
         delete-this-file=1\n\
         proxy=http://pve1.example.com:3128\n\
         type=spice\n\
         toggle-fullscreen=Shift+F11\n\
         title=VM 100 - web01\n\
         host=pvespiceproxy:65f9a8b2:100:pve1::0123abcdef\n\
         password=A1b2C3d4\n\
         host-subject=OU=PVE Cluster Node,O=Proxmox Virtual Environment,CN=pve1.example.com\n\
         release-cursor=Ctrl+Alt+R\n\
         tls-port=61000\n\
         ca={CA_LINE}\n"
    )
}

fn ovirt() -> String {
    format!(
        "# written by oVirt engine\r\n\
         [virt-viewer]\r\n\
         type=spice\r\n\
         host=192.0.2.10\r\n\
         port=-1\r\n\
         password=tick3t\r\n\
         # Password is valid for 120 seconds.\r\n\
         delete-this-file=1\r\n\
         fullscreen=0\r\n\
         title=web02:%d - Press SHIFT+F12 to Release Cursor\r\n\
         toggle-fullscreen=shift+f11\r\n\
         release-cursor=shift+f12\r\n\
         smartcard-insert=shift+f9\r\n\
         smartcard-remove=shift+f10\r\n\
         secure-attention=ctrl+alt+end\r\n\
         tls-port=5901\r\n\
         enable-smartcard=0\r\n\
         enable-usb-autoshare=1\r\n\
         usb-filter=-1,-1,-1,-1,0\r\n\
         tls-ciphers=DEFAULT\r\n\
         host-subject=O=example.com,CN=192.0.2.10\r\n\
         ca={CA_LINE}\r\n\
         secure-channels=main;inputs;cursor;playback;record;display;smartcard;usbredir\r\n\
         versions=rhev-win64:2.0-160;rhev-win32:2.0-160;rhel8:7.0-3;rhel7:2.0-6;rhel6:99.0-1\r\n\
         newer-version-url=http://www.ovirt.org/documentation/admin-guide/virt/console-client-resources\r\n\
         disable-effects=wallpaper;animation;\r\n\
         color-depth=24\r\n\
         \r\n\
         [ovirt]\r\n\
         host=engine.example.com:443\r\n\
         vm-guid=2b4a8b0c-1111-2222-3333-444455556666\r\n\
         sso-token=Bearer abc.def\r\n\
         admin=1\r\n\
         ca={CA_LINE}\r\n"
    )
}

#[test]
fn proxmox_style_file() {
    let vv = VvFile::parse(&proxmox()).expect("valid Proxmox file");
    let c = &vv.connection;
    assert_eq!(c.host.as_deref(), Some("pvespiceproxy:65f9a8b2:100:pve1::0123abcdef"));
    assert_eq!(c.tls_port, Some(61000));
    assert_eq!(c.port, None);
    assert_eq!(c.password.as_ref().map(Password::as_str), Some("A1b2C3d4"));
    assert_eq!(c.proxy.as_deref(), Some("http://pve1.example.com:3128"));
    assert_eq!(
        c.host_subject.as_deref(),
        Some("OU=PVE Cluster Node,O=Proxmox Virtual Environment,CN=pve1.example.com")
    );
    let Some(CaSource::Pem(pem)) = &c.ca else {
        panic!("ca not inline: {:?}", c.ca)
    };
    assert_eq!(
        std::str::from_utf8(pem).expect("utf8"),
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTest\n-----END CERTIFICATE-----\n"
    );
    assert!(vv.delete_this_file);
    assert_eq!(vv.title.as_deref(), Some("VM 100 - web01"));
    let hk = |a| {
        vv.hotkeys
            .iter()
            .find(|(x, _)| *x == a)
            .map(|(_, h)| h.to_accelerator())
    };
    assert_eq!(
        hk(HotkeyAction::SecureAttention),
        Some(Some("<Control><Alt>Insert".into()))
    );
    assert_eq!(hk(HotkeyAction::ToggleFullscreen), Some(Some("<Shift>F11".into())));
    assert_eq!(hk(HotkeyAction::ReleaseCursor), Some(Some("<Control><Alt>r".into())));
    assert_eq!(hk(HotkeyAction::ZoomIn), None);
    let mut keys = Hotkeys::default();
    vv.apply_hotkeys(&mut keys);
    assert_eq!(
        keys.get(HotkeyAction::ZoomIn),
        Some(&HotkeyAction::ZoomIn.default_hotkey())
    );
    assert_eq!(
        keys.get(HotkeyAction::SecureAttention)
            .and_then(Hotkey::to_accelerator)
            .as_deref(),
        Some("<Control><Alt>Insert")
    );
    // The password never shows in Debug output.
    assert!(!format!("{vv:?}").contains("A1b2C3d4"));
    // Every channel goes to the TLS port (no plain port known).
    assert_eq!(c.endpoint_for(ChannelType::DISPLAY).map(|e| e.is_tls()), Ok(true));
}

#[test]
fn ovirt_style_file() {
    let vv = VvFile::parse(&ovirt()).expect("valid oVirt file");
    let c = &vv.connection;
    assert_eq!(c.host.as_deref(), Some("192.0.2.10"));
    assert_eq!(c.port, None, "port=-1 means no plain port");
    assert_eq!(c.tls_port, Some(5901));
    assert_eq!(
        c.secure_channels,
        SecureChannels::Only(vec![
            ChannelType::MAIN,
            ChannelType::INPUTS,
            ChannelType::CURSOR,
            ChannelType::PLAYBACK,
            ChannelType::RECORD,
            ChannelType::DISPLAY,
            ChannelType::SMARTCARD,
            ChannelType::USBREDIR,
        ])
    );
    assert_eq!(c.tls_ciphers.as_deref(), Some("DEFAULT"));
    assert_eq!(c.proxy, None);
    assert_eq!(vv.fullscreen, Some(false));
    assert_eq!(
        vv.title.as_deref(),
        Some("web02:%d - Press SHIFT+F12 to Release Cursor")
    );
    assert_eq!(
        title_for_monitor(vv.title.as_deref().unwrap_or_default(), 1),
        "web02:2 - Press SHIFT+F12 to Release Cursor"
    );
    assert_eq!(vv.enable_smartcard, Some(false));
    assert_eq!(vv.enable_usb_autoshare, Some(true));
    assert_eq!(vv.enable_usbredir, None);
    assert_eq!(vv.usb_filter.as_deref(), Some("-1,-1,-1,-1,0"));
    assert_eq!(vv.disable_effects, vec![Effect::Wallpaper, Effect::Animation]);
    assert_eq!(vv.color_depth, Some(24));
    assert_eq!(vv.versions.len(), 5);
    assert_eq!(
        vv.versions.first(),
        Some(&("rhev-win64".to_owned(), "2.0-160".to_owned()))
    );
    assert!(
        vv.newer_version_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://www.ovirt.org/"))
    );
    assert_eq!(vv.hotkeys.len(), 5);
    let o = vv.ovirt.as_ref().expect("[ovirt] group");
    assert_eq!(o.host.as_deref(), Some("engine.example.com:443"));
    assert_eq!(o.vm_guid.as_deref(), Some("2b4a8b0c-1111-2222-3333-444455556666"));
    assert_eq!(o.admin, Some(true));
    assert_eq!(o.sso_token.as_ref().map(Password::as_str), Some("Bearer abc.def"));
    assert!(!format!("{o:?}").contains("abc.def"));
}

#[test]
fn keyfile_syntax_details() {
    let vv = VvFile::parse(
        "\u{feff}# comment\n\
         [other]\nhost=ignored\n\
         [virt-viewer]\n\
           type = spice\n\
         host=first\n\
         port=5900\n\
         title=\\sLeading space\\tand\\\\backslash\n\
         title[de]=Lokalisiert\n\
         x-sumac-extension=whatever\n\
         unknown-key=1\n\
         [virt-viewer]\n\
         host=second\n\
         password=semi;colon pass \n",
    )
    .expect("valid");
    assert_eq!(
        vv.connection.host.as_deref(),
        Some("second"),
        "last value wins, groups merge"
    );
    assert_eq!(vv.title.as_deref(), Some(" Leading space\tand\\backslash"));
    // Trailing spaces of a value are kept (a password may end with one).
    assert_eq!(
        vv.connection.password.as_ref().map(Password::as_str),
        Some("semi;colon pass ")
    );
    assert_eq!(vv.connection.port, Some(5900));
    // Empty proxy means "no proxy" (overrides SPICE_PROXY).
    let vv = VvFile::parse("[virt-viewer]\ntype=spice\nhost=h\nport=1\nproxy=\n").expect("valid");
    assert_eq!(vv.connection.proxy.as_deref(), Some(""));
    // unix-path alone is enough.
    let vv = VvFile::parse("[virt-viewer]\ntype=spice\nunix-path=/run/vm\\s1.sock\n").expect("valid");
    assert_eq!(vv.connection.unix_path, Some(PathBuf::from("/run/vm 1.sock")));
}

fn err(text: &str) -> VvError {
    VvFile::parse(text).expect_err(text)
}

#[test]
fn malformed_files_name_the_key() {
    let base = "[virt-viewer]\ntype=spice\nhost=h\n";
    let e = err(&format!("{base}port=5900\nfullscreen=yes\n"));
    assert!(
        matches!(&e, VvError::BadValue { key, line: 5, .. } if key == "fullscreen"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("`fullscreen`") && e.to_string().contains("line 5"),
        "{e}"
    );

    let e = err(&format!("{base}port=65536\n"));
    assert!(matches!(&e, VvError::BadValue { key, .. } if key == "port"), "{e:?}");
    assert!(e.to_string().contains("out of range"), "{e}");
    let e = err(&format!("{base}tls-port=abc\n"));
    assert!(
        matches!(&e, VvError::BadValue { key, .. } if key == "tls-port"),
        "{e:?}"
    );
    let e = err(&format!("{base}port=-2\n"));
    assert!(matches!(&e, VvError::BadValue { key, .. } if key == "port"), "{e:?}");

    let e = err("[remote]\ntype=spice\nhost=h\nport=1\n");
    assert!(matches!(e, VvError::NoVirtViewerGroup));
    assert!(e.to_string().contains("[virt-viewer]"));

    let e = err("[virt-viewer]\ntype=spice\nport=5900\n");
    assert!(matches!(e, VvError::MissingKey { key: "host" }));
    assert!(e.to_string().contains("`host`"), "{e}");
    let e = err("[virt-viewer]\ntype=spice\nhost=h\n");
    assert!(e.to_string().contains("port"), "{e}");
    let e = err("[virt-viewer]\nhost=h\nport=1\n");
    assert!(matches!(e, VvError::MissingKey { key: "type" }));

    let e = err("[virt-viewer]\ntype=vnc\nhost=h\nport=5900\n");
    assert!(matches!(&e, VvError::UnsupportedType { kind } if kind == "vnc"));
    assert!(e.to_string().contains("not supported"), "{e}");

    let e = err(&format!("{base}port=1\ntoggle-fullscreen=shift+f11+f12\n"));
    assert!(
        matches!(&e, VvError::Hotkey { key, .. } if key == "toggle-fullscreen"),
        "{e:?}"
    );
    let e = err(&format!("{base}port=1\nsecure-channels=main;bogus\n"));
    assert!(
        matches!(&e, VvError::Config { key, .. } if key == "secure-channels"),
        "{e:?}"
    );
    let e = err(&format!("{base}port=1\nca=not a certificate\n"));
    assert!(matches!(&e, VvError::BadValue { key, .. } if key == "ca"), "{e:?}");
    let e = err(&format!("{base}port=1\ntitle=bad\\qescape\n"));
    assert!(
        matches!(&e, VvError::BadEscape { key, line: 5 } if key == "title"),
        "{e:?}"
    );
    let e = err(&format!("{base}port=1\nproxy=socks5://p:1080\n"));
    assert!(matches!(e, VvError::Proxy { line: 5, .. }), "{e:?}");
    let e = err(&format!("{base}port=1\ndisable-effects=wallpaper;sparkles\n"));
    assert!(
        e.to_string().contains("sparkles") && e.to_string().contains("disable-effects"),
        "{e}"
    );
    let e = err(&format!(
        "{base}port=1\nversion=99.0\nnewer-version-url=https://example.org/get\n"
    ));
    assert!(matches!(e, VvError::TooNew { .. }));
    assert!(
        e.to_string().contains("99.0") && e.to_string().contains("https://example.org/get"),
        "{e}"
    );
    assert!(VvFile::parse(&format!("{base}port=1\nversion=8.0\n")).is_ok());
    assert!(VvFile::parse(&format!("{base}port=1\nversion=11.0-1\n")).is_err());
    let e = err(&format!("{base}port=1\nversion=latest\n"));
    assert!(matches!(&e, VvError::BadValue { key, .. } if key == "version"), "{e:?}");
}

#[test]
fn syntax_errors_name_the_line() {
    assert!(matches!(
        err("type=spice\n[virt-viewer]\n"),
        VvError::Syntax { line: 1, .. }
    ));
    assert!(matches!(
        err("[virt-viewer]\ntype=spice\njust words\n"),
        VvError::Syntax { line: 3, .. }
    ));
    assert!(matches!(
        err("[virt-viewer\ntype=spice\n"),
        VvError::Syntax { line: 1, .. }
    ));
    assert!(matches!(
        err("[virt-viewer]\n=spice\n"),
        VvError::Syntax { line: 2, .. }
    ));
    assert!(matches!(
        err("[virt-viewer]\ntype=sp\0ice\n"),
        VvError::Syntax { line: 2, .. }
    ));
    let bytes = b"[virt-viewer]\ntype=spice\nhost=\xff\n";
    assert!(matches!(KeyFile::parse(bytes), Err(VvError::NotUtf8 { line: 3 })));
}

#[test]
fn lists_and_escapes() {
    let e = Entry {
        key: "k".into(),
        value: "a;b\\;c;\\sd;;".into(),
        line: 1,
    };
    assert_eq!(parse_list(&e).expect("valid"), vec!["a", "b;c", " d"]);
    assert_eq!(unescape_str("x\\ny\\\\n"), Some("x\ny\\n".into()));
    assert_eq!(unescape_str("end\\"), None);
    assert_eq!(parse_version("11.0"), parse_version("11"));
    assert!(parse_version("7.0-3") > parse_version("7.0"));
    assert!(parse_version("2.0-160") < parse_version("11.0"));
}

#[test]
fn delete_this_file_and_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxmox.vv");
    std::fs::write(&path, proxmox()).expect("write");
    let vv = VvFile::load_with(&VvSource::Path(path.clone()), true).expect("valid");
    assert!(vv.delete_this_file);
    assert!(path.exists(), "kept when VIRT_VIEWER_KEEP_FILE is set");
    VvFile::load_with(&VvSource::Path(path.clone()), false).expect("valid");
    assert!(!path.exists(), "deleted after reading");

    // Deleted even when a later key is bad (the password must not stay on disk).
    std::fs::write(
        &path,
        "[virt-viewer]\ntype=spice\ndelete-this-file=1\nhost=h\nport=99999\n",
    )
    .expect("write");
    assert!(VvFile::load_with(&VvSource::Path(path.clone()), false).is_err());
    assert!(!path.exists());

    // Without the key the file stays.
    std::fs::write(&path, "[virt-viewer]\ntype=spice\nhost=h\nport=1\n").expect("write");
    VvFile::load_with(&VvSource::Path(path.clone()), false).expect("valid");
    assert!(path.exists());
}

#[test]
fn size_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.vv");
    let mut text = String::from("[virt-viewer]\ntype=spice\nhost=h\nport=1\n");
    text.push_str(&"# padding\n".repeat((MAX_VV_BYTES / 10) as usize + 1));
    std::fs::write(&path, text).expect("write");
    let e = VvFile::load_with(&VvSource::Path(path), true).expect_err("too large");
    assert!(matches!(e, VvError::TooLarge { .. }), "{e:?}");
    let e = VvFile::load_with(&VvSource::Path(dir.path().join("missing.vv")), true).expect_err("missing");
    assert!(e.to_string().contains("missing.vv"), "{e}");
}
