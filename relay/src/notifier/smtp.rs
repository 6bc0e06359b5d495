//! A minimal SMTP submission client (RFC 5321) with STARTTLS (RFC 3207) and
//! AUTH PLAIN, for sending location codes (R8) without a mail library.
//!
//! Codes are secrets, so the client refuses to send them in clear to anything
//! but a mail server on this machine: with STARTTLS configured, a server that
//! does not offer it, or offers a certificate the configured CAs do not
//! vouch for, gets nothing. Replies are bounded in size and the whole
//! exchange in time, so a hostile server can neither hang nor bloat the relay.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, StreamOwned};
use zeroize::Zeroizing;

use super::{check_email_address, render_email, LocationCodeMessage, Notifier, NotifyError};
use crate::config::{is_loopback_host, SmtpConfig};

#[cfg(test)]
mod tests;

/// Sends location codes through an SMTP server.
pub struct SmtpNotifier {
    host: String,
    port: u16,
    from: String,
    /// None only for a mail server on this machine.
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: Option<(String, Zeroizing<String>)>,
    timeout: Duration,
}

impl fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("starttls", &self.tls.is_some())
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

/// Longest reply line accepted (RFC 5321 allows 512).
const MAX_LINE: usize = 1000;
const MAX_REPLY_LINES: usize = 64;

impl SmtpNotifier {
    /// Reads the CA file and the password variable now, so a broken setup
    /// shows at start-up rather than when the first code is due.
    pub fn new(
        config: &SmtpConfig,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, NotifyError> {
        let server = format!("{}:{}", config.host, config.port);
        check_email_address(&config.from).map_err(|problem| NotifyError::InvalidMessage {
            field: "from",
            problem,
        })?;
        let tls = if config.starttls {
            let Some(ca_file) = &config.ca_file else {
                return Err(NotifyError::Tls {
                    server,
                    problem: "notifier.ca_file is not set; STARTTLS needs the CAs to trust"
                        .to_owned(),
                });
            };
            Some(Arc::new(client_config(ca_file)?))
        } else if is_loopback_host(&config.host) {
            None
        } else {
            return Err(NotifyError::Tls {
                server,
                problem: "STARTTLS is required for a mail server not on this machine".to_owned(),
            });
        };
        let credentials = match &config.username {
            None => None,
            Some(user) => {
                let var = config.password_env.clone().unwrap_or_default();
                let password = env(&var)
                    .filter(|p| !p.is_empty())
                    .map(Zeroizing::new)
                    .ok_or(NotifyError::PasswordEnv { var })?;
                Some((user.clone(), password))
            }
        };
        Ok(Self {
            host: config.host.clone(),
            port: config.port,
            from: config.from.clone(),
            tls,
            credentials,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
        })
    }

    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The host without IPv6 brackets, for resolving and TLS names.
    fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    fn connect(&self, deadline: Instant) -> Result<TcpStream, NotifyError> {
        let connect_err = |source| NotifyError::Connect {
            server: self.server(),
            source,
        };
        let addrs: Vec<SocketAddr> = (self.bare_host(), self.port)
            .to_socket_addrs()
            .map_err(connect_err)?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no addresses");
        for addr in addrs {
            let Some(remaining) = remaining(deadline) else {
                return Err(connect_err(timed_out()));
            };
            match TcpStream::connect_timeout(&addr, remaining) {
                Ok(stream) => return Ok(stream),
                Err(err) => last = err,
            }
        }
        Err(connect_err(last))
    }

    fn deliver(&self, text: &str, to: &str) -> Result<(), NotifyError> {
        let deadline = Instant::now() + self.timeout;
        let tcp = self.connect(deadline)?;
        let ehlo_name = ehlo_name(tcp.local_addr().ok());
        let mut conn = Conn::new(tcp, self.server(), deadline);
        conn.expect("the greeting", &[220])?;
        let extensions = conn.ehlo(&ehlo_name)?;
        let Some(tls_config) = &self.tls else {
            return self.transaction(&mut conn, &extensions, text, to);
        };
        if !extensions.starttls {
            return Err(NotifyError::NoStartTls {
                server: self.server(),
            });
        }
        conn.command("STARTTLS", "STARTTLS", &[220])?;
        if !conn.unread.is_empty() {
            // Bytes sent before the handshake would be read as if they came
            // over TLS (the STARTTLS injection attack).
            return Err(conn.protocol("it sent data before the TLS handshake"));
        }
        let tls_err = |problem: String| NotifyError::Tls {
            server: self.server(),
            problem,
        };
        let name = ServerName::try_from(self.bare_host().to_owned())
            .map_err(|err| tls_err(format!("'{}' is not a TLS server name: {err}", self.host)))?;
        let client = ClientConnection::new(tls_config.clone(), name)
            .map_err(|err| tls_err(err.to_string()))?;
        let mut tls = StreamOwned::new(client, conn.stream);
        while tls.conn.is_handshaking() {
            // Re-armed each round so a trickling server cannot pass the deadline.
            tls.set_timeout(deadline)
                .map_err(|err| tls_err(err.to_string()))?;
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|err| tls_err(err.to_string()))?;
        }
        let mut conn = Conn::new(tls, self.server(), deadline);
        // RFC 3207: forget what was learnt in clear and ask again.
        let extensions = conn.ehlo(&ehlo_name)?;
        self.transaction(&mut conn, &extensions, text, to)
    }

