//! Oracles for the parsers of what a user or a web page hands Sumac: `.vv`
//! files (`vv_file`), SPICE URIs (`spice_uri`) and certificate subjects
//! (`host_subject`). These inputs come from outside (a downloaded file, a
//! link), so they get the same treatment as wire data: no panic, and what
//! is accepted is consistent.

use sumac::client::ConnectionConfig;
use sumac::client::tls::Subject;
use sumac::client::vv::VvFile;
use sumac::proto::ChannelType;

/// Every channel type whose endpoint the oracles ask for.
const CHANNELS: [ChannelType; 4] = [
    ChannelType::MAIN,
    ChannelType::DISPLAY,
    ChannelType::INPUTS,
    ChannelType::USBREDIR,
];

/// What a parsed connection must satisfy: every endpoint question answers
/// without panicking, and a TLS port known means TLS for every channel.
fn check_connection(c: &ConnectionConfig) {
    for ty in CHANNELS {
        if let Ok(e) = c.endpoint_for(ty) {
            let _ = e.to_string();
            if c.unix_path.is_none() && c.tls_port.is_some() {
                assert!(e.is_tls(), "TLS first: {ty} got {e} with a tls-port known");
            }
        }
        let _ = c.plain_endpoint_for(ty);
    }
    let _ = c.tls_endpoint();
    let _ = c.effective_proxy_with(None);
}

/// `.vv` file text (any bytes; invalid UTF-8 is refused as `load` does).
pub fn fuzz_vv_file(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let first = VvFile::parse(text);
    let again = VvFile::parse(text);
    match (first, again) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "parsing is deterministic");
            check_connection(&a.connection);
            if let Some(t) = &a.title {
                let _ = sumac::client::vv::title_for_monitor(t, usize::MAX);
            }
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "parsing is deterministic");
            false
        }
        (a, b) => panic!("parsing is not deterministic: {a:?} then {b:?}"),
    }
}

/// A `spice://`, `spice+tls://` or `spice+unix://` URI.
pub fn fuzz_spice_uri(data: &[u8]) -> bool {
    let Ok(uri) = std::str::from_utf8(data) else {
        return false;
    };
    match ConnectionConfig::from_uri(uri) {
        Ok(c) => {
            check_connection(&c);
            // Something to connect to: a host with a port, or a socket.
            assert!(
                c.unix_path.is_some() || (c.host.is_some() && (c.port.is_some() || c.tls_port.is_some())),
                "accepted without an endpoint: {uri:?}"
            );
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

/// A `host-subject` string: what parses writes back (Display) and parses to
/// the same subject, which matches itself.
pub fn fuzz_host_subject(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match Subject::parse(text) {
        Ok(s) => {
            let written = s.to_string();
            let back = Subject::parse(&written).unwrap_or_else(|e| panic!("{written:?} does not parse again: {e}"));
            assert_eq!(back, s, "round trip through {written:?}");
            assert!(s.matches(&s), "a subject matches itself");
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}
