//! `assent-demo`: a complete support session on loopback (README command 1
//! runs it through `scripts/demo.sh`). It starts a relay with a fresh
//! pinned certificate, creates the operator and engineer identities,
//! allowlists the engineer, enrols a host whose screen is an Xvfb display
//! running the synthetic instrument panel, opens a support request and
//! connects the viewer with the one-time password. You play the technician:
//! the host's consent prompts appear here and your answers go to it
//! (`--yes` answers yes for you). With a display the viewer window opens;
//! without one it writes PNG screenshots and prints statistics. At the end
//! the relay's audit trail of the session is printed.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use assent::lab::{self, Lab, LabKeys, LabOptions, Proc};

struct Options {
    yes: bool,
    headless: bool,
    seconds: u64,
    out: PathBuf,
}

const HELP: &str = "\
assent-demo: a complete Assent support session on loopback.

Usage: assent-demo [--yes] [--headless] [--seconds N] [--out DIR]

  --yes         answer the technician's consent prompts with yes (otherwise
                you answer them: type y or n and Enter)
  --headless    no viewer window even if a display is available: write PNG
                screenshots and print session statistics instead
  --seconds N   how long the engineer stays connected (default 20)
  --out DIR     where screenshots go (default ./assent-demo-out)

Ctrl-C ends everything cleanly.";

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        yes: false,
        headless: std::env::var_os("DISPLAY").is_none(),
        seconds: 20,
        out: PathBuf::from("assent-demo-out"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--yes" | "-y" => options.yes = true,
            "--headless" => options.headless = true,
            "--seconds" => {
                options.seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("--seconds needs a positive number")?
            }
            "--out" => options.out = args.next().ok_or("--out needs a directory")?.into(),
            "--help" | "-h" => return Err(HELP.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n\n{HELP}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            println!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assent-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("locating the Assent programs")?
        .to_path_buf();
    println!("== Assent demo: relay, host and viewer on this machine (loopback only)");
    println!("== creating identities (three RSA-4096 keys: this takes a little while)");
    let lab = Lab::start(LabOptions {
        host_binary: bin_dir.join("assent-host"),
        bin_dir,
        model: "AQUIOS CL (demo)".into(),
        // The demo instrument holds no patient data; its token says so
        // explicitly, as an operator's would (R11).
        profile: Some(assent_proto::instrument::InstrumentProfile::NoPhi),
        keys: LabKeys::Generated,
        echo: true,
    })?;
    println!(
        "== relay on {} (pin {}); host enrolled as {}",
        lab.relay_addr, lab.relay_pin, lab.host_id
    );
    let _panel = lab.instrument_panel(false)?;
    println!(
        "== instrument screen running on Xvfb display {}",
        lab.xvfb.display()
    );

    let (host, password) = lab.start_support(
        &["--consent-timeout", "60", "--prompt", "auto"],
        Some("[host] "),
    )?;
    let host = Arc::new(Mutex::new(host));
    answer_prompts(host.clone(), options.yes);

    std::fs::create_dir_all(&options.out)?;
    let screenshot = options.out.join("screen.png");
    let seconds = options.seconds.to_string();
    let shot = screenshot.to_string_lossy().into_owned();
    let mut args = vec!["--request", "screen,control"];
    if options.headless {
        // The engineer types into the instrument once control is granted.
        args.extend([
            "--headless",
            "--duration",
            &seconds,
            "--stats",
            "--screenshot",
            &shot,
        ]);
        args.extend(["--type", "hello from support\n"]);
    } else {
        println!("== the viewer window opens; close it to end the session");
    }
    println!("== the engineer connects with the one-time password {password}");
    let mut viewer = lab.start_viewer(&lab.viewer_identity, &password, &args, Some("[viewer] "))?;
    // Headless runs end by themselves; a window stays until it is closed.
    let limit = if options.headless {
        options.seconds + 120
    } else {
        24 * 3600
    };
    let status = viewer.wait_exit_within(Duration::from_secs(limit));
    if let Ok(mut host) = host.lock() {
        host.type_line("q");
        let _ = host.wait_exit_within(Duration::from_secs(10));
    }
    if options.headless && screenshot.exists() {
        println!(
            "== screenshot of the instrument as the engineer saw it: {}",
            screenshot.display()
        );
    }
    println!("== the relay's audit trail for host {}:", lab.host_id);
    print!("{}", lab.audit(&["--host", &lab.host_id])?);
    match status {
        Some(status) if status.success() => Ok(()),
        Some(_) => anyhow::bail!(
            "the viewer reported a problem: {}",
            viewer.stderr_text().trim()
        ),
        None => anyhow::bail!("the viewer did not finish"),
    }
}

/// The technician's side: every consent prompt of the host is answered by
/// the person at this terminal, or with yes under `--yes`.
fn answer_prompts(host: Arc<Mutex<Proc>>, yes: bool) {
    if yes {
        std::thread::spawn(move || {
            let mut answered = 0;
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let Ok(mut host) = host.lock() else { return };
                let prompts = host
                    .lines()
                    .iter()
                    .filter(|l| l.starts_with(lab::ANSWER_NOW))
                    .count();
                while answered < prompts {
                    println!("[demo] answering yes for the technician");
                    host.type_line("y");
                    answered += 1;
                }
            }
        });
    } else {
        println!("== you are the technician: answer the host's prompts with y or n and Enter");
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                let Ok(mut host) = host.lock() else { return };
                host.type_line(&line);
            }
        });
    }
}
