//! `sumac`: the SPICE desktop client (GTK4). Everything lives in [`sumac::app`].

fn main() -> std::process::ExitCode {
    sumac::app::run()
}
