use super::*;

fn head(monitor_id: u32, width: u32, height: u32) -> MonitorHead {
    MonitorHead {
        monitor_id,
        surface_id: 0,
        width,
        height,
        x: 0,
        y: 0,
        flags: 0,
    }
}

#[test]
fn monitors_get_windows() {
    assert_eq!(enabled_monitors(0, &[]), [(0, 0)]);
    assert_eq!(
        enabled_monitors(1, &[head(1, 800, 600), head(0, 1024, 768), head(2, 0, 0)]),
        [(1, 0), (1, 1)]
    );
    assert_eq!(enabled_monitors(0, &[head(3, 0, 600)]), []);
}

#[test]
fn uri_request() {
    let options = LaunchRequest {
        title: Some("T %d".into()),
        zoom: Some(150),
        ..LaunchRequest::default()
    };
    let r = ConnectRequest::from_target(&Target::Uri("spice://h:5900?password=pw".into()), &options).unwrap();
    assert_eq!(r.launch.connection.port, Some(5900));
    assert_eq!(r.launch.title.as_deref(), Some("T %d"));
    assert_eq!(r.zoom, Some(150));
    assert_eq!(r.label, "h:5900");
    assert_eq!(
        r.recent.as_deref(),
        Some("spice://h:5900?password=pw"),
        "sanitized when stored"
    );
    assert!(ConnectRequest::from_target(&Target::Uri("spice://".into()), &options).is_err());
    let e = ConnectRequest::from_target(&Target::VvFile("/nonexistent/x.vv".into()), &options).unwrap_err();
    assert!(e.contains("/nonexistent/x.vv"), "{e}");
}

#[test]
fn vv_request_uses_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.vv");
    std::fs::write(
        &path,
        "[virt-viewer]\ntype=spice\nhost=10.1.2.3\nport=5905\ntitle=Guest %d\nfullscreen=1\ntoggle-fullscreen=shift+f11\n",
    )
    .unwrap();
    let r = ConnectRequest::from_target(&Target::VvFile(path.clone()), &LaunchRequest::default()).unwrap();
    assert_eq!(r.launch.connection.host.as_deref(), Some("10.1.2.3"));
    assert!(r.launch.fullscreen);
    assert_eq!(window_title(r.launch.title.as_deref(), "x", 1, 2), "Guest 2");
    assert_eq!(r.recent.as_deref(), Some(path.display().to_string().as_str()));
    assert_eq!(r.label, "vm.vv");
    let accel = r
        .launch
        .hotkeys
        .get(HotkeyAction::ToggleFullscreen)
        .and_then(|h| h.to_accelerator());
    assert_eq!(accel.as_deref(), Some("<Shift>F11"));
}

#[test]
fn release_hotkey_precedence() {
    let hk = |s: &str| Hotkey::parse(s).unwrap();
    // -H or the .vv file first, whatever the preference.
    assert_eq!(release_hotkey(Some(&hk("ctrl+alt+r")), "shift+f12"), hk("ctrl+alt+r"));
    // Else the preference (modifiers alone are fine for this action).
    assert_eq!(release_hotkey(None, "shift+f12"), hk("shift+f12"));
    assert_eq!(release_hotkey(None, "ctrl+shift"), hk("ctrl+shift"));
    // A broken preference: Shift+F12.
    assert_eq!(release_hotkey(None, "ctrl+nope+x"), hk("shift+f12"));
    assert_eq!(release_hotkey(None, ""), default_release_hotkey());
    assert_eq!(default_release_hotkey(), hk("shift+f12"));
    // What a .vv file says reaches the request.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.vv");
    std::fs::write(
        &path,
        "[virt-viewer]\ntype=spice\nhost=h\nport=5905\nrelease-cursor=shift+f12\n",
    )
    .unwrap();
    let r = ConnectRequest::from_target(&Target::VvFile(path), &LaunchRequest::default()).unwrap();
    assert_eq!(r.launch.release_cursor, Some(hk("shift+f12")));
}
