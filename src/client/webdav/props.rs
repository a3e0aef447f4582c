//! Dead WebDAV properties (PROPPATCH) of the shared folder, in memory for the
//! session: per path, a map from (namespace, name) to the property's XML.
//! Bounded: at most [`MAX_PROPS`] properties and [`MAX_BYTES`] of names and
//! values in all; a PROPPATCH beyond that gets 507 for what does not fit.
//! Moves, copies and deletes carry or drop a path's properties and those of
//! everything under it.

use std::collections::{BTreeMap, HashMap};

use dav_server::fs::DavProp;
use http::StatusCode;

/// Most properties held.
pub(crate) const MAX_PROPS: usize = 10_000;
/// Most bytes of property names and values held.
pub(crate) const MAX_BYTES: usize = 4 << 20;

type Key = (String, String);

#[derive(Debug, Default)]
pub(crate) struct PropStore {
    paths: HashMap<String, BTreeMap<Key, DavProp>>,
    count: usize,
    bytes: usize,
}

fn key(p: &DavProp) -> Key {
    (p.namespace.clone().unwrap_or_default(), p.name.clone())
}

fn cost(p: &DavProp) -> usize {
    p.name
        .len()
        .saturating_add(p.namespace.as_ref().map_or(0, String::len))
        .saturating_add(p.prefix.as_ref().map_or(0, String::len))
        .saturating_add(p.xml.as_ref().map_or(0, Vec::len))
}

fn without_value(p: &DavProp) -> DavProp {
    DavProp { xml: None, ..p.clone() }
}

/// `path` itself or something under it.
fn under(candidate: &str, path: &str) -> bool {
    candidate == path
        || (candidate.starts_with(path) && (path.ends_with('/') || candidate.as_bytes().get(path.len()) == Some(&b'/')))
}

impl PropStore {
    pub(crate) fn patch(&mut self, path: &str, patch: Vec<(bool, DavProp)>) -> Vec<(StatusCode, DavProp)> {
        let mut res = Vec::with_capacity(patch.len());
        for (set, p) in patch {
            let k = key(&p);
            let old = self.paths.get_mut(path).and_then(|m| m.remove(&k));
            if let Some(old) = &old {
                self.count = self.count.saturating_sub(1);
                self.bytes = self.bytes.saturating_sub(cost(old));
            }
            if !set {
                res.push((StatusCode::OK, without_value(&p)));
                continue;
            }
            let c = cost(&p);
            if self.count >= MAX_PROPS || self.bytes.saturating_add(c) > MAX_BYTES {
                // Put the old value back: a failed set changes nothing.
                if let Some(old) = old {
                    self.count = self.count.saturating_add(1);
                    self.bytes = self.bytes.saturating_add(cost(&old));
                    self.paths.entry(path.to_owned()).or_default().insert(k, old);
                }
                res.push((StatusCode::INSUFFICIENT_STORAGE, without_value(&p)));
                continue;
            }
            self.count = self.count.saturating_add(1);
            self.bytes = self.bytes.saturating_add(c);
            res.push((StatusCode::OK, without_value(&p)));
            self.paths.entry(path.to_owned()).or_default().insert(k, p);
        }
        self.paths.retain(|_, m| !m.is_empty());
        res
    }

