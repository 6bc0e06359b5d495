use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::thread;

use rustls::pki_types::PrivateKeyDer;
use rustls::{ServerConfig, ServerConnection};

use super::*;
use crate::notifier::LocationCode;

/// How the fake server behaves.
#[derive(Clone)]
struct Script {
    greeting: Vec<u8>,
    offer_starttls: bool,
    tls: Option<Arc<ServerConfig>>,
    /// Sent right after "220" to STARTTLS, in clear.
    injected_after_starttls: Vec<u8>,
    rcpt_reply: &'static str,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            greeting: b"220 fake.test ESMTP\r\n".to_vec(),
            offer_starttls: true,
            tls: None,
            injected_after_starttls: Vec::new(),
            rcpt_reply: "250 ok",
        }
    }
}

enum Step<S> {
    Done,
    StartTls(S),
}

/// A scripted SMTP server for one connection; returns what it received,
/// lines that arrived over TLS prefixed "tls: ".
fn spawn_server(script: Script) -> (u16, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = thread::spawn(move || {
        let mut log = Vec::new();
        let Ok((mut stream, _)) = listener.accept() else {
            return log;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        // No greeting at all: hang up at once.
        if script.greeting.is_empty() || stream.write_all(&script.greeting).is_err() {
            return log;
        }
        if let Step::StartTls(tcp) = converse(stream, &script, &mut log, false) {
            let Some(config) = script.tls.clone() else {
                return log;
            };
            let Ok(conn) = ServerConnection::new(config) else {
                return log;
            };
            converse(StreamOwned::new(conn, tcp), &script, &mut log, true);
        }
        log
    });
    (port, handle)
}

fn converse<S: Read + Write>(
    stream: S,
    script: &Script,
    log: &mut Vec<String>,
    secure: bool,
) -> Step<S> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Step::Done,
            Ok(_) => {}
        }
        let line = line.trim_end().to_owned();
        log.push(if secure {
            format!("tls: {line}")
        } else {
            line.clone()
        });
        let command = line.to_ascii_uppercase();
        let reply: Vec<u8> = if command.starts_with("EHLO ") {
            let mut reply = "250-fake.test\r\n".to_owned();
            if script.offer_starttls && !secure {
                reply.push_str("250-STARTTLS\r\n");
            }
            reply.push_str("250-AUTH PLAIN\r\n250 8BITMIME\r\n");
            reply.into_bytes()
        } else if command == "STARTTLS" {
            let mut reply = b"220 ready for TLS\r\n".to_vec();
            reply.extend_from_slice(&script.injected_after_starttls);
            let _ = reader.get_mut().write_all(&reply);
            let _ = reader.get_mut().flush();
            return Step::StartTls(reader.into_inner());
        } else if command.starts_with("AUTH PLAIN ") {
            b"235 authenticated\r\n".to_vec()
        } else if command.starts_with("MAIL FROM:") {
            b"250 sender ok\r\n".to_vec()
        } else if command.starts_with("RCPT TO:") {
            format!("{}\r\n", script.rcpt_reply).into_bytes()
        } else if command == "DATA" {
            let _ = reader.get_mut().write_all(b"354 end with .\r\n");
            let _ = reader.get_mut().flush();
            let mut data = Vec::new();
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return Step::Done,
                    Ok(_) => {}
                }
                if line == ".\r\n" {
                    break;
                }
                data.push(line);
            }
            let data = format!("data: {}", data.concat());
            log.push(if secure { format!("tls: {data}") } else { data });
            b"250 queued\r\n".to_vec()
        } else if command == "QUIT" {
            let _ = reader.get_mut().write_all(b"221 bye\r\n");
            return Step::Done;
        } else {
            b"500 unknown command\r\n".to_vec()
        };
        if reader.get_mut().write_all(&reply).is_err() {
            return Step::Done;
        }
        let _ = reader.get_mut().flush();
    }
}

/// A server certificate for 127.0.0.1 and a CA file trusting it.
struct Pki {
    _dir: tempfile::TempDir,
    ca_file: PathBuf,
    server: Arc<ServerConfig>,
}

fn pki() -> Pki {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("test cert");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).expect("write CA");
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    Pki {
        _dir: dir,
        ca_file,
        server: Arc::new(server),
    }
}

fn smtp_config(port: u16, ca_file: Option<PathBuf>) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        from: "relay@example.org".to_owned(),
        starttls: ca_file.is_some(),
        ca_file,
        username: None,
        password_env: None,
        timeout_secs: 10,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn message() -> LocationCodeMessage {
    LocationCodeMessage {
        to_email: "dana@example.org".to_owned(),
        viewer_name: "Dana Engineer".to_owned(),
        code: LocationCode::parse("27182818").expect("code"),
        sent_at_unix: 1_700_000_000,
        expires_at_unix: 1_700_000_600,
        relay_name: "Example relay".to_owned(),
        location: "network 203.0.113.0/24".to_owned(),
    }
}

