//! Translations of the GTK layer (gettext, text domain [`DOMAIN`]).
//!
//! Mark every user-visible string with [`gettext`], [`gettext_f`],
//! [`ngettext`] or [`ngettext_f`] called **directly on a plain string
//! literal** (no `format!`, no raw strings, no constants): `po/update-pot`
//! extracts the msgids from those calls, and the files holding them must be
//! listed in `po/POTFILES.in` (`scripts/check-po` checks both).
//! Placeholders are `{name}`, filled by [`gettext_f`], so translators can
//! move them: `gettext_f("Connecting to {host}…", &[("host", host)])`.
//!
//! # Locale
//!
//! gettext translates only once the process locale is set
//! (`setlocale(LC_ALL, "")`), and gettext-rs 0.8 made `setlocale` unsafe.
//! The crate does not call it: GTK does, in `gtk::init()` and in
//! `GtkApplication`'s startup (so never call `gtk::disable_setlocale`).
//! Strings translated before that come back untranslated. With no locale
//! generated on the machine (fresh Debian and CI: `locale -a` is `C`,
//! `C.utf8`, `POSIX`), `LANG=C.UTF-8 LANGUAGE=fr` selects French: glibc
//! ignores `LANGUAGE` only in the plain `C`/`POSIX` locale.

use std::path::{Path, PathBuf};

/// The gettext text domain: the `.mo` files are `<localedir>/<lang>/LC_MESSAGES/sumac.mo`.
pub const DOMAIN: &str = "sumac";

/// Error of [`init`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum I18nError {
    /// `bindtextdomain`, `bind_textdomain_codeset` or `textdomain` failed.
    #[error("cannot set up the gettext domain {domain} in {localedir}: {source}")]
    Bind {
        /// The text domain.
        domain: &'static str,
        /// The locale directory.
        localedir: String,
        /// What libintl said.
        source: std::io::Error,
    },
}

/// Where the `.mo` files are: `$SUMAC_LOCALEDIR` at run time, else
/// `SUMAC_LOCALEDIR` at build time (the Flatpak manifest sets it), else
/// `<prefix>/share/locale` next to the executable's `<prefix>/bin` when that
/// exists, else `/usr/share/locale`.
pub fn default_localedir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SUMAC_LOCALEDIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = option_env!("SUMAC_LOCALEDIR") {
        return PathBuf::from(dir);
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/locale")))
        .filter(|dir| dir.is_dir());
    beside_exe.unwrap_or_else(|| PathBuf::from("/usr/share/locale"))
}

/// Binds the [`DOMAIN`] text domain to `localedir` (UTF-8 output) and makes
/// it the default domain, also for GtkBuilder's `translatable="yes"`.
/// Call once at start-up, e.g. `i18n::init(&i18n::default_localedir())`.
pub fn init(localedir: &Path) -> Result<(), I18nError> {
    let error = |source| I18nError::Bind {
        domain: DOMAIN,
        localedir: localedir.display().to_string(),
        source,
    };
    gettextrs::bindtextdomain(DOMAIN, localedir).map_err(error)?;
    gettextrs::bind_textdomain_codeset(DOMAIN, "UTF-8").map_err(error)?;
    gettextrs::textdomain(DOMAIN).map_err(error)?;
    tracing::debug!(localedir = %localedir.display(), domain = DOMAIN, "gettext domain bound");
    Ok(())
}

/// Translates `msgid`.
pub fn gettext(msgid: &str) -> String {
    gettextrs::dgettext(DOMAIN, msgid)
}

/// Translates `msgid` (singular) or `msgid_plural` according to `n`.
pub fn ngettext(msgid: &str, msgid_plural: &str, n: u32) -> String {
    gettextrs::dngettext(DOMAIN, msgid, msgid_plural, n)
}

/// Translates `msgid`, then replaces each `{name}` with its value from `args`.
/// Unknown placeholders stay as they are; values are inserted verbatim (a
/// value containing `{other}` is not substituted again).
pub fn gettext_f(msgid: &str, args: &[(&str, &str)]) -> String {
    fill(&gettext(msgid), args)
}

/// [`ngettext`] then the placeholder substitution of [`gettext_f`]; `{n}` is
/// not filled automatically: pass it in `args`.
pub fn ngettext_f(msgid: &str, msgid_plural: &str, n: u32, args: &[(&str, &str)]) -> String {
    fill(&ngettext(msgid, msgid_plural, n), args)
}

