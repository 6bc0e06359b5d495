//! R16 end to end, through the real binaries over real QUIC: the operator
//! publishes with `assent-relay release publish`, `assent-host upgrade`
//! checks, installs (the technician answers on stdin) and rolls back a copy
//! of a binary in a temporary directory. Every refusal leaves that binary
//! byte-identical with no stray file beside it. Tampering a relay could do
//! (a broken signature, other package bytes, a short package, a release
//! relabelled for this target) is done to the relay's SQLite file while the
//! relay runs.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::binary;
use support::lab::{self, Lab};

/// A lab whose host pinned the test release key at enrolment.
fn release_lab() -> Lab {
    Lab::start_with_release_key(
        lab::LabOptions {
            bin_dir: binary("assent-relay").parent().unwrap().to_path_buf(),
            host_binary: binary("assent-host"),
            model: "DxH 900".to_owned(),
            profile: None,
            keys: lab::LabKeys::Provided {
                operator: assent_proto::test_keys::key("operator"),
                viewer: assent_proto::test_keys::key("viewer"),
                host: assent_proto::test_keys::key("host"),
            },
            echo: false,
        },
        assent_proto::test_keys::key("release"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"))
}

const ALL_CAPABILITIES: &[&str] = &[
    "screen-view",
    "remote-control",
    "file-transfer",
    "notifications",
];
const WITHOUT_FILE_TRANSFER: &[&str] = &["screen-view", "remote-control", "notifications"];
/// Yes to the install and to each of the four capabilities. A binary no
/// release.toml record describes (other than the running program) is taken
/// to have none, so each capability of a release is asked about.
const APPROVE_ALL: &str = "y\napprove\napprove\napprove\napprove\n";

/// The binary being upgraded, alone in its own directory.
struct Installation {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl Installation {
    fn of(bytes: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("assent-host");
        std::fs::write(&binary, bytes).unwrap();
        make_executable(&binary);
        Self { dir, binary }
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.binary).unwrap()
    }

    fn previous(&self) -> PathBuf {
        self.dir.path().join("assent-host.previous")
    }

    /// Every name in the binary's directory, sorted.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The binary is `expected` to the byte and nothing else is beside it
    /// (no staging file, no `.previous` unless `with_previous`).
    fn assert_untouched(&self, expected: &[u8], with_previous: bool) {
        assert!(self.bytes() == expected, "the installed binary changed");
        let mut names = vec!["assent-host".to_owned()];
        if with_previous {
            names.push("assent-host.previous".to_owned());
        }
        assert_eq!(self.listing(), names, "stray files beside the binary");
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A small real executable that says which release it is.
fn script(version: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"assent-host {version} (test release)\"\n").into_bytes()
}

/// Writes PACKAGE and MANIFEST.toml for `version` and publishes them.
fn publish(lab: &Lab, package: &[u8], version: &str, capabilities: &[&str], extra: &str) {
    publish_signed(lab, package, version, capabilities, extra, None).unwrap();
}

fn publish_signed(
    lab: &Lab,
    package: &[u8],
    version: &str,
    capabilities: &[&str],
    extra: &str,
    key: Option<&Path>,
) -> anyhow::Result<String> {
    let dir = lab.path(&format!("release-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let package_path = dir.join("assent-host");
    std::fs::write(&package_path, package).unwrap();
    let manifest = dir.join("manifest.toml");
    let capabilities: Vec<_> = capabilities.iter().map(|c| format!("{c:?}")).collect();
    std::fs::write(
        &manifest,
        format!(
            "version = {version:?}\ncapabilities = [{}]\nnotes = \"Release {version}: fixes the flow cell counter.\"\n{extra}",
            capabilities.join(", ")
        ),
    )
    .unwrap();
    lab.publish_release(&package_path, &manifest, key)
}

/// `assent-host upgrade ARGS --binary BINARY` with `answers` typed on stdin.
fn upgrade(lab: &Lab, args: &[&str], binary: &Path, answers: &str) -> Output {
    let mut child = Command::new(&lab.host_binary)
        .arg("--data-dir")
        .arg(lab.host_dir())
        .arg("upgrade")
        .args(args)
        .arg("--binary")
        .arg(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(answers.as_bytes());
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn succeeded(out: &Output) -> bool {
    if !out.status.success() {
        eprintln!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
    }
    out.status.success()
}

fn upgrade_audit(lab: &Lab) -> String {
    lab.audit(&["--kind", "upgrade"]).unwrap()
}

/// The offer itself is refused: `check` says so (non-zero exit), and
/// `install` refuses it as [`assert_install_refused`] says.
fn assert_refused(lab: &Lab, installation: &Installation, reason: &str) {
    let check = upgrade(lab, &["check"], &installation.binary, "");
    assert!(
        !check.status.success(),
        "check accepted: {}",
        stdout(&check)
    );
    assert!(stderr(&check).contains(reason), "{}", stderr(&check));
    assert_install_refused(lab, installation, reason);
}

/// `install` refuses with `reason` before asking anything, the binary
/// stays exactly as it was, nothing is left beside it, and the refusal is
/// audited.
fn assert_install_refused(lab: &Lab, installation: &Installation, reason: &str) {
    let before = installation.bytes();
    // `check` may have audited a refusal already: this one must add its own.
    let audited_before = refusals_audited(lab);
    // Even a technician who says yes to everything cannot install it.
    let install = upgrade(lab, &["install"], &installation.binary, APPROVE_ALL);
    assert!(
        !install.status.success(),
        "install accepted: {}",
        stdout(&install)
    );
    assert!(stderr(&install).contains(reason), "{}", stderr(&install));
    assert!(
        !stdout(&install).contains("Install assent-host"),
        "the technician was asked about a refused release"
    );
    installation.assert_untouched(&before, false);
    assert_eq!(
        refusals_audited(lab),
        audited_before + 1,
        "the install's refusal was not audited:\n{}",
        upgrade_audit(lab)
    );
}

fn refusals_audited(lab: &Lab) -> usize {
    upgrade_audit(lab)
        .lines()
        .filter(|l| l.contains("step=refused"))
        .count()
}

#[test]
fn a_signed_release_installs_after_approval_and_the_new_binary_runs() {
    let lab = release_lab();
    let current = std::fs::read(binary("assent-host")).unwrap();
    // A real assent-host with bytes appended: it runs, and differs.
    let mut package = current.clone();
    package.extend_from_slice(b"\n# assent upgrade test release 9.9.9\n");
    publish(&lab, &package, "9.9.9", ALL_CAPABILITIES, "");
    let installation = Installation::of(&current);

    let check = upgrade(&lab, &["check"], &installation.binary, "");
    assert!(succeeded(&check));
    let said = stdout(&check);
    assert!(
        said.contains(&format!(
            "upgrade available: assent-host {} → 9.9.9",
            env!("CARGO_PKG_VERSION")
        )),
        "{said}"
    );
    assert!(said.contains("fixes the flow cell counter"), "{said}");
    // A copy is not the running program and no record describes it: what it
    // can do is unknown, so every capability is new.
    assert!(
        said.contains(
            "new capabilities (each asked separately): \
             screen-view, remote-control, file-transfer, notifications"
        ),
        "{said}"
    );

    // Yes to the release alone installs nothing.
    let refused = upgrade(&lab, &["install"], &installation.binary, "y\n");
    assert!(!refused.status.success());
    installation.assert_untouched(&current, false);

    let install = upgrade(
        &lab,
        &["install"],
        &installation.binary,
        "y\nscreen-view\nremote-control\nfile-transfer\nnotifications\n",
    );
    assert!(succeeded(&install));
    let asked = stdout(&install);
    for question in [
        "adds SCREEN VIEW",
        "adds REMOTE CONTROL",
        "ADDS FILE TRANSFER",
        "adds NOTIFICATIONS",
    ] {
        assert!(asked.contains(question), "{question} not asked:\n{asked}");
    }
    assert!(
        installation.bytes() == package,
        "the package was not installed"
    );
    assert!(std::fs::read(installation.previous()).unwrap() == current);
    assert_eq!(
        installation.listing(),
        ["assent-host", "assent-host.previous"]
    );
    let runs = Command::new(&installation.binary)
        .arg("--protocol-version")
        .output()
        .unwrap();
    assert!(runs.status.success());
    assert!(stdout(&runs).contains("assent wire protocol"), "{runs:?}");

    // The host now compares against what it installed.
    let again = upgrade(&lab, &["check"], &installation.binary, "");
    assert!(succeeded(&again));
    assert!(
        stdout(&again).contains("up to date: assent-host 9.9.9"),
        "{}",
        stdout(&again)
    );
    let audit = upgrade_audit(&lab);
    for step in ["step=available", "step=approved", "step=installed"] {
        assert!(audit.contains(step), "{step} missing from:\n{audit}");
    }
}

#[test]
fn rollback_restores_the_previous_binary_byte_identical() {
    let lab = release_lab();
    let old = script("0.1.0");
    let new = script("9.9.9");
    let (installation, _) = installed_release(&lab, "9.9.9", ALL_CAPABILITIES);
    let runs = Command::new(&installation.binary).output().unwrap();
    assert!(stdout(&runs).contains("assent-host 9.9.9"), "{runs:?}");

    // Not without a yes.
    let declined = upgrade(&lab, &["rollback"], &installation.binary, "");
    assert!(!declined.status.success());
    installation.assert_untouched(&new, true);

    let rolled_back = upgrade(&lab, &["rollback"], &installation.binary, "y\n");
    assert!(succeeded(&rolled_back));
    installation.assert_untouched(&old, false);
    assert!(upgrade_audit(&lab).contains("step=rolled_back"));

    // The installed release is the old one again; the release undone is not
    // offered again under its old signature (R16, R21), and there is
    // nothing left to undo.
    let check = upgrade(&lab, &["check"], &installation.binary, "");
    assert!(!check.status.success(), "{check:?}");
    assert!(
        stderr(&check).contains("release 9.9.9 refused")
            && stderr(&check).contains("was rolled back on this host"),
        "{check:?}"
    );
    let again = upgrade(&lab, &["install"], &installation.binary, "y\n");
    assert!(!again.status.success(), "{again:?}");
    installation.assert_untouched(&old, false);
    let nothing = upgrade(&lab, &["rollback"], &installation.binary, "y\n");
    assert!(!nothing.status.success());
    assert!(
        stderr(&nothing).contains("no previous binary"),
        "{nothing:?}"
    );
    installation.assert_untouched(&old, false);
}

#[test]
fn declining_or_not_answering_leaves_the_binary_unchanged() {
    let lab = release_lab();
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    let old = script("0.1.0");
    let installation = Installation::of(&old);
    for answers in ["n\n", "", "yes please\n"] {
        let out = upgrade(&lab, &["install"], &installation.binary, answers);
        assert!(!out.status.success(), "installed with {answers:?}");
        assert!(stderr(&out).contains("declined"), "{out:?}");
        installation.assert_untouched(&old, false);
    }
    assert!(upgrade_audit(&lab).contains("step=declined"));
}

/// Installs release 9.9.0, which drops file transfer (dropping a
/// capability needs no extra approval); returns the installation and 9.9.0.
/// A 0.1.0 binary upgraded, every question approved, to `version`
/// published with `capabilities`; returns it and the install's output.
fn installed_release(lab: &Lab, version: &str, capabilities: &[&str]) -> (Installation, Output) {
    publish(lab, &script(version), version, capabilities, "");
    let installation = Installation::of(&script("0.1.0"));
    let out = upgrade(lab, &["install"], &installation.binary, APPROVE_ALL);
    assert!(succeeded(&out));
    (installation, out)
}

/// The host's instrument becomes a model that holds patient data (R11).
fn reclassify_as_phi(lab: &Lab) {
    let config = lab.host_dir().join("host.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("DxH 900", "Navios EX")).unwrap();
}

fn installed_without_file_transfer(lab: &Lab) -> (Installation, Vec<u8>) {
    let (installation, out) = installed_release(lab, "9.9.0", WITHOUT_FILE_TRANSFER);
    assert!(!stdout(&out).contains("ADDS"), "{out:?}");
    let first = script("9.9.0");
    assert!(installation.bytes() == first);
    (installation, first)
}

#[test]
fn a_release_adding_file_transfer_needs_its_own_approval() {
    let lab = release_lab();
    let (installation, first) = installed_without_file_transfer(&lab);

    publish(&lab, &script("9.9.1"), "9.9.1", ALL_CAPABILITIES, "");
    let check = upgrade(&lab, &["check"], &installation.binary, "");
    assert!(
        stdout(&check).contains("new capabilities (each asked separately): file-transfer"),
        "{check:?}"
    );
    // "y" to the release and "y" to file transfer is not enough.
    for answers in ["y\ny\n", "y\n", "y\nno\n"] {
        let out = upgrade(&lab, &["install"], &installation.binary, answers);
        assert!(!out.status.success(), "installed with {answers:?}");
        assert!(stdout(&out).contains("ADDS FILE TRANSFER"), "{out:?}");
        installation.assert_untouched(&first, true);
    }
    assert!(upgrade_audit(&lab).contains("step=capability_declined"));

    let approved = upgrade(
        &lab,
        &["install"],
        &installation.binary,
        "y\nfile-transfer\n",
    );
    assert!(succeeded(&approved));
    assert!(installation.bytes() == script("9.9.1"));
    let audit = upgrade_audit(&lab);
    assert!(audit.contains("step=capability_approved"), "{audit}");
    assert!(audit.contains("detail=file-transfer"), "{audit}");
}

#[test]
fn a_phi_instrument_refuses_a_release_that_adds_file_transfer() {
    let lab = release_lab();
    let (installation, first) = installed_without_file_transfer(&lab);
    // This host is now a Navios EX (R11), running a build without file transfer.
    reclassify_as_phi(&lab);

    publish(&lab, &script("9.9.1"), "9.9.1", ALL_CAPABILITIES, "");
    let check = upgrade(&lab, &["check"], &installation.binary, "");
    assert!(!check.status.success());
    assert!(stderr(&check).contains("holds patient data"), "{check:?}");
    let out = upgrade(
        &lab,
        &["install"],
        &installation.binary,
        "y\nfile-transfer\n",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("holds patient data"), "{out:?}");
    assert!(!stdout(&out).contains("Install assent-host"), "{out:?}");
    installation.assert_untouched(&first, true);
}

#[test]
fn a_phi_instrument_refuses_a_file_transfer_release_even_with_file_transfer_installed() {
    let lab = release_lab();
    // Installed while the host was a DxH 900: release.toml lists file transfer.
    let (installation, _) = installed_release(&lab, "9.9.0", ALL_CAPABILITIES);
    reclassify_as_phi(&lab);

    publish(&lab, &script("9.9.1"), "9.9.1", ALL_CAPABILITIES, "");
    let before = refusals_audited(&lab);
    let out = upgrade(&lab, &["install"], &installation.binary, APPROVE_ALL);
    assert!(!out.status.success(), "installed: {out:?}");
    assert!(stderr(&out).contains("holds patient data"), "{out:?}");
    assert!(stderr(&out).contains("PHI build"), "{out:?}");
    assert!(!stdout(&out).contains("Install assent-host"), "{out:?}");
    installation.assert_untouched(&script("9.9.0"), true);
    assert_eq!(refusals_audited(&lab), before + 1);

    // The PHI build of the same release installs.
    publish(&lab, &script("9.9.2"), "9.9.2", WITHOUT_FILE_TRANSFER, "");
    let out = upgrade(&lab, &["install"], &installation.binary, "y\n");
    assert!(succeeded(&out));
    assert!(installation.bytes() == script("9.9.2"));
}

/// `assent-host upgrade rollback` with the technician's answer held back
/// until `meanwhile` has run.
fn rollback_answering_after(
    lab: &Lab,
    installation: &Installation,
    meanwhile: impl FnOnce(),
) -> Output {
    use std::io::BufRead;
    let mut child = Command::new(&lab.host_binary)
        .arg("--data-dir")
        .arg(lab.host_dir())
        .args(["upgrade", "rollback", "--binary"])
        .arg(&installation.binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("Roll back") {
        line.clear();
        assert!(said.read_line(&mut line).unwrap() > 0, "never asked");
    }
    meanwhile();
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut said, &mut rest).unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stdout = rest;
    out
}

#[test]
fn a_kept_binary_changed_while_the_rollback_question_waits_is_not_restored() {
    let lab = release_lab();
    let (installation, _) = installed_release(&lab, "9.9.9", ALL_CAPABILITIES);
    let planted = script("6.6.6 (planted)");
    let out = rollback_answering_after(&lab, &installation, || {
        std::fs::write(installation.previous(), &planted).unwrap();
    });
    assert!(!out.status.success(), "restored: {out:?}");
    assert!(
        stderr(&out).contains("is not the binary the last install kept"),
        "{out:?}"
    );
    assert!(installation.bytes() == script("9.9.9"));
    assert!(std::fs::read(installation.previous()).unwrap() == planted);
}

#[test]
fn a_previous_binary_no_record_describes_is_restored_only_with_force() {
    let lab = release_lab();
    let installation = Installation::of(&script("9.9.9"));
    std::fs::write(installation.previous(), script("0.1.0")).unwrap();
    let out = upgrade(&lab, &["rollback"], &installation.binary, "y\n");
    assert!(!out.status.success(), "restored: {out:?}");
    assert!(stderr(&out).contains("--force"), "{out:?}");
    assert!(!stdout(&out).contains("Roll back"), "asked: {out:?}");
    installation.assert_untouched(&script("9.9.9"), true);

    let out = upgrade(&lab, &["rollback", "--force"], &installation.binary, "y\n");
    assert!(succeeded(&out));
    installation.assert_untouched(&script("0.1.0"), false);
}

#[test]
fn a_manifest_whose_signature_does_not_verify_is_refused() {
    let lab = release_lab();
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    // Flip the last byte of the stored signature; the signer is unchanged.
    support::relay_sql(
        &lab,
        "UPDATE releases SET signed = CAST(substr(signed, 1, length(signed) - 1) || \
         CASE WHEN substr(signed, -1) = X'00' THEN X'01' ELSE X'00' END AS BLOB);",
    );
    let installation = Installation::of(&script("0.1.0"));
    assert_refused(&lab, &installation, "signature does not verify");
}

#[test]
fn a_release_signed_by_a_key_other_than_the_pinned_one_is_refused() {
    let lab = release_lab();
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    // This host pinned another release key than the one the relay signs with.
    let other = assent_proto::test_keys::key("other");
    std::fs::write(
        lab.host_dir().join("release.pub.pem"),
        other.public().to_spki_pem(),
    )
    .unwrap();
    let installation = Installation::of(&script("0.1.0"));
    assert_refused(&lab, &installation, "not the release key");
}

#[test]
fn the_relay_refuses_to_publish_with_a_key_hosts_do_not_pin() {
    let lab = release_lab();
    let other = lab.path("other.key");
    assent_proto::test_keys::key("other").save(&other).unwrap();
    let refused = publish_signed(
        &lab,
        &script("9.9.9"),
        "9.9.9",
        ALL_CAPABILITIES,
        "",
        Some(&other),
    );
    assert!(refused.is_err(), "published with a key hosts do not pin");
    let installation = Installation::of(&script("0.1.0"));
    let check = upgrade(&lab, &["check"], &installation.binary, "");
    assert!(succeeded(&check));
    assert!(stdout(&check).contains("up to date"), "{check:?}");
}

/// A valid release whose stored package the relay then alters with `sql`:
/// `install` refuses it with `reason`.
fn assert_altered_package_refused(sql: &str, reason: &str) {
    let lab = release_lab();
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    support::relay_sql(&lab, sql);
    let installation = Installation::of(&script("0.1.0"));
    assert_install_refused(&lab, &installation, reason);
}

#[test]
fn a_package_whose_bytes_do_not_match_the_signed_hash_is_refused() {
    assert_altered_package_refused(
        "UPDATE release_package_pieces SET data = zeroblob(length(data));",
        "does not match its signed manifest",
    );
}

#[test]
fn a_truncated_package_is_refused() {
    assert_altered_package_refused(
        "UPDATE release_package_pieces SET data = substr(data, 1, 10);",
        "bytes arrived",
    );
}

#[test]
fn an_older_release_is_refused_unless_signed_as_a_rollback() {
    let lab = release_lab();
    // Older than this build (the first publication needs no rollback flag
    // at the relay: nothing newer is published there).
    publish(&lab, &script("0.0.9"), "0.0.9", ALL_CAPABILITIES, "");
    let installation = Installation::of(&script("0.1.0"));
    assert_refused(&lab, &installation, "older than the installed");

    publish(&lab, &script("9.9.0"), "9.9.0", ALL_CAPABILITIES, "");
    let out = upgrade(&lab, &["install"], &installation.binary, APPROVE_ALL);
    assert!(succeeded(&out));
    // Signed as rolling back the published 9.9.0, which this host runs.
    publish(
        &lab,
        &script("0.0.8"),
        "0.0.8",
        ALL_CAPABILITIES,
        "rollback = true\n",
    );
    let out = upgrade(&lab, &["install"], &installation.binary, "y\n");
    assert!(succeeded(&out));
    assert!(stdout(&out).contains("signed by the operator as a rollback"));
    assert!(installation.bytes() == script("0.0.8"));
}

/// Writes release.toml as `upgrade install` would after putting
/// `version` (with every capability) at `installation`.
fn record_installed(lab: &Lab, installation: &Installation, version: &str) {
    use sha2::Digest;
    let sha256: String = sha2::Sha256::digest(installation.bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let capabilities: Vec<_> = ALL_CAPABILITIES.iter().map(|c| format!("{c:?}")).collect();
    let record = format!(
        "binary = {:?}\n\n[installed]\nversion = {version:?}\ncomponent = \"assent-host\"\n\
         target = \"{}-unknown-linux-gnu\"\nsha256 = {sha256:?}\ncapabilities = [{}]\n",
        installation.binary.canonicalize().unwrap(),
        std::env::consts::ARCH,
        capabilities.join(", ")
    );
    std::fs::write(lab.host_dir().join("release.toml"), record).unwrap();
}

#[test]
fn a_rollback_installs_only_on_a_host_running_the_release_it_rolls_back() {
    let lab = release_lab();
    publish(&lab, &script("2.0.0"), "2.0.0", ALL_CAPABILITIES, "");
    // Signed by the relay as rolling back from 2.0.0, the latest published.
    publish(
        &lab,
        &script("1.5.0"),
        "1.5.0",
        ALL_CAPABILITIES,
        "rollback = true\n",
    );

    // A host at 3.0.0 (say, installed from another relay): a downgrade.
    let ahead = Installation::of(&script("3.0.0"));
    record_installed(&lab, &ahead, "3.0.0");
    assert_refused(&lab, &ahead, "older than the installed 3.0.0");

    // A host at 2.0.0 takes it, as the rollback it was signed to be.
    let at_2 = Installation::of(&script("2.0.0"));
    record_installed(&lab, &at_2, "2.0.0");
    let out = upgrade(&lab, &["install"], &at_2.binary, "y\n");
    assert!(succeeded(&out));
    assert!(
        stdout(&out).contains("assent-host 2.0.0 → 1.5.0"),
        "{out:?}"
    );
    assert!(stdout(&out).contains("signed by the operator as a rollback"));
    assert!(at_2.bytes() == script("1.5.0"));
}

#[test]
fn a_release_for_another_target_is_refused() {
    let lab = release_lab();
    publish(
        &lab,
        &script("9.9.9"),
        "9.9.9",
        ALL_CAPABILITIES,
        "target = \"aarch64-unknown-linux-gnu\"\n",
    );
    // The relay files it under this host's target; the signed manifest still says aarch64.
    let ours = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    support::relay_sql(&lab, &format!("UPDATE releases SET target = '{ours}';"));
    let installation = Installation::of(&script("0.1.0"));
    assert_refused(&lab, &installation, "built for aarch64-unknown-linux-gnu");
}

#[test]
fn upgrade_commands_refuse_without_a_pinned_release_key() {
    let lab = release_lab();
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    std::fs::remove_file(lab.host_dir().join("release.pub.pem")).unwrap();
    let installation = Installation::of(&script("0.1.0"));
    for command in ["check", "install"] {
        let out = upgrade(&lab, &[command], &installation.binary, "y\n");
        assert!(!out.status.success());
        assert!(stderr(&out).contains("no release key is pinned"), "{out:?}");
    }
    installation.assert_untouched(&script("0.1.0"), false);
}

#[test]
fn enrolment_pins_the_release_key_and_refuses_the_operator_key_in_its_place() {
    let lab = release_lab();
    let pinned = std::fs::read(lab.host_dir().join("release.pub.pem")).unwrap();
    let published_with = std::fs::read(lab.relay_dir().join(lab::RELEASE_PUB)).unwrap();
    assert_eq!(pinned, published_with);

    let data = lab.path("host-2");
    let operator_key = lab.relay_dir().join("operator.pub.pem");
    let out = lab
        .enroll_another(&data, "DxH 900")
        .unwrap()
        .arg("--release-key")
        .arg(&operator_key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("distinct key"), "{out:?}");
    assert!(!data.join("host.toml").exists());
    assert!(!data.join("release.pub.pem").exists());
}

/// `assent-relay notifications list` for the lab's host.
fn relay_notifications(lab: &Lab) -> String {
    stdout(
        &Command::new(lab.bin("assent-relay"))
            .arg("--data-dir")
            .arg(lab.relay_dir())
            .args(["notifications", "list", "--host", &lab.host_id])
            .output()
            .unwrap(),
    )
}

/// `assent-host run` checking for upgrades every 300 ms, once online.
fn run_service(lab: &Lab) -> lab::Proc {
    let run = lab::Proc::spawn(
        "assent-host run",
        Command::new(&lab.host_binary)
            .arg("--data-dir")
            .arg(lab.host_dir())
            .args(["run", "--upgrade-check-ms", "300"])
            .env_remove("DISPLAY"),
    );
    run.wait_for("online as");
    run
}

/// The relay's notification list once it holds `needle` (polled: the host
/// reports in its own time), within a minute.
fn relay_notification_arrives(lab: &Lab, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut list = relay_notifications(lab);
    while !list.contains(needle) {
        assert!(Instant::now() < deadline, "never at the relay:\n{list}");
        std::thread::sleep(Duration::from_millis(200));
        list = relay_notifications(lab);
    }
    list
}

#[test]
fn the_running_service_tells_the_technician_and_support_when_a_release_is_available() {
    let lab = release_lab();
    let mut run = run_service(&lab);
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    // On the technician's terminal, from the periodic check...
    run.wait_for("Upgrade available: assent-host 9.9.9");
    // ...and at the relay for support.
    let list = relay_notification_arrives(&lab, "id=assent.upgrade ");
    assert!(
        list.contains("Upgrade available: assent-host 9.9.9"),
        "{list}"
    );
    // Several periods later the finding is still audited once.
    std::thread::sleep(Duration::from_secs(2));
    let audit = upgrade_audit(&lab);
    let available = audit.lines().filter(|l| l.contains("step=available"));
    assert_eq!(available.count(), 1, "{audit}");
    run.kill();
}

#[test]
fn a_stale_freshness_statement_warns_the_technician_and_support() {
    let lab = release_lab();
    let mut run = run_service(&lab);
    publish(&lab, &script("9.9.9"), "9.9.9", ALL_CAPABILITIES, "");
    run.wait_for("Upgrade available: assent-host 9.9.9");
    // The operator's statement runs out (here: signed already expired), so
    // the relay could be holding a newer release back (issue 13 item 5).
    let attest = Command::new(lab.bin("assent-relay"))
        .arg("--data-dir")
        .arg(lab.relay_dir())
        .args(["release", "attest", "--valid", "0"])
        .env_remove("ASSENT_RELAY_DATA_KEY")
        .output()
        .unwrap();
    assert!(attest.status.success(), "{attest:?}");
    assert!(
        stdout(&attest).contains("attested assent-host 9.9.9 for"),
        "{attest:?}"
    );
    run.wait_for("Release information from the relay is stale");
    relay_notification_arrives(&lab, "id=assent.upgrade.freshness ");
    run.kill();
}