fn send_to(script: Script, config: &SmtpConfig) -> (Result<(), NotifyError>, Vec<String>) {
    let (port, server) = spawn_server(script);
    let config = SmtpConfig {
        port,
        ..config.clone()
    };
    let result = SmtpNotifier::new(&config, &no_env).and_then(|smtp| smtp.send(&message()));
    (result, server.join().expect("fake server"))
}

#[test]
fn code_is_delivered_over_starttls_with_nothing_sensitive_in_clear() {
    let pki = pki();
    let (port, server) = spawn_server(Script {
        tls: Some(pki.server.clone()),
        ..Script::default()
    });
    let config = SmtpConfig {
        username: Some("relay".to_owned()),
        password_env: Some("SMTP_PW".to_owned()),
        ..smtp_config(port, Some(pki.ca_file.clone()))
    };
    let env = |var: &str| (var == "SMTP_PW").then(|| "hunter2".to_owned());
    let smtp = SmtpNotifier::new(&config, &env).expect("notifier");
    assert!(
        !format!("{smtp:?}").contains("hunter2"),
        "password redacted"
    );
    smtp.send(&message()).expect("delivered");
    let log = server.join().expect("fake server");

    let clear: Vec<&String> = log.iter().filter(|l| !l.starts_with("tls: ")).collect();
    assert_eq!(clear.len(), 2, "only EHLO and STARTTLS in clear: {clear:?}");
    assert!(clear[0].starts_with("EHLO [127.0.0.1]"), "{clear:?}");
    assert_eq!(clear[1], "STARTTLS");

    let secure: Vec<&str> = log.iter().filter_map(|l| l.strip_prefix("tls: ")).collect();
    assert!(
        secure[0].starts_with("EHLO "),
        "EHLO again after TLS: {secure:?}"
    );
    // base64("\0relay\0hunter2")
    assert_eq!(secure[1], "AUTH PLAIN AHJlbGF5AGh1bnRlcjI=");
    assert_eq!(secure[2], "MAIL FROM:<relay@example.org>");
    assert_eq!(secure[3], "RCPT TO:<dana@example.org>");
    assert_eq!(secure[4], "DATA");
    let data = secure[5].strip_prefix("data: ").expect("message data");
    assert!(data.contains("To: dana@example.org\r\n"), "{data}");
    assert!(data.contains("Confirmation code: 27182818\r\n"), "{data}");
    assert_eq!(secure[6], "QUIT");
}

#[test]
fn server_without_starttls_gets_nothing_when_tls_is_required() {
    let pki = pki();
    let (result, log) = send_to(
        Script {
            offer_starttls: false,
            tls: Some(pki.server.clone()),
            ..Script::default()
        },
        &smtp_config(0, Some(pki.ca_file.clone())),
    );
    assert!(
        matches!(result, Err(NotifyError::NoStartTls { .. })),
        "{result:?}"
    );
    assert_eq!(log.len(), 1, "only EHLO was sent: {log:?}");
}

#[test]
fn data_injected_before_the_tls_handshake_is_refused() {
    let pki = pki();
    let (result, log) = send_to(
        Script {
            tls: Some(pki.server.clone()),
            injected_after_starttls: b"250 injected\r\n".to_vec(),
            ..Script::default()
        },
        &smtp_config(0, Some(pki.ca_file.clone())),
    );
    let err = result.expect_err("refused");
    assert!(
        err.to_string().contains("before the TLS handshake"),
        "{err}"
    );
    assert!(
        !log.iter()
            .any(|l| l.contains("MAIL") || l.contains("data:")),
        "{log:?}"
    );
}

#[test]
fn server_certificate_not_from_the_configured_cas_is_refused() {
    let trusted = pki();
    let impostor = pki();
    let (result, log) = send_to(
        Script {
            tls: Some(impostor.server.clone()),
            ..Script::default()
        },
        &smtp_config(0, Some(trusted.ca_file.clone())),
    );
    assert!(matches!(result, Err(NotifyError::Tls { .. })), "{result:?}");
    assert!(!log.iter().any(|l| l.starts_with("tls: ")), "{log:?}");
}

#[test]
fn plain_smtp_delivers_to_a_local_server() {
    let (result, log) = send_to(
        Script {
            offer_starttls: false,
            ..Script::default()
        },
        &smtp_config(0, None),
    );
    result.expect("delivered");
    assert!(
        log.iter().any(|l| l == "RCPT TO:<dana@example.org>"),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|l| l.contains("Confirmation code: 27182818")));
}