/// Replaces `{name}` placeholders in one left-to-right pass.
fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from_brace) = rest.split_at(open);
        out.push_str(before);
        let after_brace = from_brace.get(1..).unwrap_or("");
        let value = after_brace.find('}').and_then(|close| {
            let name = after_brace.get(..close)?;
            let value = args.iter().find(|(key, _)| *key == name)?.1;
            Some((value, after_brace.get(close + 1..)?))
        });
        match value {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('{');
                rest = after_brace;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            fill("Connecting to {host}:{port}…", &[("host", "h"), ("port", "5900")]),
            "Connecting to h:5900…"
        );
        assert_eq!(fill("{a}{a}", &[("a", "x")]), "xx");
        assert_eq!(fill("{missing} {a}", &[("a", "x")]), "{missing} x");
        assert_eq!(fill("no braces", &[("a", "x")]), "no braces");
        assert_eq!(fill("open { only", &[]), "open { only");
        assert_eq!(fill("{a", &[("a", "x")]), "{a");
        assert_eq!(fill("}{}{a}", &[("a", "x"), ("", "empty")]), "}emptyx");
        // Values are not substituted again.
        assert_eq!(fill("{a} {b}", &[("a", "{b}"), ("b", "y")]), "{b} y");
        assert_eq!(fill("é{a}ü", &[("a", "ß")]), "éßü");
    }

    #[test]
    fn untranslated_without_catalog() {
        // Called through other names so that po/update-pot does not extract these msgids.
        let (tr, tr_f, ntr, ntr_f) = (gettext, gettext_f, ngettext, ngettext_f);
        // No catalogue has these msgids: they come back unchanged.
        assert_eq!(
            tr("Sumac test string without translation"),
            "Sumac test string without translation"
        );
        assert_eq!(ntr("{n} display", "{n} displays", 1), "{n} display");
        assert_eq!(ntr("{n} display", "{n} displays", 2), "{n} displays");
        assert_eq!(ntr_f("{n} display", "{n} displays", 3, &[("n", "3")]), "3 displays");
        assert_eq!(tr_f("Hello {who}", &[("who", "you")]), "Hello you");
    }

    /// One `msgid`/`msgstr` pair of a `.po` file (single-line entries only).
    fn po_pairs(po: &str) -> Vec<(String, String)> {
        fn unquote(line: &str, key: &str) -> Option<String> {
            let body = line.strip_prefix(key)?.strip_prefix(" \"")?.strip_suffix('"')?;
            let mut out = String::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next()? {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        other => out.push(other),
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        }
        let lines: Vec<&str> = po.lines().collect();
        let mut pairs = Vec::new();
        for (i, window) in lines.windows(2).enumerate() {
            let fuzzy = i > 0 && lines[i - 1].starts_with("#,") && lines[i - 1].contains("fuzzy");
            if let (Some(id), Some(text)) = (unquote(window[0], "msgid"), unquote(window[1], "msgstr"))
                && !id.is_empty()
                && !text.is_empty()
                && !fuzzy
            {
                pairs.push((id, text));
            }
        }
        pairs
    }

    /// The whole pipeline: `po/fr.po` compiled by `msgfmt` into a temporary
    /// locale dir, then a child process with `LC_ALL=C.UTF-8 LANGUAGE=fr`
    /// (no generated locale needed) gets every French string from [`gettext`].
    /// Skips without `msgfmt` (Debian package gettext) unless `CI` is set.
    #[test]
    fn french_catalog_translates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let messages = dir.path().join("fr/LC_MESSAGES");
        std::fs::create_dir_all(&messages).unwrap();
        let status = std::process::Command::new("msgfmt")
            .arg("--check")
            .arg("-o")
            .arg(messages.join(format!("{DOMAIN}.mo")))
            .arg(root.join("po/fr.po"))
            .status();
        match status {
            Ok(status) => assert!(status.success(), "msgfmt failed on po/fr.po"),
            Err(error) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but msgfmt cannot run: {error}"
                );
                eprintln!("skipped: msgfmt not available ({error}); install the Debian package gettext");
                return;
            }
        }
        for (locale, expect) in [("C.UTF-8", "translated"), ("C", "untranslated")] {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "i18n::tests::child_translates",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("SUMAC_I18N_CHILD", dir.path())
                .env("SUMAC_I18N_EXPECT", expect)
                .env("LC_ALL", locale)
                .env("LANGUAGE", "fr")
                .env_remove("LANG")
                .env_remove("DISPLAY")
                .env_remove("WAYLAND_DISPLAY")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("i18n child: checked"),
                "child with LC_ALL={locale} failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// The child process of [`french_catalog_translates`] (which sets its environment).
    #[test]
    #[ignore = "run by french_catalog_translates in a child process"]
    fn child_translates() {
        let localedir = std::env::var_os("SUMAC_I18N_CHILD").expect("SUMAC_I18N_CHILD (run french_catalog_translates)");
        let translated = std::env::var("SUMAC_I18N_EXPECT").unwrap() == "translated";
        // GTK sets the locale from the environment first thing in gtk_init, even
        // when it then finds no display (DISPLAY is removed): that error is expected.
        let _ = gtk::init();
        init(Path::new(&localedir)).unwrap();
        let po = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("po/fr.po")).unwrap();
        let pairs = po_pairs(&po);
        assert!(pairs.len() > 10, "only {} French strings", pairs.len());
        let lookup = gettext;
        for (msgid, msgstr) in &pairs {
            let want = if translated { msgstr } else { msgid };
            assert_eq!(&lookup(msgid), want, "LANGUAGE=fr, translated={translated}");
        }
        if translated {
            // Placeholders survive translation and are filled afterwards.
            let fill_in = gettext_f;
            if pairs.iter().any(|(id, _)| id == "Cannot open {what}: {error}") {
                assert_eq!(
                    fill_in("Cannot open {what}: {error}", &[("what", "a.vv"), ("error", "denied")]),
                    "Impossible d’ouvrir a.vv : denied"
                );
            }
        }
        println!("i18n child: checked {} strings, translated={translated}", pairs.len());
    }
}
