use super::*;

fn parse(uri: &str) -> ConnectionConfig {
    ConnectionConfig::from_uri(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
}

fn tcp(host: &str, port: u16) -> Endpoint {
    Endpoint::Tcp {
        host: host.into(),
        port,
    }
}

fn tls(host: &str, port: u16) -> Endpoint {
    Endpoint::Tls {
        host: host.into(),
        port,
    }
}

#[test]
fn plain_host_port() {
    let c = parse("spice://example.org:5900");
    assert_eq!(c.host.as_deref(), Some("example.org"));
    assert_eq!(c.port, Some(5900));
    assert_eq!(c.tls_port, None);
    assert_eq!(c.secure_channels, SecureChannels::Default);
    assert_eq!(c.endpoint_for(ChannelType::MAIN), Ok(tcp("example.org", 5900)));
    // A trailing slash and an upper-case scheme are accepted.
    assert_eq!(parse("SPICE://example.org:5900/"), c);
}

#[test]
fn legacy_query_form_with_percent_decoding() {
    let c = parse("spice://host?port=5900&tls-port=5901&password=p%40ss%20w%26rd");
    assert_eq!(c.port, Some(5900));
    assert_eq!(c.tls_port, Some(5901));
    assert_eq!(c.password.as_ref().map(Password::as_str), Some("p@ss w&rd"));
    assert_eq!(c.password.as_ref().map(Password::as_bytes), Some(&b"p@ss w&rd"[..]));
    // `+` is not a space in a URI.
    let c = parse("spice://host:5900?password=a+b");
    assert_eq!(c.password.as_ref().map(Password::as_str), Some("a+b"));
    // Authority port plus a query tls-port.
    let c = parse("spice://host:5900?tls-port=5901");
    assert_eq!((c.port, c.tls_port), (Some(5900), Some(5901)));
}

#[test]
fn tls_scheme_secures_everything() {
    let c = parse("spice+tls://secure.example:5901");
    assert_eq!(c.tls_port, Some(5901));
    assert_eq!(c.port, None);
    assert_eq!(c.secure_channels, SecureChannels::All);
    for ty in [ChannelType::MAIN, ChannelType::DISPLAY, ChannelType::USBREDIR] {
        assert_eq!(c.endpoint_for(ty), Ok(tls("secure.example", 5901)));
    }
    // Even with a plain port known, nothing is sent in clear (row 38).
    let c = parse("spice+tls://h:5901?port=5900");
    assert_eq!(c.endpoint_for(ChannelType::INPUTS), Ok(tls("h", 5901)));
}

#[test]
fn unix_scheme() {
    let c = parse("spice+unix:///run/user/1000/spice%20vm.sock");
    assert_eq!(c.unix_path, Some(PathBuf::from("/run/user/1000/spice vm.sock")));
    assert_eq!(c.host, None);
    assert_eq!(
        c.endpoint_for(ChannelType::DISPLAY),
        Ok(Endpoint::Unix("/run/user/1000/spice vm.sock".into()))
    );
    assert_eq!(c.tls_endpoint(), Err(ConfigError::NeedSecuredOnUnixSocket));
    let c = parse("spice+unix:///tmp/s.sock?password=x");
    assert_eq!(c.password, Some(Password::from("x")));
    assert_eq!(
        ConnectionConfig::from_uri("spice+unix://"),
        Err(ConfigError::MissingUnixPath)
    );
}

#[test]
fn ipv6_and_user() {
    let c = parse("spice://[::1]:5900");
    assert_eq!(c.host.as_deref(), Some("::1"));
    assert_eq!(c.port, Some(5900));
    assert_eq!(
        c.endpoint_for(ChannelType::MAIN).map(|e| e.to_string()),
        Ok("tcp [::1]:5900".into())
    );
    let c = parse("spice://[fe80::1%25eth0]?tls-port=5901");
    assert_eq!(c.host.as_deref(), Some("fe80::1%eth0"));
    assert_eq!(c.tls_port, Some(5901));

    let c = parse("spice://alice%40corp@[2001:db8::7]:5900");
    assert_eq!(c.username.as_deref(), Some("alice@corp"));
    assert_eq!(c.host.as_deref(), Some("2001:db8::7"));
    let c = parse("spice://bob@host:5900");
    assert_eq!(c.username.as_deref(), Some("bob"));
    assert_eq!(c.host.as_deref(), Some("host"));
}

#[test]
fn errors_are_specific() {
    let err = |uri: &str| ConnectionConfig::from_uri(uri).expect_err(uri);
    assert_eq!(err("spice://host"), ConfigError::NoPort);
    assert!(err("spice://host").to_string().contains("no port"));
    assert_eq!(err("spice+tls://host"), ConfigError::NoTlsPortInTlsUri);
    assert_eq!(err("spice+tls://host?port=5900"), ConfigError::NoTlsPortInTlsUri);
    assert!(matches!(err("vnc://host:5900"), ConfigError::UnsupportedScheme { .. }));
    assert!(matches!(err("host:5900"), ConfigError::NotAUri { .. }));
    assert_eq!(err("spice://:5900"), ConfigError::MissingHost);
    assert!(matches!(err("spice://host:0"), ConfigError::BadPort { .. }));
    assert!(matches!(err("spice://host:65536"), ConfigError::BadPort { .. }));
    assert!(matches!(err("spice://host:"), ConfigError::BadPort { .. }));
    assert!(matches!(
        err("spice://host?port=abc"),
        ConfigError::BadPort { what: "port", .. }
    ));
    assert!(matches!(
        err("spice://host?tls-port="),
        ConfigError::BadPort { what: "tls-port", .. }
    ));
    assert!(matches!(err("spice://::1:5900"), ConfigError::UnbracketedIpv6 { .. }));
    assert!(matches!(err("spice://[::1:5900"), ConfigError::BadIpv6 { .. }));
    assert!(matches!(err("spice://[nothex]:5900"), ConfigError::BadIpv6 { .. }));
    assert!(matches!(err("spice://[::1]x5900"), ConfigError::BadIpv6 { .. }));
    assert!(matches!(
        err("spice://host:5900/vm"),
        ConfigError::UnexpectedPath { .. }
    ));
    assert_eq!(
        err("spice://host:5900?port=5901"),
        ConfigError::Duplicate { key: "port" }
    );
    assert_eq!(err("spice://h?port=1&port=2"), ConfigError::Duplicate { key: "port" });
    assert_eq!(
        err("spice+tls://h:1?tls-port=2"),
        ConfigError::Duplicate { key: "tls-port" }
    );
    assert_eq!(
        err("spice://h:1?password=%ff"),
        ConfigError::BadEncoding { what: "password" }
    );
}

#[test]
fn unknown_query_keys_are_ignored() {
    let c = parse("spice://h:5900?frobnicate=1&&password=x");
    assert_eq!(c.password, Some(Password::from("x")));
}

#[test]
fn debug_hides_the_password() {
    let c = parse("spice://h:5900?password=hunter2");
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("Password(***)"), "{shown}");
}

