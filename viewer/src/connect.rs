//! Reaching a host (R1–R8): log in to the relay with the engineer's key,
//! confirm a new location with the e-mailed code, ask for the host, show
//! the engineer what the relay registered for it, take the technician's
//! one-time password and run the end-to-end handshake on the control
//! channel. What comes out is an [`Established`] session: keys and the
//! control channel, nothing granted yet.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use assent_net::relay_client::{text, unexpected, RelayClient, RelayClientError, RelayTarget};
use assent_net::{open_channel, FramedRecv, FramedSend};
use assent_proto::handshake::viewer::{self, ViewerConfig};
use assent_proto::handshake::{HandshakeError, SessionKeys};
use assent_proto::identity::Identity;
use assent_proto::messages::handshake::{AbortReason, HandshakeAbort, HostFinish, HostHello};
use assent_proto::messages::signalling::{
    ChannelKind, ClientRole, ConnectRequest, LocationCode, Paired, RelayError, RelayErrorCode,
    SignallingMessage, ViewerLogin,
};
use assent_proto::password::{OneTimePassword, StretchParams};
use assent_proto::wire::{Bytes, Frame, Message, MessageType};
use rand_core::OsRng;

pub const SOFTWARE_VERSION: &str = concat!("assent-viewer ", env!("CARGO_PKG_VERSION"));

/// How long one handshake flight may take to arrive.
const HANDSHAKE_STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where to find the password and the location code.
#[derive(Debug, Clone, Copy)]
pub struct Prompts {
    /// Read the password as one line of stdin instead of from the terminal.
    pub password_stdin: bool,
}

/// A handshake that completed: the session's keys and its control channel.
pub struct Established {
    pub relay: RelayClient,
    pub paired: Paired,
    pub keys: SessionKeys,
    pub control_send: FramedSend,
    pub control_recv: FramedRecv,
}

/// Everything up to a verified, keyed session.
pub async fn establish(
    target: &RelayTarget,
    identity: Arc<Identity>,
    device_id: [u8; 16],
    host_id: &str,
    prompts: Prompts,
) -> Result<Established> {
    let mut relay = login(target, &identity, device_id).await?;
    let paired = pair(&mut relay, host_id).await?;
    print_paired(&paired);
    let password = read_password(prompts).await?;
    let (keys, control_send, control_recv) = handshake(&relay, &paired, identity, password).await?;
    println!("session established with host {}", paired.host_id);
    Ok(Established {
        relay,
        paired,
        keys,
        control_send,
        control_recv,
    })
}

/// Logs in (R7); on a new device or network asks for the e-mailed code (R8).
async fn login(
    target: &RelayTarget,
    identity: &Identity,
    device_id: [u8; 16],
) -> Result<RelayClient> {
    let (mut client, challenge) = RelayClient::open(target, ClientRole::Viewer, SOFTWARE_VERSION)
        .await
        .map_err(relay_failure)
        .with_context(|| format!("connecting to the relay at {}", target.addr))?;
    let mut login = ViewerLogin {
        viewer_key: identity.public().clone(),
        device_id,
        signature: Bytes::default(),
    };
    login.sign(identity, &challenge, &mut OsRng);
    let mut answer = client
        .request(&login)
        .await
        .map_err(relay_failure)
        .context("logging in to the relay")?;
    if let SignallingMessage::LocationChallenge(location) = &answer {
        println!(
            "The relay does not know this device or network yet: a confirmation code was e-mailed to {} (valid {} min).",
            location.sent_to_hint,
            location.expires_in_secs.div_ceil(60)
        );
        loop {
            let code = read_line("Confirmation code from the e-mail: ")
                .await?
                .ok_or_else(|| anyhow!("no confirmation code given (stdin closed)"))?;
            client
                .send(&LocationCode {
                    code: text(code.trim()),
                })
                .await
                .map_err(relay_failure)?;
            match client
                .next_within(HANDSHAKE_STEP_TIMEOUT)
                .await
                .map_err(relay_failure)?
            {
                SignallingMessage::RelayError(e)
                    if e.code == RelayErrorCode::LocationUnconfirmed =>
                {
                    eprintln!("{}", e.message);
                }
                SignallingMessage::RelayError(e) => {
                    return Err(refused(e)).context("confirming this location")
                }
                other => {
                    answer = other;
                    break;
                }
            }
        }
        println!("location confirmed");
    }
    match answer {
        SignallingMessage::LoginAccepted(_) => Ok(client),
        other => Err(relay_failure(unexpected("LoginAccepted", other)))
            .context("logging in to the relay"),
    }
}