    pub(crate) fn get_all(&self, path: &str, with_values: bool) -> Vec<DavProp> {
        self.paths
            .get(path)
            .map(|m| {
                m.values()
                    .map(|p| if with_values { p.clone() } else { without_value(p) })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, path: &str, prop: &DavProp) -> Option<Vec<u8>> {
        self.paths.get(path)?.get(&key(prop))?.xml.clone()
    }

    /// Drops the properties of `path` and everything under it.
    pub(crate) fn remove(&mut self, path: &str) {
        let gone: Vec<String> = self.paths.keys().filter(|k| under(k, path)).cloned().collect();
        for k in gone {
            if let Some(m) = self.paths.remove(&k) {
                self.count = self.count.saturating_sub(m.len());
                self.bytes = self.bytes.saturating_sub(m.values().map(cost).sum());
            }
        }
    }

    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        self.remove(to);
        let moved: Vec<String> = self.paths.keys().filter(|k| under(k, from)).cloned().collect();
        for k in moved {
            if let Some(m) = self.paths.remove(&k) {
                let rest = k.get(from.len()..).unwrap_or_default();
                self.paths.insert(format!("{to}{rest}"), m);
            }
        }
    }

    /// Copies the properties of `from` (only that path: dav-server copies a
    /// tree one entry at a time) onto `to`, within the bounds.
    pub(crate) fn copy(&mut self, from: &str, to: &str) {
        self.remove(to);
        let Some(m) = self.paths.get(from).cloned() else { return };
        let c: usize = m.values().map(cost).sum();
        if self.count.saturating_add(m.len()) > MAX_PROPS || self.bytes.saturating_add(c) > MAX_BYTES {
            return;
        }
        self.count = self.count.saturating_add(m.len());
        self.bytes = self.bytes.saturating_add(c);
        self.paths.insert(to.to_owned(), m);
    }

    #[cfg(test)]
    pub(crate) fn totals(&self) -> (usize, usize) {
        (self.count, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, value: &str) -> DavProp {
        DavProp {
            name: name.into(),
            prefix: Some("z".into()),
            namespace: Some("http://example.com/ns".into()),
            xml: Some(value.as_bytes().to_vec()),
        }
    }

    #[test]
    fn set_get_move_copy_remove() {
        let mut s = PropStore::default();
        let r = s.patch("/a", vec![(true, prop("p", "<z:p>1</z:p>")), (true, prop("q", "2"))]);
        assert!(r.iter().all(|(st, p)| *st == StatusCode::OK && p.xml.is_none()));
        assert_eq!(s.get("/a", &prop("p", "")), Some(b"<z:p>1</z:p>".to_vec()));
        assert_eq!(s.get_all("/a", false).len(), 2);
        s.patch("/a/child", vec![(true, prop("c", "3"))]);
        s.rename("/a", "/b");
        assert!(s.get_all("/a", true).is_empty());
        assert_eq!(s.get("/b/child", &prop("c", "")), Some(b"3".to_vec()));
        s.copy("/b", "/c");
        assert_eq!(s.get_all("/c", true).len(), 2);
        s.patch("/c", vec![(false, prop("p", ""))]);
        assert_eq!(s.get_all("/c", true).len(), 1);
        s.remove("/b");
        assert!(s.get_all("/b/child", true).is_empty());
        // "/bx" is not under "/b".
        s.patch("/bx", vec![(true, prop("x", "1"))]);
        s.remove("/b");
        assert_eq!(s.get_all("/bx", true).len(), 1);
        s.remove("/bx");
        s.remove("/c");
        assert_eq!(s.totals(), (0, 0));
    }

    #[test]
    fn the_store_is_bounded() {
        let mut s = PropStore::default();
        let big = "v".repeat(MAX_BYTES / 2);
        assert_eq!(s.patch("/a", vec![(true, prop("p", &big))])[0].0, StatusCode::OK);
        assert_eq!(
            s.patch("/b", vec![(true, prop("p", &big))])[0].0,
            StatusCode::INSUFFICIENT_STORAGE
        );
        // Replacing a value frees the old one first.
        assert_eq!(s.patch("/a", vec![(true, prop("p", &big))])[0].0, StatusCode::OK);
        for i in 0..MAX_PROPS {
            let st = s.patch("/many", vec![(true, prop(&format!("p{i}"), ""))])[0].0;
            if i + 1 >= MAX_PROPS {
                assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE);
            }
        }
        assert!(s.totals().0 <= MAX_PROPS);
    }
}
