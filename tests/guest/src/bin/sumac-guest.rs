//! `sumac-guest`: the real test guest by hand, for development.
//!
//!     sumac-guest prepare                      build (or find) the cached image, say how long it took
//!     sumac-guest boot [DEVICES] [OPTIONS]     boot, print the SPICE port and QMP socket, run until Ctrl+C
//!     sumac-guest run [DEVICES] [OPTIONS] CMD  boot, run CMD in the guest, print its output, power off
//!
//! DEVICES: --agent --webdav --qmp --audio --usbredir --serial --smartcard, or --all.
//! OPTIONS: --password PW, --tcg / --kvm, --x (run CMD with DISPLAY=:0), --timeout SECS.

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use sumac_test_guest::{Accel, Guest, GuestImage, GuestOptions, RunOptions, default_cache_dir, process_cpu_time};

const USAGE: &str = "usage: sumac-guest prepare
       sumac-guest boot [DEVICES] [OPTIONS]
       sumac-guest run  [DEVICES] [OPTIONS] 'COMMAND'
DEVICES: --agent --webdav --qmp --audio --usbredir --serial --smartcard | --all
OPTIONS: --password PW  --tcg | --kvm  --x (COMMAND in the X session)  --timeout SECS";

struct Args {
    command: String,
    options: GuestOptions,
    in_x: bool,
    timeout: Duration,
    guest_command: Option<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = argv.next().ok_or("missing command")?;
    let mut args = Args {
        command,
        options: GuestOptions::default(),
        in_x: false,
        timeout: Duration::from_secs(60),
        guest_command: None,
    };
    while let Some(arg) = argv.next() {
        let o = &mut args.options;
        match arg.as_str() {
            "--agent" => o.agent = true,
            "--webdav" => o.webdav = true,
            "--qmp" => o.qmp_port = true,
            "--audio" => o.audio = true,
            "--usbredir" => o.usbredir = true,
            "--serial" => o.serial = true,
            "--smartcard" => o.smartcard = true,
            "--all" => {
                let keep = std::mem::take(o);
                *o = GuestOptions {
                    password: keep.password,
                    accel: keep.accel,
                    ..GuestOptions::all()
                };
            }
            "--password" => o.password = Some(argv.next().ok_or("--password needs a value")?),
            "--tcg" => o.accel = Accel::Tcg,
            "--kvm" => o.accel = Accel::Kvm,
            "--x" => args.in_x = true,
            "--timeout" => {
                let secs = argv.next().ok_or("--timeout needs seconds")?;
                args.timeout = Duration::from_secs(secs.parse().map_err(|_| format!("bad --timeout {secs}"))?);
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if args.guest_command.is_none() => args.guest_command = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?} (quote the guest command)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("sumac-guest: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sumac-guest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match args.command.as_str() {
        "prepare" => {
            let (image, report) = GuestImage::prepare_with_report(&default_cache_dir())?;
            println!("kernel package {}", image.kernel_package);
            println!("kernel         {}", image.kernel.display());
            println!("initrd         {}", image.initrd.display());
            println!("guest init     {}", image.guest_init.display());
            println!(
                "took {:.1} s (lock wait {:.1} s, download {:.1} s, unpack+depmod {:.1} s, initramfs {:.2} s)",
                report.total.as_secs_f64(),
                report.waited_for_lock.as_secs_f64(),
                report.download.as_secs_f64(),
                report.unpack.as_secs_f64(),
                report.initramfs.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        "boot" => {
            // Ctrl+C / SIGTERM: power the guest off instead of dying with it running.
            let (stop_tx, stop_rx) = mpsc::channel();
            ctrlc::set_handler(move || {
                let _ = stop_tx.send(());
            })?;
            let guest = boot(args.options)?;
            if let Some(port) = guest.spice_port() {
                println!("SPICE port     {port}   (remote-viewer {})", guest.spice_uri());
            }
            if let Some(port) = guest.tls_port() {
                println!("SPICE TLS port {port}");
            }
            println!("QMP socket     {}", guest.qmp_socket().display());
            if let Some(dir) = guest.run_dir() {
                println!("run directory  {}  (console.log, qemu.log, ctl/log/)", dir.display());
            }
            println!("Ctrl+C powers the guest off.");
            let _ = stop_rx.recv();
            let report = guest.stop()?;
            println!(
                "stopped in {:.1} s (clean: {})",
                report.took.as_secs_f64(),
                report.clean
            );
            Ok(ExitCode::SUCCESS)
        }
        "run" => {
            let command = args.guest_command.ok_or("run needs a command")?;
            let guest = boot(args.options)?;
            let start = Instant::now();
            let output = guest.run_with(
                &command,
                &RunOptions {
                    timeout: args.timeout,
                    display: args.in_x,
                },
            )?;
            let took = start.elapsed();
            print!("{}", output.stdout);
            eprint!("{}", output.stderr);
            eprintln!("[exit status {} in {:.2} s]", output.status, took.as_secs_f64());
            guest.stop()?;
            Ok(ExitCode::from(u8::try_from(output.status).unwrap_or(1)))
        }
        other => Err(format!("unknown command {other}\n{USAGE}").into()),
    }
}

fn boot(options: GuestOptions) -> Result<Guest, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let image = GuestImage::prepare()?;
    let prepared = start.elapsed();
    let guest = Guest::boot_image(image, options)?;
    eprintln!(
        "guest ready: prepare {:.1} s, boot {:.1} s ({:?}, QEMU used {:.1} s of CPU), QEMU PID {} RSS {} MiB",
        prepared.as_secs_f64(),
        guest.boot_time().as_secs_f64(),
        guest.accel(),
        process_cpu_time(guest.pid()).unwrap_or_default().as_secs_f64(),
        guest.pid(),
        guest.qemu_rss_kib().map_or(0, |k| k / 1024)
    );
    Ok(guest)
}