#[test]
fn plain_smtp_to_a_remote_server_is_refused_at_construction() {
    let config = SmtpConfig {
        host: "smtp.example.org".to_owned(),
        ..smtp_config(25, None)
    };
    let err = SmtpNotifier::new(&config, &no_env).expect_err("refused");
    assert!(err.to_string().contains("STARTTLS is required"), "{err}");
}

#[test]
fn missing_password_variable_is_reported_at_construction() {
    let config = SmtpConfig {
        username: Some("relay".to_owned()),
        password_env: Some("SMTP_PW".to_owned()),
        ..smtp_config(25, None)
    };
    let err = SmtpNotifier::new(&config, &no_env).expect_err("refused");
    assert!(
        matches!(&err, NotifyError::PasswordEnv { var } if var == "SMTP_PW"),
        "{err}"
    );
}

#[test]
fn unreadable_or_empty_ca_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").expect("write");
    for path in [empty, dir.path().join("missing.pem")] {
        let err =
            SmtpNotifier::new(&smtp_config(25, Some(path.clone())), &no_env).expect_err("refused");
        assert!(matches!(err, NotifyError::CaFile { .. }), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
}

#[test]
fn refused_recipient_names_the_stage_and_the_reply() {
    let (result, log) = send_to(
        Script {
            offer_starttls: false,
            rcpt_reply: "550 5.1.1 no such user\u{7}",
            ..Script::default()
        },
        &smtp_config(0, None),
    );
    let err = result.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("refused the recipient: 550 5.1.1 no such user"),
        "{text}"
    );
    assert!(!text.contains('\u{7}'), "server text is made printable");
    assert!(!log.iter().any(|l| l.contains("data:")), "{log:?}");
}

fn greeting_error(greeting: &[u8]) -> NotifyError {
    let (result, _) = send_to(
        Script {
            greeting: greeting.to_vec(),
            ..Script::default()
        },
        &smtp_config(0, None),
    );
    result.expect_err("bad greeting refused")
}

#[test]
fn malformed_replies_are_protocol_errors_not_panics() {
    let cases: Vec<Vec<u8>> = vec![
        b"hello\r\n".to_vec(),
        b"22\r\n".to_vec(),
        b"220x\r\n".to_vec(),
        b"\xff\xfe\xfd\r\n".to_vec(),
        b"220-first\r\n221 second\r\n".to_vec(),
        vec![b'2'; 5000],
        b"220-more\r\n".repeat(100),
    ];
    for greeting in cases {
        let err = greeting_error(&greeting);
        assert!(
            matches!(err, NotifyError::Protocol { .. }),
            "{:?}: {err}",
            String::from_utf8_lossy(&greeting[..greeting.len().min(20)])
        );
    }
}

#[test]
fn refusing_greeting_and_closed_connection_are_reported() {
    let err = greeting_error(b"554 go away\r\n");
    assert!(
        matches!(&err, NotifyError::Rejected { stage: "the greeting", reply, .. } if reply == "554 go away"),
        "{err}"
    );
    let err = greeting_error(b"");
    assert!(matches!(err, NotifyError::Io { .. }), "{err}");
}

#[test]
fn silent_server_times_out_instead_of_hanging() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts, then says nothing until the client gives up and hangs up.
    let holder = thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.read_to_end(&mut Vec::new());
        }
    });
    let config = SmtpConfig {
        timeout_secs: 1,
        ..smtp_config(port, None)
    };
    let started = Instant::now();
    let err = SmtpNotifier::new(&config, &no_env)
        .and_then(|smtp| smtp.send(&message()))
        .expect_err("timed out");
    assert!(matches!(err, NotifyError::Io { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    holder.join().expect("holder");
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()).as_str(), expected, "{input}");
    }
}

#[test]
fn lines_starting_with_a_dot_are_stuffed() {
    assert_eq!(
        dot_stuffed("a\r\n.\r\n..b\r\nc.\r\n").as_str(),
        "a\r\n..\r\n...b\r\nc.\r\n"
    );
    assert_eq!(dot_stuffed(".start").as_str(), "..start");
}

#[test]
fn ehlo_uses_the_local_address_literal() {
    assert_eq!(
        ehlo_name(Some("192.0.2.1:25".parse().expect("addr"))),
        "[192.0.2.1]"
    );
    assert_eq!(
        ehlo_name(Some("[2001:db8::1]:25".parse().expect("addr"))),
        "[IPv6:2001:db8::1]"
    );
}
