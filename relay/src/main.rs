//! `assent-relay`: the QUIC relay operators deploy. It brokers hosts and viewers
//! and forwards end-to-end encrypted sessions it cannot read (R1–R3).
//!
//! This is the foundation build: the command line is in place; serving arrives
//! with the relay issue.

use clap::Parser;

/// Assent relay: brokers instrument hosts and support viewers over QUIC and
/// forwards their end-to-end encrypted sessions without being able to read them.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Print the wire protocol version this relay speaks and exit.
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
        "assent-relay: serving is not built yet (see the relay issue); run with --help for options"
    );
    std::process::exit(2);
}
