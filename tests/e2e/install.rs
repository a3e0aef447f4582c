//! `scripts/install` (user install from a checkout) into a temporary prefix: the installed files
//! are found the way a desktop finds `~/.local` ones (XDG_DATA_HOME; system data dirs hidden so
//! nothing else answers): a `.vv` file is `application/x-virt-viewer` opened by Sumac's desktop
//! file, the GSettings schema is compiled, and the installed `sumac` speaks French with
//! `LANGUAGE=fr` (its catalogue found next to its executable).

use crate::support::app::SUMAC;
use crate::support::tools::{Tool, require_tools};
use std::path::Path;
use std::process::Command;

const TOOLS: [Tool; 5] = [
    Tool {
        binary: "msgfmt",
        package: "gettext",
    },
    Tool {
        binary: "glib-compile-schemas",
        package: "libglib2.0-bin",
    },
    Tool {
        binary: "gsettings",
        package: "libglib2.0-bin",
    },
    Tool {
        binary: "update-mime-database",
        package: "shared-mime-info",
    },
    Tool {
        binary: "gio",
        package: "libglib2.0-bin",
    },
];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// A command seeing only the installed prefix's data (as a desktop sees ~/.local/share).
fn isolated(program: &str, prefix: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("XDG_DATA_HOME", prefix.join("share"))
        .env("XDG_DATA_DIRS", home.join("no-system-data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("GSETTINGS_BACKEND", "memory")
        .env_remove("GSETTINGS_SCHEMA_DIR");
    cmd
}

#[test]
fn scripts_install_sets_up_vv_files_settings_and_translations() {
    let Some(()) = require_tools(&TOOLS) else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = tempfile::tempdir().unwrap();
    let prefix = home.path().join("local");
    let bin_dir = Path::new(SUMAC).parent().unwrap();
    run(Command::new(root.join("scripts/install"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--bin-dir")
        .arg(bin_dir));

    for f in [
        "bin/sumac",
        "bin/sumac-cli",
        "share/locale/fr/LC_MESSAGES/sumac.mo",
        "share/glib-2.0/schemas/gschemas.compiled",
        "share/icons/hicolor/scalable/apps/io.github.sumac.Sumac.svg",
        "share/metainfo/io.github.sumac.Sumac.metainfo.xml",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }
    let desktop = std::fs::read_to_string(prefix.join("share/applications/io.github.sumac.Sumac.desktop")).unwrap();
    let exec = format!("Exec={} %u", prefix.join("bin/sumac").display());
    assert!(desktop.lines().any(|l| l == exec), "{desktop}");

    // A .vv file is recognised and opened by the installed desktop file.
    let vv = home.path().join("vm.vv");
    std::fs::write(&vv, "[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport=5900\n").unwrap();
    let info = run(isolated("gio", &prefix, home.path())
        .args(["info", "-a", "standard::content-type"])
        .arg(&vv));
    assert!(info.contains("application/x-virt-viewer"), "{info}");
    let mime = run(isolated("gio", &prefix, home.path()).args(["mime", "application/x-virt-viewer"]));
    assert!(
        mime.contains("Default application for “application/x-virt-viewer”: io.github.sumac.Sumac.desktop"),
        "{mime}"
    );

    // The compiled schema is found without GSETTINGS_SCHEMA_DIR.
    let keys = run(isolated("gsettings", &prefix, home.path()).args(["list-keys", "io.github.sumac.Sumac"]));
    assert!(keys.lines().any(|k| k == "recent-connections"), "{keys}");

    // The installed binary finds its French catalogue (no display: its start-up error).
    let out = isolated(prefix.join("bin/sumac").to_str().unwrap(), &prefix, home.path())
        .env("LANG", "C.UTF-8")
        .env("LANGUAGE", "fr")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("SUMAC_LOCALEDIR")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg(&vv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("impossible d’initialiser GTK"), "{stderr}");

    run(Command::new(root.join("scripts/install"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--uninstall"));
    assert!(!prefix.join("bin/sumac").exists());
    assert!(!prefix.join("share/applications/io.github.sumac.Sumac.desktop").exists());
}
