//! The recent-connections list of the connect window (pure list logic; the
//! storage is [`super::settings::Prefs`]).

/// How many entries the list keeps.
pub const MAX_RECENT: usize = 10;

/// Longest entry kept (a path or a URI); longer ones are not remembered.
const MAX_ENTRY_LEN: usize = 4096;

/// Removes secrets from an address before it is stored: the `password` query
/// parameter of a `spice://` URI. `.vv` paths and URIs without a password are
/// returned unchanged (trimmed).
pub fn sanitize(address: &str) -> String {
    let address = address.trim();
    let Some((base, query)) = address.split_once('?') else {
        return address.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| {
            let key = kv.split_once('=').map_or(*kv, |(k, _)| k);
            !key.eq_ignore_ascii_case("password") && !kv.is_empty()
        })
        .collect();
    let mut out = base.to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Puts `address` (sanitized) first in `list`, drops its older copy and keeps
/// at most [`MAX_RECENT`] entries. Returns whether the list changed.
pub fn push(list: &mut Vec<String>, address: &str) -> bool {
    let entry = sanitize(address);
    if entry.is_empty() || entry.len() > MAX_ENTRY_LEN || entry.contains('\n') {
        return false;
    }
    if list.first() == Some(&entry) {
        return false;
    }
    list.retain(|e| e != &entry);
    list.insert(0, entry);
    list.truncate(MAX_RECENT);
    true
}

/// Cleans a list read from storage (hand-edited files, other versions):
/// drops empty, over-long and duplicate entries and caps the length.
pub fn normalize(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in list {
        let e = sanitize(&e);
        if e.is_empty() || e.len() > MAX_ENTRY_LEN || out.contains(&e) {
            continue;
        }
        out.push(e);
        if out.len() == MAX_RECENT {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_stored() {
        assert_eq!(sanitize("spice://h:5900?password=s3cret"), "spice://h:5900");
        assert_eq!(
            sanitize(" spice://h?tls-port=5901&Password=x&port=5900#frag "),
            "spice://h?tls-port=5901&port=5900#frag"
        );
        assert_eq!(sanitize("/home/u/vm.vv"), "/home/u/vm.vv");
    }

    #[test]
    fn push_moves_to_front_and_caps() {
        let mut list = Vec::new();
        for i in 0..15 {
            assert!(push(&mut list, &format!("spice://h:{}", 5900 + i)));
        }
        assert_eq!(list.len(), MAX_RECENT);
        assert_eq!(list[0], "spice://h:5914");
        assert_eq!(list[9], "spice://h:5905");
        assert!(push(&mut list, "spice://h:5910?password=x"));
        assert_eq!(list[0], "spice://h:5910");
        assert_eq!(list.iter().filter(|e| *e == "spice://h:5910").count(), 1);
        assert_eq!(list.len(), MAX_RECENT);
        assert!(!push(&mut list, "spice://h:5910"), "already first");
        assert!(!push(&mut list, "   "));
        assert!(!push(&mut list, "a\nb"));
    }

    #[test]
    fn normalize_cleans_stored_lists() {
        let stored = vec![
            "a".to_owned(),
            String::new(),
            "a".to_owned(),
            "spice://x?password=p".to_owned(),
            "x".repeat(5000),
        ];
        assert_eq!(normalize(stored), ["a", "spice://x"]);
    }
}
