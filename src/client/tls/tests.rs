use super::verifier::dns_name_matches;
use super::*;
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::{ClientConnection, ServerConfig, ServerConnection};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const NO_SYSTEM_STORE: &str = "/nonexistent/sumac-test/ca-certificates.crt";

struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn test_ca(name: &str) -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Sumac Tests");
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCa {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn leaf(ca: &TestCa, sans: &[&str], dn: &[(DnType, &str)], expired: bool) -> Leaf {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    for (ty, value) in dn {
        params.distinguished_name.push(ty.clone(), *value);
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn server_config(leaf: &Leaf, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
        .unwrap();
    Arc::new(config)
}

fn options(ca: &TestCa, subject: Option<&str>) -> TlsOptions {
    TlsOptions {
        ca: Some(CaSource::Pem(ca.pem.as_bytes().to_vec())),
        host_subject: subject.map(str::to_owned),
    }
}

/// Runs a full handshake in memory; returns the client's error, if any.
fn handshake_with(
    opts: &TlsOptions,
    host: &str,
    leaf: &Leaf,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ProtocolVersion, rustls::Error> {
    let config = build_client_config(opts, Path::new(NO_SYSTEM_STORE)).unwrap();
    let mut client = ClientConnection::new(config, server_name_for(host, opts).unwrap()).unwrap();
    let mut server = ServerConnection::new(server_config(leaf, versions)).unwrap();
    let mut buf = Vec::new();
    for _ in 0..16 {
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut pending = &buf[..];
        while !pending.is_empty() {
            server.read_tls(&mut pending).unwrap();
        }
        server.process_new_packets().expect("server side of the handshake");

        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut pending = &buf[..];
        while !pending.is_empty() {
            client.read_tls(&mut pending).unwrap();
        }
        client.process_new_packets()?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(client.protocol_version().unwrap());
        }
    }
    panic!("the handshake did not finish");
}

fn handshake(opts: &TlsOptions, host: &str, leaf: &Leaf) -> Result<(), rustls::Error> {
    handshake_with(opts, host, leaf, rustls::DEFAULT_VERSIONS).map(|_| ())
}

fn refusal(result: Result<(), rustls::Error>) -> CertVerifyError {
    let err = result.expect_err("the certificate should be refused");
    cert_error(&err)
        .unwrap_or_else(|| panic!("no verdict in {err}"))
        .clone()
}

#[test]
fn good_certificate_accepted_over_tls13_and_tls12() {
    let ca = test_ca("Good CA");
    let cert = leaf(
        &ca,
        &["localhost", "127.0.0.1"],
        &[(DnType::CommonName, "localhost")],
        false,
    );
    let opts = options(&ca, None);
    assert_eq!(
        handshake_with(&opts, "localhost", &cert, rustls::ALL_VERSIONS),
        Ok(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        handshake_with(&opts, "127.0.0.1", &cert, &[&rustls::version::TLS12]),
        Ok(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(handshake(&opts, "LOCALHOST.", &cert), Ok(()));
}

#[test]
fn unknown_ca_refused() {
    let ca = test_ca("Server CA");
    let other = test_ca("Unrelated CA");
    let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "localhost")], false);
    let verdict = refusal(handshake(&options(&other, None), "localhost", &cert));
    assert_eq!(
        verdict,
        CertVerifyError::UnknownCa {
            issuer: "O=Sumac Tests,CN=Server CA".into()
        }
    );
    assert!(verdict.to_string().contains("not signed by a trusted CA"), "{verdict}");
}

#[test]
fn cn_only_certificate_checked_by_common_name() {
    let ca = test_ca("CA");
    let cert = leaf(&ca, &[], &[(DnType::CommonName, "spice-cn.test")], false);
    let opts = options(&ca, None);
    assert_eq!(handshake(&opts, "spice-cn.test", &cert), Ok(()));
    assert_eq!(handshake(&opts, "Spice-CN.test", &cert), Ok(()));
    let verdict = refusal(handshake(&opts, "other.test", &cert));
    assert!(matches!(verdict, CertVerifyError::HostnameMismatch { .. }));
    assert!(
        verdict
            .to_string()
            .contains("certificate is for spice-cn.test, not other.test"),
        "{verdict}"
    );
    // An IP address in the CN of a SAN-less certificate.
    let ip_cert = leaf(&ca, &[], &[(DnType::CommonName, "127.0.0.1")], false);
    assert_eq!(handshake(&opts, "127.0.0.1", &ip_cert), Ok(()));
    assert!(matches!(
        refusal(handshake(&opts, "127.0.0.2", &ip_cert)),
        CertVerifyError::HostnameMismatch { .. }
    ));
}

#[test]
fn common_name_ignored_when_san_present() {
    let ca = test_ca("CA");
    let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "legacy.test")], false);
    let opts = options(&ca, None);
    let verdict = refusal(handshake(&opts, "legacy.test", &cert));
    assert_eq!(
        verdict,
        CertVerifyError::HostnameMismatch {
            host: "legacy.test".into(),
            presented: vec!["localhost".into()],
        }
    );
    // An IP host is not matched against a DNS SAN.
    assert!(matches!(
        refusal(handshake(&opts, "127.0.0.1", &cert)),
        CertVerifyError::HostnameMismatch { .. }
    ));
}

