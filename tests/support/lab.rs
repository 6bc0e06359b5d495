//! A whole support lab on loopback for end-to-end tests, through the real
//! binaries: an Xvfb display with the instrument panel, `assent-relay serve`
//! on a fresh data directory, an enrolled `assent-host`, and an allowlisted
//! engineer identity for `assent-viewer`. Keys come from the shared test-key
//! cache (RSA-4096 generation is slow); everything else is real.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use assent_proto::identity::Identity;

use super::binary;
use super::xvfb::Xvfb;

pub const ENGINEER_EMAIL: &str = "erin@support.example";
pub const SCREEN: (u32, u32) = (800, 600);
const WAIT: Duration = Duration::from_secs(60);

/// A child process whose stdout lines (and stderr) are collected as they come.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(name: &str, command: &mut Command) -> Proc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (lines, ready) = &*sink;
                lines.lock().unwrap().push(line);
                ready.notify_all();
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let err_sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err_sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types a line into the program's stdin (ignored once it exited: a
    /// refused viewer may be gone before its password is typed).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the first stdout line (from `from` on) containing `needle`;
    /// returns it and its index.
    pub fn wait_for_from(&self, from: usize, needle: &str) -> (usize, String) {
        let deadline = Instant::now() + WAIT;
        let (lines, ready) = &*self.lines;
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(i) = guard.iter().skip(from).position(|l| l.contains(needle)) {
                return (from + i, guard[from + i].clone());
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "{} never printed {needle:?}.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                guard.join("\n"),
                self.stderr.lock().unwrap()
            );
            guard = ready.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_from(0, needle).1
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    pub fn stdout_text(&self) -> String {
        self.lines().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to exit (bounded) and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout_text(),
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The demo instrument screen on the lab's display.
pub fn instrument_panel(display: &str, still: bool) -> Proc {
    let mut command = Command::new(env!("CARGO_BIN_EXE_assent-instrument-panel"));
    command.env("DISPLAY", display);
    if still {
        command.arg("--still");
    }
    let panel = Proc::spawn("assent-instrument-panel", &mut command);
    panel.wait_for("ready");
    panel
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub xvfb: Xvfb,
    pub relay: Proc,
    pub relay_addr: String,
    pub relay_pin: String,
    pub host_id: String,
    pub viewer_identity: PathBuf,
}

impl Lab {
    /// Relay up, operator key in place, engineer allowlisted, host enrolled.
    pub fn start(model: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let xvfb = Xvfb::start(SCREEN.0, SCREEN.1);
        let relay_dir = dir.path().join("relay");
        std::fs::create_dir_all(&relay_dir).unwrap();
        save_key(&assent_proto::test_keys::operator(), &relay_dir.join("operator.key"));
        let operator_pub = relay_dir.join("operator.pub.pem");
        std::fs::write(
            &operator_pub,
            assent_proto::test_keys::operator().public().to_spki_pem(),
        )
        .unwrap();
        let config = relay_dir.join("relay.toml");
        std::fs::write(
            &config,
            "[lockout]\nbase_wait_secs = 1\nmax_wait_secs = 4\nburn_after = 20\n",
        )
        .unwrap();

        let viewer_dir = dir.path().join("viewer");
        std::fs::create_dir_all(&viewer_dir).unwrap();
        let viewer_identity = viewer_dir.join("viewer.key");
        let viewer = assent_proto::test_keys::viewer();
        save_key(&viewer, &viewer_identity);
        let viewer_pub = viewer_dir.join("viewer.pub.pem");
        std::fs::write(&viewer_pub, viewer.public().to_spki_pem()).unwrap();

        let mut relay = Proc::spawn(
            "assent-relay",
            Command::new(binary("assent-relay"))
                .arg("--config")
                .arg(&config)
                .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
                .arg("--data-dir")
                .arg(&relay_dir)
                .env_remove("ASSENT_RELAY_DATA_KEY"),
        );
        let pin = relay
            .wait_for("relay certificate fingerprint: ")
            .split_once(": ")
            .unwrap()
            .1
            .to_owned();
        let relay_addr = relay
            .wait_for("listening on ")
            .trim_start_matches("listening on ")
            .to_owned();
        relay.close_stdin();
        relay_admin(
            &relay_dir,
            &["allowlist", "add", "--name", "Erin Engineer", "--email", ENGINEER_EMAIL, "--key"],
            &viewer_pub,
        );

        let host_dir = dir.path().join("host");
        std::fs::create_dir_all(&host_dir).unwrap();
        save_key(&assent_proto::test_keys::host(), &host_dir.join("host.key"));
        let mut enroll = Proc::spawn(
            "assent-host enroll",
            Command::new(binary("assent-host"))
                .arg("--data-dir")
                .arg(&host_dir)
                .args(["enroll", "--relay", &relay_addr, "--relay-pin", &pin])
                .arg("--operator-key")
                .arg(&operator_pub)
                .args([
                    "--email",
                    "tess@lab.example",
                    "--name",
                    "Tess Technician",
                    "--model",
                    model,
                    "--instrument-id",
                    "INSTR-7",
                    "--serial",
                    "SN-1234",
                ]),
        );
        let host_id = enroll
            .wait_for("enrolled: host ID ")
            .trim_start_matches("enrolled: host ID ")
            .to_owned();
        assert!(enroll.wait_exit().success(), "{}", enroll.stderr_text());
        Lab {
            dir,
            xvfb,
            relay,
            relay_addr,
            relay_pin: pin,
            host_id,
            viewer_identity,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `assent-host support` on the lab display; returns it and the password.
    pub fn support(&self, extra: &[&str]) -> (Proc, String) {
        let mut command = Command::new(binary("assent-host"));
        command
            .arg("--data-dir")
            .arg(self.path("host"))
            .args(["support", "--display", self.xvfb.display()])
            .args(extra)
            .env("DISPLAY", self.xvfb.display());
        let host = Proc::spawn("assent-host support", &mut command);
        let password = host
            .wait_for("one-time password:")
            .split_once(':')
            .unwrap()
            .1
            .trim()
            .to_owned();
        host.wait_for("Waiting for the engineer");
        (host, password)
    }

    /// `assent-viewer connect --headless` with the password on stdin. The
    /// first login from this device needs the e-mailed code: it is read from
    /// the relay's outbox and typed in, as the engineer would.
    pub fn viewer(&self, password: &str, args: &[&str]) -> Proc {
        self.viewer_as(&self.viewer_identity, password, args)
    }

    pub fn viewer_as(&self, identity: &Path, password: &str, args: &[&str]) -> Proc {
        let mut viewer = Proc::spawn(
            "assent-viewer",
            Command::new(binary("assent-viewer"))
                .arg("--identity")
                .arg(identity)
                .args(["connect", &self.host_id, "--relay", &self.relay_addr])
                .args(["--relay-pin", &self.relay_pin, "--password-stdin", "--headless"])
                .args(args)
                .env_remove("DISPLAY"),
        );
        let outbox = self.path("relay").join("outbox");
        // Either the code is asked for, or the login went straight through.
        let deadline = Instant::now() + WAIT;
        loop {
            let text = viewer.stdout_text();
            if text.contains("code") && text.contains("e-mail") {
                let code = assent_relay::notifier::OutboxNotifier::read_latest_code(
                    &outbox,
                    ENGINEER_EMAIL,
                )
                .unwrap()
                .expect("a location code was e-mailed");
                viewer.type_line(code.as_str());
                break;
            }
            if text.contains("host key") || text.contains("refused") || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        viewer.type_line(password);
        viewer
    }
}

fn save_key(identity: &Identity, path: &Path) {
    let _ = std::fs::remove_file(path);
    identity.save(path).unwrap();
}

fn relay_admin(relay_dir: &Path, args: &[&str], last: &Path) {
    let out = Command::new(binary("assent-relay"))
        .arg("--data-dir")
        .arg(relay_dir)
        .args(args)
        .arg(last)
        .env_remove("ASSENT_RELAY_DATA_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "assent-relay {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
