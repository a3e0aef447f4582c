//! `sumac-test-server`: the test server as a program, for the demo and for
//! pointing real clients (Sumac, remote-viewer) at it.

use anyhow::Result;
use clap::Parser;
use sumac_test_server::{ServerConfig, TestServer, TlsIdentity};

#[derive(Parser, Debug)]
#[command(about = "Minimal SPICE server for Sumac's tests and demo (listens on 127.0.0.1 only)")]
struct Args {
    /// Plain port (0 = pick a free one).
    #[arg(long, default_value_t = 5900)]
    port: u16,
    /// Also serve TLS on this port with a freshly generated CA (written to --ca-out).
    #[arg(long)]
    tls_port: Option<u16>,
    /// Where to write the generated CA certificate (PEM).
    #[arg(long, default_value = "sumac-test-ca.pem")]
    ca_out: std::path::PathBuf,
    /// Require this password.
    #[arg(long)]
    password: Option<String>,
    /// Serve the demo desktop: 1024×768, animated, echoing keys and drawing clicks
    /// (client mouse mode, so clicks land where the pointer is).
    #[arg(long)]
    demo: bool,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut cfg = ServerConfig {
        password: args.password,
        animate: args.demo,
        client_mouse: args.demo,
        ..Default::default()
    };
    if args.demo {
        cfg.scene = sumac_test_server::demo::Desktop::scene();
    }
    if args.tls_port.is_some() {
        let id = TlsIdentity::generate(false)?;
        std::fs::write(&args.ca_out, &id.ca_pem)?;
        eprintln!("CA written to {} (host subject: {})", args.ca_out.display(), id.subject);
        cfg.tls = Some(id);
    }
    let server = TestServer::start_on(cfg, args.port, args.tls_port.unwrap_or(0))?;
    println!("listening on {}", server.uri());
    loop {
        std::thread::park();
    }
}
