//! R11: the PHI build of `assent-host` (`--no-default-features`) carries no
//! file-transfer code at all, and tells an engineer who asks for file
//! transfer exactly why it is refused.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use support::binary;

/// The PHI host, built once into its own target directory (the same binary
/// name as the full build, so it cannot share `target/debug`).
fn phi_host() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let target = root.join("target").join("phi");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "assent-host",
                    "--no-default-features",
                ])
                .arg("--target-dir")
                .arg(&target)
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building the PHI host failed");
            target.join("debug").join("assent-host")
        })
        .clone()
}

/// Symbol names in a binary mentioning `needle` (demangled).
fn symbols_mentioning(binary: &std::path::Path, needle: &str) -> Vec<String> {
    let out = Command::new("nm")
        .arg("-C")
        .arg(binary)
        .output()
        .expect("nm (binutils) is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_phi_host_binary_has_no_file_transfer_symbols() {
    // The check can see them: the full build has plenty.
    let full = symbols_mentioning(&binary("assent-host"), "file_transfer");
    assert!(
        !full.is_empty(),
        "nm found no file_transfer symbols in the full build"
    );
    let phi = symbols_mentioning(&phi_host(), "file_transfer");
    assert!(
        phi.is_empty(),
        "the PHI build contains file-transfer code:\n{}",
        phi.join("\n")
    );
    let exchange = symbols_mentioning(&phi_host(), "file_exchange");
    assert!(exchange.is_empty(), "{}", exchange.join("\n"));
}

#[test]
fn a_phi_host_refuses_file_transfer_with_a_clear_reason() {
    let lab = support::lab_with("Navios EX", phi_host());
    let (mut host, password) = lab.support(&[]);
    let mut viewer = lab.viewer(&password, &["--request", "files", "--duration", "5"]);
    support::lab::admit_engineer(&mut host);
    viewer.wait_for("file transfer is not available on this instrument");
    let _ = viewer.wait_exit();
    host.type_line("q");
    let _ = host.wait_exit();
    assert!(
        !host.stdout_text().contains("asks for FILE TRANSFER"),
        "the technician was never asked"
    );
}

#[test]
fn enrolling_a_phi_model_with_a_full_build_needs_explicit_approval() {
    let lab = support::lab("DxH 900");
    let data = lab.path("host-navios");
    let enroll = |extra: &[&str], stdin: &str| {
        let mut child = lab
            .enroll_another(&data, "Navios EX")
            .unwrap()
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    };
    std::fs::create_dir_all(&data).unwrap();
    assent_proto::test_keys::other()
        .save(&data.join("host.key"))
        .unwrap();

    let refused = enroll(&[], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--approve-file-transfer"));
    let not_confirmed = enroll(&["--approve-file-transfer"], "no\n");
    assert!(!not_confirmed.status.success());
    assert!(
        !data.join("host.toml").exists(),
        "nothing enrolled without the second yes"
    );
    let approved = enroll(&["--approve-file-transfer"], "approve\n");
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let audit = lab
        .audit(&["--kind", "file_transfer_capability_approved"])
        .unwrap();
    assert!(
        audit.contains("file_transfer_capability_approved"),
        "{audit}"
    );
}