/// Asks the relay for the host's open support request (R9).
async fn pair(relay: &mut RelayClient, host_id: &str) -> Result<Paired> {
    let request = ConnectRequest {
        host_id: assent_proto::wire::Text::new(host_id)
            .map_err(|_| anyhow!("host ID {host_id:?} is not a valid host ID (too long)"))?,
    };
    match relay
        .request(&request)
        .await
        .map_err(relay_failure)
        .with_context(|| format!("asking the relay for host {host_id}"))?
    {
        SignallingMessage::Paired(paired) => Ok(paired),
        other => Err(relay_failure(unexpected("Paired", other)))
            .with_context(|| format!("asking the relay for host {host_id}")),
    }
}

/// What the relay registered for the host, so the engineer can check with
/// the technician that this is the right instrument before typing the password.
fn print_paired(paired: &Paired) {
    println!("paired with host {}", paired.host_id);
    println!("  instrument model:     {}", paired.instrument_model);
    println!("  instrument ID:        {}", paired.instrument_id);
    println!("  serial number:        {}", paired.serial_number);
    println!("  registrant:           {}", paired.registrant_name);
    println!("  host key fingerprint: {}", paired.host_fingerprint);
}

/// The technician's one-time password (R5): from the terminal without echo,
/// or one line of stdin with `--password-stdin`.
async fn read_password(prompts: Prompts) -> Result<OneTimePassword> {
    let typed = zeroize::Zeroizing::new(if prompts.password_stdin {
        read_line("")
            .await?
            .ok_or_else(|| anyhow!("--password-stdin: stdin ended before a password line"))?
    } else if std::io::stdin().is_terminal() {
        tokio::task::spawn_blocking(|| {
            rpassword::prompt_password("One-time password from the technician: ")
        })
        .await
        .context("reading the password")?
        .context("reading the password from the terminal")?
    } else {
        bail!("stdin is not a terminal: pass --password-stdin to read the password from stdin");
    });
    OneTimePassword::parse(&typed).context(
        "that is not a one-time password (10 characters, e.g. ABCDE-FGHJK); ask the technician to read it again",
    )
}

/// Reads one line of stdin off the async threads; `None` at end of input.
/// Lines come in order from std's shared stdin buffer, so a location code
/// piped before a password is read first.
async fn read_line(prompt: &'static str) -> Result<Option<String>> {
    if !prompt.is_empty() && std::io::stdin().is_terminal() {
        eprint!("{prompt}");
    }
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned())),
            Err(e) => Err(e),
        }
    })
    .await
    .context("reading stdin")?
    .context("reading stdin")
}

/// The four-flight handshake (R3–R5) on a new control channel.
async fn handshake(
    relay: &RelayClient,
    paired: &Paired,
    identity: Arc<Identity>,
    password: OneTimePassword,
) -> Result<(SessionKeys, FramedSend, FramedRecv)> {
    let (mut send, mut recv) =
        open_channel(&relay.connection, paired.session_id, ChannelKind::Control)
            .await
            .context("opening the control channel through the relay")?;
    recv.set_recv_timeout(Some(HANDSHAKE_STEP_TIMEOUT));
    let (session_id, expected_host) = (paired.session_id, paired.host_fingerprint);
    // argon2id is slow on purpose: keep it off the async threads.
    let (expect_host_hello, hello) = tokio::task::spawn_blocking(move || {
        viewer::start(
            ViewerConfig {
                identity,
                password: &password,
                session_id,
                expected_host,
                stretch: StretchParams::default(),
            },
            &mut OsRng,
        )
    })
    .await
    .context("stretching the password")??;
    send.send(&hello)
        .await
        .context("sending the handshake to the host")?;

    let host_hello: HostHello = next_flight(&mut recv).await?;
    let (expect_finish, finish) =
        match expect_host_hello.receive_host_hello(&host_hello, &mut OsRng) {
            Ok(step) => step,
            Err(e) => return Err(abort_locally(&mut send, e).await),
        };
    send.send(&finish)
        .await
        .context("sending the handshake to the host")?;

    let host_finish: HostFinish = next_flight(&mut recv).await?;
    let keys = match expect_finish.receive_host_finish(&host_finish) {
        Ok(keys) => keys,
        Err(e) => return Err(abort_locally(&mut send, e).await),
    };
    recv.set_recv_timeout(None);
    Ok((keys, send, recv))
}

