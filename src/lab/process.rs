//! A child process of the lab whose stdout lines (and stderr) are collected
//! as they come, so a caller can wait for a line, answer a prompt on its
//! stdin, and read everything it said. Killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a lab waits for any one thing.
pub const WAIT: Duration = Duration::from_secs(180);

/// A child process whose stdout lines (and stderr) are collected as they come.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    stderr: Arc<Mutex<String>>,
    /// Closed by each pipe reader when it has read everything, so
    /// [`Self::wait_exit`] returns only with the whole output collected.
    readers_done: mpsc::Receiver<()>,
}

impl Proc {
    /// Starts `command`; panics when it cannot (tests).
    pub fn spawn(name: &str, command: &mut Command) -> Proc {
        Self::start(name, command, None).unwrap_or_else(|e| panic!("start {name}: {e}"))
    }

    /// Starts `command`; with `echo`, each stdout line is also printed to
    /// our stdout behind that prefix as it arrives (the demo).
    pub fn start(name: &str, command: &mut Command, echo: Option<&str>) -> std::io::Result<Proc> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let sink = lines.clone();
        let echo = echo.map(str::to_owned);
        let (done, readers_done) = mpsc::channel::<()>();
        let stdout_done = done.clone();
        std::thread::spawn(move || {
            let _done = stdout_done;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(prefix) = &echo {
                    println!("{prefix}{line}");
                }
                let (lines, ready) = &*sink;
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                ready.notify_all();
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr is piped");
        let err_sink = stderr.clone();
        std::thread::spawn(move || {
            let _done = done;
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err_sink
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Ok(Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            readers_done,
        })
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
        self.try_wait_for_from(from, needle)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Self::wait_for_from`] as an error rather than a panic.
    pub fn try_wait_for_from(&self, from: usize, needle: &str) -> Result<(usize, String), String> {
        let deadline = Instant::now() + WAIT;
        let (lines, ready) = &*self.lines;
        let mut guard = lines.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(i) = guard.iter().skip(from).position(|l| l.contains(needle)) {
                return Ok((from + i, guard[from + i].clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{} never printed {needle:?}.\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    guard.join("\n"),
                    self.stderr_text()
                ));
            }
            guard = ready
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub fn try_wait_for(&self, needle: &str) -> Result<String, String> {
        self.try_wait_for_from(0, needle).map(|(_, line)| line)
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_from(0, needle).1
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stdout_text(&self) -> String {
        self.lines().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits for the process to exit (bounded) and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.wait_exit_within(WAIT).unwrap_or_else(|| {
            panic!(
                "{} did not exit.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout_text(),
                self.stderr_text()
            )
        })
    }

    /// The exit status, or `None` if it still runs after `limit`.
    pub fn wait_exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_readers(deadline);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (until `deadline`) until both pipe readers have read to the
    /// end, so an absence check on the output cannot pass early. Nothing is
    /// ever sent: the channel disconnects when both readers' senders drop;
    /// a grandchild holding a pipe open only makes this wait to `deadline`.
    fn join_readers(&self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = self.readers_done.recv_timeout(left);
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