#[test]
fn secure_channels_parsing() {
    assert_eq!(SecureChannels::parse("all"), Ok(SecureChannels::All));
    assert_eq!(SecureChannels::parse("main,ALL"), Ok(SecureChannels::All));
    assert_eq!(SecureChannels::parse(""), Ok(SecureChannels::Default));
    assert_eq!(
        SecureChannels::parse("main;display;"),
        Ok(SecureChannels::Only(vec![ChannelType::MAIN, ChannelType::DISPLAY]))
    );
    assert_eq!(
        SecureChannels::parse(" inputs , cursor,inputs"),
        Ok(SecureChannels::Only(vec![ChannelType::INPUTS, ChannelType::CURSOR]))
    );
    let e = SecureChannels::parse("main,bogus").expect_err("bogus channel");
    assert_eq!(e, ConfigError::UnknownChannel { name: "bogus".into() });
    assert!(e.to_string().contains("valid names"));

    let only = SecureChannels::parse("main,usbredir").expect("valid");
    assert!(only.requires_tls(ChannelType::MAIN));
    assert!(only.requires_tls(ChannelType::USBREDIR));
    assert!(!only.requires_tls(ChannelType::DISPLAY));
    assert!(SecureChannels::All.requires_tls(ChannelType::RECORD));
    assert!(!SecureChannels::Default.requires_tls(ChannelType::MAIN));
}