#[test]
fn wildcard_san() {
    let ca = test_ca("CA");
    let cert = leaf(&ca, &["*.spice.test"], &[], false);
    let opts = options(&ca, None);
    assert_eq!(handshake(&opts, "vm1.spice.test", &cert), Ok(()));
    assert!(handshake(&opts, "spice.test", &cert).is_err());
    assert!(handshake(&opts, "a.vm1.spice.test", &cert).is_err());
}

fn subject_leaf(ca: &TestCa) -> Leaf {
    leaf(
        ca,
        &[],
        &[
            (DnType::CountryName, "CZ"),
            (DnType::LocalityName, "Brno"),
            (DnType::OrganizationName, "Sumac, Test"),
            (DnType::CommonName, "vm.example"),
        ],
        false,
    )
}

#[test]
fn host_subject_exact_match_replaces_the_host_check() {
    let ca = test_ca("CA");
    let cert = subject_leaf(&ca);
    let subject = r"C=CZ,L=Brno,O=Sumac\, Test,CN=vm.example";
    // The host name does not match the certificate, but the subject does.
    assert_eq!(handshake(&options(&ca, Some(subject)), "127.0.0.1", &cert), Ok(()));
    // Blanks around keys, value case and inner blank runs do not matter.
    let loose = r" c=cz, L=BRNO,  O=sumac\,   test, CN=VM.example";
    assert_eq!(handshake(&options(&ca, Some(loose)), "127.0.0.1", &cert), Ok(()));
    // A Proxmox-style host that is no DNS name at all.
    let proxmox_host = "pvespiceproxy:65f9a8b2:100:pve1::0123abcd";
    assert_eq!(handshake(&options(&ca, Some(subject)), proxmox_host, &cert), Ok(()));
}

#[test]
fn host_subject_mismatch_refused_with_both_subjects() {
    let ca = test_ca("CA");
    let cert = subject_leaf(&ca);
    let wrong = "C=CZ,L=Brno,O=Other,CN=vm.example";
    let verdict = refusal(handshake(&options(&ca, Some(wrong)), "vm.example", &cert));
    assert_eq!(
        verdict.to_string(),
        r"subject mismatch: expected subject C=CZ,L=Brno,O=Other,CN=vm.example, certificate has C=CZ,L=Brno,O=Sumac\, Test,CN=vm.example"
    );
    // Fewer entries than the certificate: refused even though all given ones match.
    let partial = r"O=Sumac\, Test,CN=vm.example";
    assert!(matches!(
        refusal(handshake(&options(&ca, Some(partial)), "vm.example", &cert)),
        CertVerifyError::SubjectMismatch { .. }
    ));
    // Same entries, different order.
    let reordered = r"CN=vm.example,C=CZ,L=Brno,O=Sumac\, Test";
    assert!(matches!(
        refusal(handshake(&options(&ca, Some(reordered)), "vm.example", &cert)),
        CertVerifyError::SubjectMismatch { .. }
    ));
}