/// The next handshake flight; an abort from the host or a refusal from the
/// relay becomes an error that says why.
async fn next_flight<M: Message>(recv: &mut FramedRecv) -> Result<M> {
    let frame: Frame = recv
        .recv()
        .await
        .context("waiting for the host's handshake")?
        .ok_or_else(|| anyhow!("the host closed the control channel during the handshake"))?;
    match frame.message_type {
        MessageType::HandshakeAbort => {
            let abort: HandshakeAbort = frame.decode().context("reading the host's refusal")?;
            Err(anyhow!("{}", describe_abort(&abort)))
        }
        MessageType::RelayError => {
            let error: RelayError = frame.decode().context("reading the relay's refusal")?;
            Err(refused(error))
        }
        t if t == M::TYPE => frame
            .decode()
            .with_context(|| format!("the host sent a malformed {t:?}")),
        other => bail!(
            "the host sent {other:?} during the handshake; expected {:?}",
            M::TYPE
        ),
    }
}

/// Tells the host why we stop, then returns the error.
async fn abort_locally(send: &mut FramedSend, error: HandshakeError) -> anyhow::Error {
    let abort = HandshakeAbort {
        reason: error.abort_reason(),
        message: text(&error.to_string()),
    };
    let _ = send.send(&abort).await;
    send.finish_and_wait(Duration::from_secs(1)).await;
    anyhow!(error).context("the handshake with the host failed")
}

/// The host's refusal in words an engineer can act on.
pub fn describe_abort(abort: &HandshakeAbort) -> String {
    let what = match abort.reason {
        AbortReason::WrongPassword => "wrong password; ask the technician to read it again",
        AbortReason::LockedOut => "locked out after failed attempts",
        AbortReason::NotAllowListed => {
            "your identity is not on the allowlist the host holds; ask your operator to enrol it"
        }
        AbortReason::UnknownSession => "the host does not know this support session",
        AbortReason::BadSignature => "a handshake signature did not verify",
        AbortReason::HostKeyMismatch => "host key mismatch",
        AbortReason::Malformed => "the host could not read the handshake",
        AbortReason::Internal => "the host failed on its side",
    };
    format!(
        "the host refused the connection: {what} ({})",
        abort.message
    )
}

fn relay_failure(error: RelayClientError) -> anyhow::Error {
    match error {
        RelayClientError::Refused(e) => refused(e),
        other => anyhow!(other),
    }
}

/// A relay refusal, with what to do about the common ones.
fn refused(error: RelayError) -> anyhow::Error {
    let hint = match error.code {
        RelayErrorCode::NotAllowListed => {
            " — send your .pub.pem to the operator (`assent-relay allowlist add --key ...`)"
        }
        _ => "",
    };
    let retry = error
        .retry_after_secs
        .map(|s| format!(" (retry in {s} s)"))
        .unwrap_or_default();
    anyhow!(
        "relay refused ({:?}): {}{retry}{hint}",
        error.code,
        error.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_refusal_names_its_reason_and_keeps_the_hosts_words() {
        for (reason, expected) in [
            (AbortReason::WrongPassword, "wrong password"),
            (AbortReason::LockedOut, "locked out"),
            (AbortReason::NotAllowListed, "not on the allowlist"),
        ] {
            let abort = HandshakeAbort {
                reason,
                message: text("password locked for 40 s after 4 failures"),
            };
            let shown = describe_abort(&abort);
            assert!(shown.contains(expected), "{shown}");
            assert!(shown.contains("40 s after 4 failures"), "{shown}");
        }
    }

    #[test]
    fn a_relay_refusal_keeps_its_message_and_retry_time() {
        let e = refused(RelayError::new(
            RelayErrorCode::LockedOut,
            "too many attempts",
            Some(30),
        ));
        let shown = e.to_string();
        assert!(shown.contains("too many attempts"), "{shown}");
        assert!(shown.contains("retry in 30 s"), "{shown}");
    }
}