#[test]
fn endpoint_selection() {
    // Both ports: TLS first for every channel (spice-gtk would go plain for
    // the channels not in secure-channels); plain only after NEED_UNSECURED,
    // and never for a channel secure-channels lists.
    let mut c = parse("spice://h?port=5900&tls-port=5901");
    c.secure_channels = SecureChannels::parse("main,inputs").expect("valid");
    assert_eq!(c.endpoint_for(ChannelType::MAIN), Ok(tls("h", 5901)));
    assert_eq!(c.endpoint_for(ChannelType::INPUTS), Ok(tls("h", 5901)));
    assert_eq!(c.endpoint_for(ChannelType::DISPLAY), Ok(tls("h", 5901)));
    assert_eq!(c.tls_endpoint(), Ok(tls("h", 5901)));
    assert_eq!(c.plain_endpoint_for(ChannelType::DISPLAY), Ok(tcp("h", 5900)));
    assert_eq!(
        c.plain_endpoint_for(ChannelType::MAIN),
        Err(ConfigError::NeedUnsecuredButSecure {
            channel: ChannelType::MAIN
        })
    );
    let c = parse("spice://h?port=5900&tls-port=5901");
    for ty in [
        ChannelType::MAIN,
        ChannelType::DISPLAY,
        ChannelType::INPUTS,
        ChannelType::USBREDIR,
    ] {
        assert_eq!(c.endpoint_for(ty), Ok(tls("h", 5901)), "{ty}");
    }

    // Only a TLS port: everything goes over TLS; NEED_UNSECURED has nowhere to go.
    let c = parse("spice://h?tls-port=5901");
    assert_eq!(c.endpoint_for(ChannelType::DISPLAY), Ok(tls("h", 5901)));
    assert_eq!(
        c.plain_endpoint_for(ChannelType::DISPLAY),
        Err(ConfigError::NeedUnsecuredWithoutPort {
            channel: ChannelType::DISPLAY
        })
    );

    // A secure channel without a tls-port is an error, never plaintext.
    let mut c = parse("spice://h:5900");
    c.secure_channels = SecureChannels::Only(vec![ChannelType::MAIN]);
    let e = c.endpoint_for(ChannelType::MAIN).expect_err("needs TLS");
    assert_eq!(
        e,
        ConfigError::ChannelNeedsTls {
            channel: ChannelType::MAIN
        }
    );
    assert!(
        e.to_string()
            .starts_with("channel main must use TLS but no tls-port is known")
    );
    assert_eq!(c.endpoint_for(ChannelType::CURSOR), Ok(tcp("h", 5900)));
    // NEED_SECURED with no tls-port: a clear error (row 6).
    assert_eq!(c.tls_endpoint(), Err(ConfigError::NeedSecuredWithoutTlsPort));

    let empty = ConnectionConfig::default();
    assert_eq!(empty.endpoint_for(ChannelType::MAIN), Err(ConfigError::NoEndpoint));
    let host_only = ConnectionConfig {
        host: Some("h".into()),
        ..Default::default()
    };
    assert_eq!(host_only.endpoint_for(ChannelType::MAIN), Err(ConfigError::NoEndpoint));
}

#[test]
fn proxy_precedence() {
    let mut c = parse("spice://ticket:5900");
    assert_eq!(c.effective_proxy_with(None), Ok(None));
    let from_env = c
        .effective_proxy_with(Some("http://env:1"))
        .expect("valid")
        .expect("a proxy");
    assert_eq!((from_env.host.as_str(), from_env.port), ("env", 1));
    c.proxy = Some("http://vv:2".into());
    let from_vv = c
        .effective_proxy_with(Some("http://env:1"))
        .expect("valid")
        .expect("a proxy");
    assert_eq!((from_vv.host.as_str(), from_vv.port), ("vv", 2));
    // An empty setting turns the proxy off even when SPICE_PROXY is set.
    c.proxy = Some(String::new());
    assert_eq!(c.effective_proxy_with(Some("http://env:1")), Ok(None));
    c.proxy = None;
    let e = c.effective_proxy_with(Some("ftp://x")).expect_err("bad scheme");
    assert!(e.to_string().contains("SPICE_PROXY"), "{e}");
    let unix = parse("spice+unix:///s.sock");
    assert_eq!(unix.effective_proxy_with(Some("http://env:1")), Ok(None));
}

#[test]
fn typed_proxy_credentials_replace_the_address_ones() {
    use crate::client::proxy::ProxyCredentials;
    let mut c = parse("spice://ticket:5900");
    c.proxy = Some("http://old:pw@vv:2".into());
    c.proxy_credentials = Some(ProxyCredentials {
        user: "typed".into(),
        password: Password::new("s3cret"),
    });
    let p = c.effective_proxy_with(None).expect("valid").expect("a proxy");
    assert_eq!((p.host.as_str(), p.port), ("vv", 2));
    assert_eq!(p.user.as_deref(), Some("typed"));
    assert_eq!(p.password.as_ref().map(Password::as_str), Some("s3cret"));
    assert!(!format!("{c:?}").contains("s3cret"), "never in Debug");
    // The environment's proxy gets them too.
    c.proxy = None;
    let p = c
        .effective_proxy_with(Some("http://env:1"))
        .expect("valid")
        .expect("a proxy");
    assert_eq!(p.user.as_deref(), Some("typed"));
}

#[test]
fn endpoint_display() {
    assert_eq!(tcp("h", 1).to_string(), "tcp h:1");
    assert_eq!(tls("::1", 2).to_string(), "tls [::1]:2");
    assert_eq!(Endpoint::Unix("/s".into()).to_string(), "unix socket /s");
}