#[test]
fn expired_certificate_refused() {
    let ca = test_ca("CA");
    let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "localhost")], true);
    let verdict = refusal(handshake(&options(&ca, None), "localhost", &cert));
    assert!(matches!(verdict, CertVerifyError::Expired { .. }), "{verdict:?}");
    assert!(
        verdict.to_string().contains("expired on Jan  1 00:00:00 2001"),
        "{verdict}"
    );
    // The subject mode does not skip the chain checks.
    let subject_opts = options(&ca, Some("CN=localhost"));
    assert!(matches!(
        refusal(handshake(&subject_opts, "localhost", &cert)),
        CertVerifyError::Expired { .. }
    ));
}

#[test]
fn ca_sources() {
    let ca = test_ca("File CA");
    let cert = leaf(&ca, &["localhost"], &[], false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    let opts = TlsOptions {
        ca: Some(CaSource::File(path.clone())),
        host_subject: None,
    };
    assert_eq!(handshake(&opts, "localhost", &cert), Ok(()));

    // The system bundle is used when no CA is configured.
    let none = TlsOptions::default();
    assert!(build_client_config(&none, &path).is_ok());
    assert!(matches!(
        build_client_config(&none, Path::new(NO_SYSTEM_STORE)),
        Err(TlsError::NoTrustAnchors)
    ));

    let missing = TlsOptions {
        ca: Some(CaSource::File(dir.path().join("absent.pem"))),
        host_subject: None,
    };
    let err = build_client_config(&missing, Path::new(NO_SYSTEM_STORE)).unwrap_err();
    assert!(matches!(err, TlsError::ReadCa { .. }));
    assert!(err.to_string().contains("absent.pem"), "{err}");

    let garbage = TlsOptions {
        ca: Some(CaSource::Pem(b"not a certificate".to_vec())),
        host_subject: None,
    };
    assert!(matches!(
        build_client_config(&garbage, Path::new(NO_SYSTEM_STORE)),
        Err(TlsError::NoCaCertificate { .. })
    ));

    let bad_subject = options(&ca, Some("CN=a,,O=b"));
    assert!(matches!(
        build_client_config(&bad_subject, Path::new(NO_SYSTEM_STORE)),
        Err(TlsError::BadHostSubject(SubjectError::EmptyEntry))
    ));
    // A blank host-subject means "not set".
    assert!(build_client_config(&options(&ca, Some("  ")), Path::new(NO_SYSTEM_STORE)).is_ok());
}

#[test]
fn options_from_config() {
    let cfg = ConnectionConfig {
        ca: Some(CaSource::File("/ca.pem".into())),
        host_subject: Some("CN=x".into()),
        ..Default::default()
    };
    let opts = TlsOptions::from_config(&cfg);
    assert_eq!(opts.ca, cfg.ca);
    assert_eq!(opts.host_subject.as_deref(), Some("CN=x"));
}

#[test]
fn subject_parsing() {
    let s = Subject::parse(r"C=XX, L=City ,O=Org\, Inc.,CN=host\\name,").unwrap();
    let got: Vec<_> = s.entries.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
    assert_eq!(
        got,
        [("C", "XX"), ("L", "City "), ("O", "Org, Inc."), ("CN", r"host\name")]
    );
    assert_eq!(s.entries[3].oid, "2.5.4.3");
    assert_eq!(s.to_string(), r"C=XX,L=City ,O=Org\, Inc.,CN=host\\name");

    let long = Subject::parse("countryName=XX,commonName=h,ST=Moravia,2.5.4.97=VAT").unwrap();
    let keys: Vec<_> = long.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["C", "CN", "ST", "2.5.4.97"]);
    // A value may contain `=`.
    assert_eq!(Subject::parse("CN=a=b").unwrap().entries[0].value, "a=b");

    assert_eq!(Subject::parse(""), Err(SubjectError::Empty));
    assert_eq!(Subject::parse(" , "), Err(SubjectError::EmptyEntry));
    assert_eq!(
        Subject::parse("CN"),
        Err(SubjectError::MissingEquals { entry: "CN".into() })
    );
    assert_eq!(Subject::parse("=x"), Err(SubjectError::EmptyKey));
    assert_eq!(
        Subject::parse("CN="),
        Err(SubjectError::EmptyValue { key: "CN".into() })
    );
    assert_eq!(
        Subject::parse("XX=1"),
        Err(SubjectError::UnknownAttribute { key: "XX".into() })
    );
    assert_eq!(Subject::parse(r"CN=a\b"), Err(SubjectError::BadEscape { found: 'b' }));
    assert_eq!(Subject::parse(r"CN=a\"), Err(SubjectError::TrailingBackslash));
}

#[test]
fn subject_matching_rules() {
    let a = Subject::parse("C=CZ,O=Red  Hat,CN=vm").unwrap();
    assert!(a.matches(&Subject::parse("C=cz, O= red hat ,CN=VM").unwrap()));
    assert!(!a.matches(&Subject::parse("C=CZ,O=Red Hat").unwrap()));
    assert!(!a.matches(&Subject::parse("C=CZ,OU=Red Hat,CN=vm").unwrap()));
    assert!(!a.matches(&Subject::parse("C=CZ,O=RedHat,CN=vm").unwrap()));
}

#[test]
fn dns_name_matching() {
    assert!(dns_name_matches("host.example", "HOST.example."));
    assert!(dns_name_matches("*.example.org", "vm.example.org"));
    assert!(!dns_name_matches("*.example.org", "example.org"));
    assert!(!dns_name_matches("*.example.org", "a.b.example.org"));
    assert!(!dns_name_matches("*.org", "example.org"));
    assert!(!dns_name_matches("v*.example.org", "vm.example.org"));
    assert!(!dns_name_matches("*.*.org", "a.b.org"));
    assert!(!dns_name_matches("", ""));
}

#[test]
fn server_names() {
    assert!(matches!(server_name("127.0.0.1"), Ok(ServerName::IpAddress(_))));
    assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
    assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
    assert!(matches!(server_name("fe80::1%eth0"), Ok(ServerName::IpAddress(_))));
    assert!(matches!(server_name("spice.example.org"), Ok(ServerName::DnsName(_))));
    let err = server_name("pve:ticket::x").unwrap_err();
    assert!(matches!(err, TlsError::InvalidServerName { .. }));
    assert!(err.to_string().contains("host-subject"), "{err}");
    let with_subject = TlsOptions {
        ca: None,
        host_subject: Some("CN=x".into()),
    };
    assert!(server_name_for("pve:ticket::x", &with_subject).is_ok());
    assert!(server_name_for("pve:ticket::x", &TlsOptions::default()).is_err());
}

#[test]
fn cert_error_only_finds_verdicts() {
    let io = io::Error::other("connection reset");
    assert!(cert_error(&io).is_none());
    assert_eq!(describe_tls_error(&io), "connection reset");
    let wrapped = io::Error::new(io::ErrorKind::InvalidData, CertVerifyError::BadSignature.into_rustls());
    assert_eq!(cert_error(&wrapped), Some(&CertVerifyError::BadSignature));
    assert_eq!(describe_tls_error(&wrapped), CertVerifyError::BadSignature.to_string());
}

/// The path the runtime takes: tokio-rustls over loopback TCP, and the
/// verdict recovered from the `io::Error` the connector returns.
#[tokio::test]
async fn tokio_rustls_over_loopback() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ca = test_ca("CA");
    let cert = leaf(&ca, &["localhost"], &[(DnType::CommonName, "localhost")], false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&cert, rustls::DEFAULT_VERSIONS));
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let mut word = [0u8; 4];
                tls.read_exact(&mut word).await.unwrap();
                tls.write_all(&word).await.unwrap();
                tls.shutdown().await.unwrap();
            }
        }
    });

    let opts = options(&ca, None);
    let connector = tokio_rustls::TlsConnector::from(build_client_config(&opts, Path::new(NO_SYSTEM_STORE)).unwrap());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(server_name("localhost").unwrap(), tcp).await.unwrap();
    tls.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tls.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err = connector
        .connect(server_name("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap_err();
    assert!(matches!(
        cert_error(&err),
        Some(CertVerifyError::HostnameMismatch { .. })
    ));
    assert!(
        describe_tls_error(&err).contains("certificate is for localhost, not 127.0.0.1"),
        "{err}"
    );
    server.await.unwrap();
}
