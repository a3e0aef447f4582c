//! The syntax layer of `.vv` files: GKeyFile groups and `key=value` entries
//! read with a size cap, and the typed readers of one entry's value (string
//! escapes, `;` lists, booleans, integers, ports, version numbers) that name
//! the key and its line when a value is bad.

use std::io::Read;
use std::path::Path;

use super::{MAX_VV_BYTES, VvError};

pub(super) fn read_capped_file(path: &Path) -> Result<Vec<u8>, VvError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| VvError::Io {
        path: name.clone(),
        source,
    })?;
    read_capped(file, &name)
}

pub(super) fn read_capped(reader: impl Read, name: &str) -> Result<Vec<u8>, VvError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_VV_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| VvError::Io {
            path: name.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_VV_BYTES {
        return Err(VvError::TooLarge {
            path: name.to_owned(),
            max: MAX_VV_BYTES,
        });
    }
    Ok(bytes)
}

/// One `key=value` line, value still escaped.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) line: usize,
}

#[derive(Debug)]
struct Group {
    name: String,
    entries: Vec<Entry>,
}

/// The syntax layer: groups of raw entries, in file order.
#[derive(Debug)]
pub(super) struct KeyFile {
    groups: Vec<Group>,
}

impl KeyFile {
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, VvError> {
        // A UTF-8 byte-order mark (Windows tools write one) is skipped.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let line = valid.iter().filter(|b| **b == b'\n').count().saturating_add(1);
                return Err(VvError::NotUtf8 { line });
            }
        };
        let mut groups: Vec<Group> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index.saturating_add(1);
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.contains('\0') {
                return Err(VvError::Syntax {
                    line,
                    reason: "the file contains a NUL byte",
                });
            }
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(inner) = trimmed.strip_prefix('[') {
                let name = inner.trim_end().strip_suffix(']').ok_or(VvError::Syntax {
                    line,
                    reason: "a group line must look like [name]",
                })?;
                if name.is_empty() || name.contains(['[', ']']) || name.chars().any(char::is_control) {
                    return Err(VvError::Syntax {
                        line,
                        reason: "invalid group name",
                    });
                }
                groups.push(Group {
                    name: name.to_owned(),
                    entries: Vec::new(),
                });
                continue;
            }
            let (key, value) = trimmed.split_once('=').ok_or(VvError::Syntax {
                line,
                reason: "expected `key=value`, a [group], a # comment or an empty line",
            })?;
            let key = key.trim_end();
            if key.is_empty() {
                return Err(VvError::Syntax {
                    line,
                    reason: "a line starts with `=`: the key is missing",
                });
            }
            let group = groups.last_mut().ok_or(VvError::Syntax {
                line,
                reason: "a key comes before the first [group]",
            })?;
            group.entries.push(Entry {
                key: key.to_owned(),
                value: value.trim_start().to_owned(),
                line,
            });
        }
        Ok(Self { groups })
    }

    pub(super) fn has_group(&self, name: &str) -> bool {
        self.groups.iter().any(|g| g.name == name)
    }

    pub(super) fn entries<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Entry> {
        self.groups
            .iter()
            .filter(move |g| g.name == group)
            .flat_map(|g| g.entries.iter())
    }

    /// The last value of `key` in `group` (groups of the same name are merged).
    pub(super) fn get<'a>(&'a self, group: &'a str, key: &str) -> Option<&'a Entry> {
        self.entries(group).filter(|e| e.key == key).last()
    }
}

/// GKeyFile string unescaping: `\s \n \t \r \\`.
pub(super) fn unescape(e: &Entry) -> Result<String, VvError> {
    unescape_str(&e.value).ok_or_else(|| VvError::BadEscape {
        key: e.key.clone(),
        line: e.line,
    })
}

pub(super) fn unescape_str(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            's' => ' ',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' => '\\',
            _ => return None,
        });
    }
    Some(out)
}

/// A `;`-separated GKeyFile list; `\;` is a literal `;`, a trailing `;` ends
/// the list, empty items are dropped.
pub(super) fn parse_list(e: &Entry) -> Result<Vec<String>, VvError> {
    let bad = || VvError::BadEscape {
        key: e.key.clone(),
        line: e.line,
    };
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = e.value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next().ok_or_else(bad)? {
                ';' => current.push(';'),
                other => {
                    current.push('\\');
                    current.push(other);
                }
            },
            ';' => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|raw| unescape_str(&raw).ok_or_else(bad))
        .filter(|r| r.as_ref().map_or(true, |s| !s.trim().is_empty()))
        .collect()
}

pub(super) fn opt_string(e: Option<&Entry>) -> Result<Option<String>, VvError> {
    e.map(unescape).transpose()
}

pub(super) fn parse_bool(e: &Entry) -> Result<bool, VvError> {
    match e.value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(VvError::BadValue {
            key: e.key.clone(),
            line: e.line,
            expected: format!("`{}` is not a boolean; use 1 or 0", e.value.trim()),
        }),
    }
}

pub(super) fn parse_int(e: &Entry, min: i64, max: i64) -> Result<i64, VvError> {
    let v = e.value.trim();
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(VvError::BadValue {
            key: e.key.clone(),
            line: e.line,
            expected: format!("{v} is out of range ({min} to {max})"),
        }),
        Err(_) => Err(VvError::BadValue {
            key: e.key.clone(),
            line: e.line,
            expected: format!("`{v}` is not a whole number"),
        }),
    }
}

/// A port: 1 to 65535. `0` and `-1` mean "no such port" (some generators
/// write `port=-1` for TLS-only consoles).
pub(super) fn opt_port(e: Option<&Entry>) -> Result<Option<u16>, VvError> {
    let Some(e) = e else { return Ok(None) };
    let n = parse_int(e, -1, 65535)?;
    Ok(u16::try_from(n).ok().filter(|p| *p != 0))
}

/// `1.2.3`, `7.0-3` → comparable numbers (the build part after `-` counts
/// last). `None` if a part is not a number.
pub(super) fn parse_version(v: &str) -> Option<Vec<u64>> {
    let (main, build) = v.trim().split_once('-').unwrap_or((v.trim(), ""));
    let mut parts = main
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    // Pad so that 11 == 11.0 == 11.0.0 before the build number.
    parts.resize(parts.len().max(4), 0);
    if !build.is_empty() {
        parts.push(build.parse().ok()?);
    }
    Some(parts)
}