    fn transaction<S: Read + Write + Timed>(
        &self,
        conn: &mut Conn<S>,
        extensions: &Extensions,
        text: &str,
        to: &str,
    ) -> Result<(), NotifyError> {
        if let Some((user, password)) = &self.credentials {
            let mut plain = Zeroizing::new(Vec::new());
            plain.push(0);
            plain.extend_from_slice(user.as_bytes());
            plain.push(0);
            plain.extend_from_slice(password.as_bytes());
            let command = Zeroizing::new(format!("AUTH PLAIN {}", base64(&plain).as_str()));
            conn.command(&command, "the AUTH PLAIN login", &[235])?;
        }
        let body = if extensions.eight_bit_mime && !text.is_ascii() {
            " BODY=8BITMIME"
        } else {
            ""
        };
        conn.command(
            &format!("MAIL FROM:<{}>{body}", self.from),
            "the sender",
            &[250],
        )?;
        conn.command(&format!("RCPT TO:<{to}>"), "the recipient", &[250, 251])?;
        conn.command("DATA", "DATA", &[354])?;
        let mut data = dot_stuffed(text);
        data.push_str(".\r\n");
        conn.write_all(data.as_bytes(), "the message")?;
        conn.expect("the message", &[250])?;
        // The message is accepted; a failed goodbye changes nothing.
        let _ = conn.command("QUIT", "QUIT", &[221]);
        Ok(())
    }
}

impl Notifier for SmtpNotifier {
    fn send(&self, msg: &LocationCodeMessage) -> Result<(), NotifyError> {
        let text = Zeroizing::new(render_email(msg, &self.from)?);
        self.deliver(&text, &msg.to_email)
    }
}

