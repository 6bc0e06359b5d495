//! `assent-viewer`: the support engineer's client; it connects through the relay
//! to a host that has opened a support request (R1, R4, R5).
//!
//! This is the foundation build: the command line is in place; sessions arrive
//! with the host and viewer issue.

use clap::Parser;

/// Assent viewer: the support engineer connects to an instrument host
/// through the relay with the technician's one-time password.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Print the wire protocol version this viewer speaks and exit.
    #[arg(long)]
    protocol_version: bool,
}

fn main() {
    let cli = Cli::parse();
    if cli.protocol_version {
        println!(
            "assent wire protocol v{}",
            assent_proto::wire::PROTOCOL_VERSION
        );
        return;
    }
    eprintln!(
        "assent-viewer: connecting is not built yet (see the host and viewer issue); run with --help for options"
    );
    std::process::exit(2);
}
