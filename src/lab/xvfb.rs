//! A private X server for tests: starts `Xvfb` on a free display, exposes its
//! framebuffer (the XWD file `-fbdir` keeps) and stops it on drop.
//!
//! Shared by several crates' tests through
//! `#[path = "../../src/lab/xvfb.rs"] mod xvfb;`, so it uses only `std`
//! and `tempfile`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long Xvfb may take to start; generous because parallel tests share
/// two cores with the compiler.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Xvfb; killed and reaped on drop.
pub struct Xvfb {
    child: Child,
    display: String,
    framebuffer: PathBuf,
    _fbdir: tempfile::TempDir,
}

impl Xvfb {
    /// Starts Xvfb with one `width`x`height`x24 screen and waits until it
    /// accepts connections. Panics with a clear message when it cannot.
    pub fn start(width: u32, height: u32) -> Xvfb {
        let fbdir =
            tempfile::tempdir().expect("create a temporary directory for the Xvfb framebuffer");
        // `-displayfd 1`: Xvfb picks a free display number itself (atomic lock
        // files, so parallel tests never race for one) and writes it to its
        // stdout, which is our pipe, once it is ready for clients.
        let spawned = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .args(["-noreset", "-nolisten", "tcp", "-fbdir"])
            .arg(fbdir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("Xvfb not found: run ./scripts/test.sh, which installs it")
            }
            Err(e) => panic!("cannot start Xvfb: {e}"),
        };

        // Read the display number on a thread so the wait stays bounded even
        // if Xvfb hangs without writing or closing its stdout.
        let stdout = child.stdout.take().expect("Xvfb stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(result);
        });
        let number = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => line.trim().to_string(),
            outcome => {
                let _ = child.kill();
                let mut log = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
                }
                let _ = child.wait();
                panic!("Xvfb did not report a display number ({outcome:?}); its log:\n{log}");
            }
        };
        assert!(
            number.bytes().all(|b| b.is_ascii_digit()),
            "Xvfb reported a strange display number {number:?}"
        );
        // Drain stderr so Xvfb never blocks on a full pipe.
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut BufReader::new(stderr), &mut std::io::sink());
            });
        }

        let xvfb = Xvfb {
            child,
            display: format!(":{number}"),
            framebuffer: fbdir.path().join("Xvfb_screen0"),
            _fbdir: fbdir,
        };
        xvfb.wait_until_accepting(&number);
        xvfb
    }

    /// The display name to put in `DISPLAY`, e.g. `:99`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// What the screen shows now: `(width, height, pixels)` with tightly
    /// packed rows of 4-byte B, G, R, X pixels (X is 0).
    pub fn screen_bgrx(&self) -> (u32, u32, Vec<u8>) {
        let bytes = std::fs::read(&self.framebuffer).unwrap_or_else(|e| {
            panic!(
                "read the Xvfb framebuffer {}: {e}",
                self.framebuffer.display()
            )
        });
        parse_xwd_bgrx(&bytes)
            .unwrap_or_else(|e| panic!("Xvfb framebuffer {}: {e}", self.framebuffer.display()))
    }

    fn wait_until_accepting(&self, number: &str) {
        let socket = Path::new("/tmp/.X11-unix").join(format!("X{number}"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(&socket).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Xvfb {} does not accept connections on {}",
                self.display,
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM first so Xvfb removes its socket and lock file; SIGKILL
        // only if it does not exit in time.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses an XWD (X Window Dump, version 7) ZPixmap of 24/32 bits per pixel
/// into tightly packed BGRX rows.
pub fn parse_xwd_bgrx(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    // The header is 25 big-endian CARD32 fields, then the window name.
    const FIELDS: usize = 25;
    const COLOR_ENTRY_LEN: usize = 12; // pixel u32, r/g/b u16, flags u8, pad u8
    const Z_PIXMAP: u32 = 2;
    const LSB_FIRST: u32 = 0;
    if bytes.len() < FIELDS * 4 {
        return Err(format!(
            "{} bytes is shorter than an XWD header",
            bytes.len()
        ));
    }
    let field = |i: usize| u32::from_be_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let header_size = field(0) as usize;
    let version = field(1);
    let format = field(2);
    let width = field(4);
    let height = field(5);
    let byte_order = field(7);
    let bits_per_pixel = field(11);
    let bytes_per_line = field(12) as usize;
    let ncolors = field(19) as usize;
    if version != 7 {
        return Err(format!("XWD version {version}, expected 7"));
    }
    if format != Z_PIXMAP || bits_per_pixel != 32 {
        return Err(format!(
            "pixmap format {format} with {bits_per_pixel} bits per pixel, expected ZPixmap with 32"
        ));
    }
    let row_len = width as usize * 4;
    if bytes_per_line < row_len {
        return Err(format!(
            "{bytes_per_line} bytes per line is too few for {width} pixels"
        ));
    }
    let image_start = header_size
        .checked_add(
            ncolors
                .checked_mul(COLOR_ENTRY_LEN)
                .ok_or("colour count overflows")?,
        )
        .ok_or("header size overflows")?;
    let image_len = bytes_per_line
        .checked_mul(height as usize)
        .ok_or("image size overflows")?;
    let image = bytes
        .get(
            image_start
                ..image_start
                    .checked_add(image_len)
                    .ok_or("image size overflows")?,
        )
        .ok_or_else(|| {
            format!(
                "file of {} bytes ends before the {width}x{height} image",
                bytes.len()
            )
        })?;

    let mut out = Vec::with_capacity(row_len * height as usize);
    for row in image.chunks_exact(bytes_per_line) {
        let row = &row[..row_len];
        if byte_order == LSB_FIRST {
            out.extend_from_slice(row);
        } else {
            // MSBFirst stores X, R, G, B: reverse each pixel into B, G, R, X.
            for px in row.chunks_exact(4) {
                out.extend_from_slice(&[px[3], px[2], px[1], px[0]]);
            }
        }
    }
    // The padding byte is undefined in the dump; BGRX says it is 0.
    for px in out.chunks_exact_mut(4) {
        px[3] = 0;
    }
    Ok((width, height, out))
}