fn client_config(ca_file: &std::path::Path) -> Result<rustls::ClientConfig, NotifyError> {
    let ca_err = |problem: String| NotifyError::CaFile {
        path: ca_file.to_owned(),
        problem,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|err| ca_err(err.to_string()))? {
        let cert = cert.map_err(|err| ca_err(err.to_string()))?;
        roots.add(cert).map_err(|err| ca_err(err.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca_err("it holds no PEM certificates".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ca_err(err.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Our side's address literal, the honest EHLO argument for a client
/// without a reverse-DNS name of its own.
fn ehlo_name(local: Option<SocketAddr>) -> String {
    match local.map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) => format!("[{ip}]"),
        Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        None => "[127.0.0.1]".to_owned(),
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero())
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the SMTP exchange took too long")
}

/// A socket whose IO can be bounded by a deadline.
trait Timed {
    fn set_timeout(&self, deadline: Instant) -> io::Result<()>;
}

impl Timed for TcpStream {
    fn set_timeout(&self, deadline: Instant) -> io::Result<()> {
        let left = remaining(deadline).ok_or_else(timed_out)?;
        self.set_read_timeout(Some(left))?;
        self.set_write_timeout(Some(left))
    }
}

impl Timed for StreamOwned<ClientConnection, TcpStream> {
    fn set_timeout(&self, deadline: Instant) -> io::Result<()> {
        self.sock.set_timeout(deadline)
    }
}

#[derive(Debug, Default)]
struct Extensions {
    starttls: bool,
    eight_bit_mime: bool,
}

struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// The reply for an error message: printable and short, since it comes
    /// from the server.
    fn summary(&self) -> String {
        let text = format!("{} {}", self.code, self.lines.join(" / "));
        text.chars()
            .take(300)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }
}

/// One SMTP conversation over a plain or TLS stream.
struct Conn<S> {
    stream: S,
    /// Bytes received but not yet consumed.
    unread: Vec<u8>,
    server: String,
    deadline: Instant,
}

impl<S: Read + Write + Timed> Conn<S> {
    fn new(stream: S, server: String, deadline: Instant) -> Self {
        Self {
            stream,
            unread: Vec::new(),
            server,
            deadline,
        }
    }

    fn protocol(&self, problem: &'static str) -> NotifyError {
        NotifyError::Protocol {
            server: self.server.clone(),
            problem,
        }
    }

    fn io_err(&self, stage: &'static str, source: io::Error) -> NotifyError {
        NotifyError::Io {
            server: self.server.clone(),
            stage,
            source,
        }
    }

    fn read_line(&mut self, stage: &'static str) -> Result<String, NotifyError> {
        loop {
            if let Some(end) = self.unread.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.unread.drain(..=end).collect();
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() > MAX_LINE {
                    return Err(self.protocol("a reply line is too long"));
                }
                return Ok(String::from_utf8_lossy(line).into_owned());
            }
            if self.unread.len() > MAX_LINE {
                return Err(self.protocol("a reply line is too long"));
            }
            self.stream
                .set_timeout(self.deadline)
                .map_err(|err| self.io_err(stage, err))?;
            let mut chunk = [0u8; 1024];
            let read = match self.stream.read(&mut chunk) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )),
                Ok(n) => Ok(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => Err(err),
            };
            let n = read.map_err(|err| self.io_err(stage, err))?;
            self.unread.extend_from_slice(&chunk[..n]);
        }
    }

    fn reply(&mut self, stage: &'static str) -> Result<Reply, NotifyError> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line(stage)?;
            let bytes = line.as_bytes();
            let digits = bytes.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
            let Some(digits) = digits else {
                return Err(self.protocol("a reply does not start with a 3-digit code"));
            };
            let this = digits
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            if *code.get_or_insert(this) != this {
                return Err(self.protocol("a multi-line reply changes its code"));
            }
            let last = match bytes.get(3) {
                None | Some(b' ') => true,
                Some(b'-') => false,
                Some(_) => return Err(self.protocol("a reply code is not followed by ' ' or '-'")),
            };
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if last {
                return Ok(Reply { code: this, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(self.protocol("a reply has too many lines"));
            }
        }
    }

    fn expect(&mut self, stage: &'static str, ok: &[u16]) -> Result<Reply, NotifyError> {
        let reply = self.reply(stage)?;
        if ok.contains(&reply.code) {
            Ok(reply)
        } else {
            Err(NotifyError::Rejected {
                server: self.server.clone(),
                stage,
                reply: reply.summary(),
            })
        }
    }

    fn write_all(&mut self, bytes: &[u8], stage: &'static str) -> Result<(), NotifyError> {
        let written = self
            .stream
            .set_timeout(self.deadline)
            .and_then(|()| self.stream.write_all(bytes))
            .and_then(|()| self.stream.flush());
        written.map_err(|err| self.io_err(stage, err))
    }

    fn command(
        &mut self,
        line: &str,
        stage: &'static str,
        ok: &[u16],
    ) -> Result<Reply, NotifyError> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(line.len() + 2));
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write_all(&bytes, stage)?;
        self.expect(stage, ok)
    }

    fn ehlo(&mut self, name: &str) -> Result<Extensions, NotifyError> {
        let reply = self.command(&format!("EHLO {name}"), "EHLO", &[250])?;
        let mut extensions = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let keyword = line.split_whitespace().next().unwrap_or("");
            if keyword.eq_ignore_ascii_case("STARTTLS") {
                extensions.starttls = true;
            } else if keyword.eq_ignore_ascii_case("8BITMIME") {
                extensions.eight_bit_mime = true;
            }
        }
        Ok(extensions)
    }
}

/// RFC 5321 §4.5.2: a line starting with "." gets one more, so no line of
/// the message can end it early.
fn dot_stuffed(text: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 16));
    for line in text.split_inclusive('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    out
}

fn base64(bytes: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(s & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
