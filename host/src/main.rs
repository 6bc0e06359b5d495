//! `assent-host`: the instrument-side agent a technician runs; it opens support requests
//! and enforces consent (R5, R9, R10).
//!
//! This is the foundation build: the command line is in place; the session arrives
//! with the host and viewer issue.

use clap::Parser;

/// Assent host: runs on the instrument PC; the technician starts support
/// requests here and approves each capability an engineer asks for.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Print the wire protocol version this host speaks and exit.
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
        "assent-host: support sessions are not built yet (see the host and viewer issue); run with --help for options"
    );
    std::process::exit(2);
}
