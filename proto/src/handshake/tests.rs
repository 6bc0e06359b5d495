use std::sync::Arc;

use rand_core::OsRng;

use super::host::HostCredentials;
use super::viewer::{self, ViewerConfig};
use super::*;
use crate::allowlist::{AllowList, AllowListEntry, VerifiedAllowList};
use crate::identity::{test_support, Identity};
use crate::lockout::{Lockout, LockoutPolicy};
use crate::messages::handshake::{HostHello, ViewerFinish, ViewerHello, SIGNATURE_MAX};
use crate::password::{OneTimePassword, StretchParams};
use crate::wire::{Bytes, List, Message, Text};

const NOW: u64 = 1_800_000_000;
const SESSION: [u8; 32] = [7; 32];

fn allowlist_with(viewers: &[(&Identity, u64)]) -> VerifiedAllowList {
    let entries = viewers
        .iter()
        .map(|(identity, expires_unix)| AllowListEntry {
            viewer: identity.public().clone(),
            name: Text::new("Eve Engineer").unwrap(),
            email: Text::new("eve@example.com").unwrap(),
            expires_unix: *expires_unix,
        })
        .collect();
    let list = AllowList {
        serial: 1,
        issued_unix: NOW - 60,
        expires_unix: NOW + 86_400,
        entries: List::new(entries).unwrap(),
    };
    let operator = test_support::operator();
    list.sign(operator, &mut OsRng)
        .verify(operator.public(), NOW)
        .expect("fresh list verifies")
}

struct Fixture {
    host: HostCredentials,
    allowlist: VerifiedAllowList,
    viewer_identity: Arc<Identity>,
    password: OneTimePassword,
}

fn fixture() -> Fixture {
    let password = OneTimePassword::generate(&mut OsRng);
    let host = HostCredentials::new(
        crate::test_keys::key("host"),
        &password,
        SESSION,
        &StretchParams::fast_for_tests(),
    )
    .unwrap();
    Fixture {
        host,
        allowlist: allowlist_with(&[(test_support::viewer(), NOW + 3600)]),
        viewer_identity: crate::test_keys::key("viewer"),
        password,
    }
}

fn viewer_config<'a>(f: &Fixture, password: &'a OneTimePassword) -> ViewerConfig<'a> {
    ViewerConfig {
        identity: f.viewer_identity.clone(),
        password,
        session_id: SESSION,
        expected_host: test_support::host().fingerprint(),
        stretch: StretchParams::fast_for_tests(),
    }
}

/// Runs the whole handshake with an optional "relay" that may rewrite flights.
fn run(
    f: &Fixture,
    password: &OneTimePassword,
    tamper_viewer_hello: impl FnOnce(&mut ViewerHello),
    tamper_host_hello: impl FnOnce(&mut HostHello),
) -> Result<(SessionKeys, SessionKeys), HandshakeError> {
    let (expect_host_hello, mut hello) = viewer::start(viewer_config(f, password), &mut OsRng)?;
    tamper_viewer_hello(&mut hello);
    let (expect_viewer_finish, mut host_hello) =
        f.host.respond(&f.allowlist, NOW, &hello, &mut OsRng)?;
    tamper_host_hello(&mut host_hello);
    let (expect_host_finish, viewer_finish) =
        expect_host_hello.receive_host_hello(&host_hello, &mut OsRng)?;
    let (host_keys, host_finish) = expect_viewer_finish.receive_viewer_finish(&viewer_finish)?;
    let viewer_keys = expect_host_finish.receive_host_finish(&host_finish)?;
    Ok((viewer_keys, host_keys))
}

/// Every flight of an untampered handshake, and the viewer's last state.
struct Flights {
    hello: ViewerHello,
    host_hello: HostHello,
    viewer_finish: crate::messages::handshake::ViewerFinish,
    host_finish: crate::messages::handshake::HostFinish,
    expect_host_finish: viewer::ExpectHostFinish,
}

fn flights(f: &Fixture) -> Flights {
    let (expect_host_hello, hello) =
        viewer::start(viewer_config(f, &f.password), &mut OsRng).unwrap();
    let (expect_viewer_finish, host_hello) = f
        .host
        .respond(&f.allowlist, NOW, &hello, &mut OsRng)
        .unwrap();
    let (expect_host_finish, viewer_finish) = expect_host_hello
        .receive_host_hello(&host_hello, &mut OsRng)
        .unwrap();
    let (_, host_finish) = expect_viewer_finish
        .receive_viewer_finish(&viewer_finish)
        .unwrap();
    Flights {
        hello,
        host_hello,
        viewer_finish,
        host_finish,
        expect_host_finish,
    }
}

#[test]
fn handshake_with_right_password_gives_both_ends_working_channels() {
    let f = fixture();
    let (mut viewer_keys, mut host_keys) = run(&f, &f.password, |_| {}, |_| {}).unwrap();
    assert_eq!(viewer_keys.transcript_hash(), host_keys.transcript_hash());
    assert_eq!(
        viewer_keys.peer().fingerprint(),
        test_support::host().fingerprint()
    );
    assert_eq!(
        host_keys.peer().fingerprint(),
        test_support::viewer().fingerprint()
    );

    for channel in [Channel::Control, Channel::Screen, Channel::Input] {
        let mut viewer = viewer_keys.take_channel(channel).unwrap();
        let mut host = host_keys.take_channel(channel).unwrap();
        let mut out = Vec::new();
        viewer.sealer.seal(b"hello host", &mut out).unwrap();
        assert_eq!(host.opener.open(&mut out).unwrap(), b"hello host");
        let mut back = Vec::new();
        host.sealer.seal(b"hello viewer", &mut back).unwrap();
        assert_eq!(viewer.opener.open(&mut back).unwrap(), b"hello viewer");
    }
}

#[test]
fn channels_and_directions_have_distinct_keys() {
    let f = fixture();
    let (mut viewer_keys, mut host_keys) = run(&f, &f.password, |_| {}, |_| {}).unwrap();
    let mut viewer_screen = viewer_keys.take_channel(Channel::Screen).unwrap();
    let mut record = Vec::new();
    viewer_screen.sealer.seal(b"x", &mut record).unwrap();
    // Another channel's opener, or our own direction's key, cannot open it.
    let mut host_input = host_keys.take_channel(Channel::Input).unwrap();
    assert!(host_input.opener.open(&mut record.clone()).is_err());
    assert!(viewer_screen.opener.open(&mut record.clone()).is_err());
    let mut host_screen = host_keys.take_channel(Channel::Screen).unwrap();
    assert!(host_screen.opener.open(&mut record).is_ok());
}

#[test]
fn a_channels_keys_are_taken_once_per_session() {
    // A relay that opens a second screen channel must not get the screen
    // sealed twice under one (key, nonce) (R3, R21).
    let f = fixture();
    let (mut viewer_keys, mut host_keys) = run(&f, &f.password, |_| {}, |_| {}).unwrap();
    for channel in [
        Channel::Control,
        Channel::Screen,
        Channel::Input,
        #[cfg(feature = "file-transfer")]
        Channel::Files,
        Channel::Notifications,
    ] {
        for keys in [&mut viewer_keys, &mut host_keys] {
            assert!(!keys.is_open(channel));
            keys.take_channel(channel).unwrap();
            assert!(keys.is_open(channel));
            assert_eq!(
                keys.take_channel(channel).unwrap_err(),
                ChannelAlreadyOpen(channel)
            );
        }
    }
}

#[test]
fn wrong_password_fails_at_the_host_and_counts_as_a_failure() {
    let f = fixture();
    let wrong = OneTimePassword::generate(&mut OsRng);
    let err = run(&f, &wrong, |_| {}, |_| {}).unwrap_err();
    assert!(matches!(err, HandshakeError::WrongPassword), "{err}");
    assert!(err.counts_as_password_failure());

    // The shell feeds it to the lockout: the next attempt must wait.
    let mut lockout = Lockout::new(LockoutPolicy::default());
    let now = std::time::Instant::now();
    lockout.record_failure(now);
    assert_eq!(lockout.failures(), 1);
    assert!(lockout.check(now).is_err());
}

/// A fresh handshake up to the host's last step: the host waiting for the
/// viewer's finish, and the finish the viewer sent (not yet delivered).
fn host_awaiting_viewer_finish(
    f: &Fixture,
    password: &OneTimePassword,
) -> (host::ExpectViewerFinish, ViewerFinish) {
    let (expect_host_hello, hello) = viewer::start(viewer_config(f, password), &mut OsRng).unwrap();
    let (expect_viewer_finish, host_hello) = f
        .host
        .respond(&f.allowlist, NOW, &hello, &mut OsRng)
        .unwrap();
    let (_, viewer_finish) = expect_host_hello
        .receive_host_hello(&host_hello, &mut OsRng)
        .unwrap();
    (expect_viewer_finish, viewer_finish)
}

/// What the host makes of `finish` after `tamper`, on a fresh handshake.
fn host_verdict_on_tampered_finish(
    f: &Fixture,
    tamper: impl FnOnce(&mut ViewerFinish),
) -> HandshakeError {
    let (expect, mut finish) = host_awaiting_viewer_finish(f, &f.password);
    tamper(&mut finish);
    expect
        .receive_viewer_finish(&finish)
        .expect_err("a tampered ViewerFinish was accepted")
}

/// The host's verdict is tampering by the relay, not the engineer's wrong password.
fn assert_tampering_not_wrong_password(err: &HandshakeError, what: &str) {
    assert!(
        matches!(err, HandshakeError::BadSignature(Role::Viewer)),
        "{what}: {err}"
    );
    assert!(err.indicates_tampering(), "{what}");
    assert!(!err.counts_as_password_failure(), "{what}");
}

#[test]
fn relay_flipping_any_bit_of_the_viewer_confirmation_is_tampering_not_a_wrong_password() {
    // R6/R21: the viewer's signature covers its confirmation, so a relay that
    // corrupts it cannot make the host burn the password and blame the engineer.
    let f = fixture();
    for bit in 0..256 {
        let err = host_verdict_on_tampered_finish(&f, |finish| {
            finish.confirm[bit / 8] ^= 1 << (bit % 8);
        });
        assert_tampering_not_wrong_password(&err, &format!("confirm bit {bit}"));
    }
}

#[test]
fn relay_flipping_a_bit_of_the_viewer_signature_is_tampering_not_a_wrong_password() {
    let f = fixture();
    let bits = 8 * SIGNATURE_MAX;
    for bit in [0, 1, 7, 8, 1000, bits / 2, bits - 8, bits - 1] {
        let err = host_verdict_on_tampered_finish(&f, |finish| {
            let mut signature = finish.signature.to_vec();
            signature[bit / 8] ^= 1 << (bit % 8);
            finish.signature = Bytes::new(signature).unwrap();
        });
        assert_tampering_not_wrong_password(&err, &format!("signature bit {bit}"));
    }
}

#[test]
fn wrong_password_under_a_valid_viewer_signature_is_a_wrong_password() {
    let f = fixture();
    let wrong = OneTimePassword::generate(&mut OsRng);
    let (expect, finish) = host_awaiting_viewer_finish(&f, &wrong);
    let err = expect.receive_viewer_finish(&finish).unwrap_err();
    assert!(matches!(err, HandshakeError::WrongPassword), "{err}");
    assert!(err.counts_as_password_failure());
    assert!(!err.indicates_tampering());
}

#[test]
fn relay_swapping_the_viewer_x25519_key_is_detected() {
    let f = fixture();
    let mitm =
        x25519_dalek::PublicKey::from(&x25519_dalek::EphemeralSecret::random_from_rng(OsRng));
    let err = run(
        &f,
        &f.password,
        |h| h.viewer_ephemeral = mitm.to_bytes(),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, HandshakeError::BadSignature(Role::Host)),
        "{err}"
    );
}

#[test]
fn relay_swapping_the_host_x25519_key_is_detected() {
    let f = fixture();
    let mitm =
        x25519_dalek::PublicKey::from(&x25519_dalek::EphemeralSecret::random_from_rng(OsRng));
    let err = run(
        &f,
        &f.password,
        |_| {},
        |h| h.host_ephemeral = mitm.to_bytes(),
    )
    .unwrap_err();
    assert!(
        matches!(err, HandshakeError::BadSignature(Role::Host)),
        "{err}"
    );
}

#[test]
fn relay_substituting_the_host_rsa_key_is_refused_by_the_pin() {
    let f = fixture();
    let impostor = test_support::other();
    let err = run(
        &f,
        &f.password,
        |_| {},
        |h| {
            h.host_identity = impostor.public().clone();
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, HandshakeError::HostKeyMismatch { .. }),
        "{err}"
    );
}

#[test]
fn relay_substituting_another_listed_viewer_key_is_detected() {
    // Even a key that *is* allowlisted cannot be swapped in: the viewer's
    // signature in ViewerFinish does not verify under it.
    let mut f = fixture();
    f.allowlist = allowlist_with(&[
        (test_support::viewer(), NOW + 3600),
        (test_support::other(), NOW + 3600),
    ]);
    let err = run(
        &f,
        &f.password,
        |h| h.viewer_identity = test_support::other().public().clone(),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            HandshakeError::BadSignature(Role::Host) | HandshakeError::BadSignature(Role::Viewer)
        ),
        "{err}"
    );
}

#[test]
fn relay_altering_a_pake_message_is_detected() {
    let f = fixture();
    // Replace the viewer's SPAKE2 message with a fresh one for a different password:
    // the host's transcript then differs, so the host's signature fails at the viewer.
    let other_password = OneTimePassword::generate(&mut OsRng);
    let (_, other_hello) = viewer::start(viewer_config(&f, &other_password), &mut OsRng).unwrap();
    let err = run(
        &f,
        &f.password,
        |h| h.viewer_pake = other_hello.viewer_pake.clone(),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, HandshakeError::BadSignature(_)), "{err}");
}

#[test]
fn viewer_not_on_the_allowlist_is_refused() {
    let mut f = fixture();
    f.allowlist = allowlist_with(&[(test_support::other(), NOW + 3600)]);
    let err = run(&f, &f.password, |_| {}, |_| {}).unwrap_err();
    assert!(matches!(err, HandshakeError::NotAllowListed(_)), "{err}");
}

#[test]
fn expired_viewer_key_is_refused() {
    let mut f = fixture();
    f.allowlist = allowlist_with(&[(test_support::viewer(), NOW - 1)]);
    let err = run(&f, &f.password, |_| {}, |_| {}).unwrap_err();
    assert!(matches!(err, HandshakeError::NotAllowListed(_)), "{err}");
}

#[test]
fn hello_for_another_support_session_is_refused() {
    let f = fixture();
    let err = run(&f, &f.password, |h| h.session_id = [8; 32], |_| {}).unwrap_err();
    assert!(matches!(err, HandshakeError::UnknownSession), "{err}");
}

#[test]
fn low_order_x25519_key_is_refused() {
    let f = fixture();
    let (_, mut hello) = viewer::start(viewer_config(&f, &f.password), &mut OsRng).unwrap();
    hello.viewer_ephemeral = [0; 32];
    let err = f
        .host
        .respond(&f.allowlist, NOW, &hello, &mut OsRng)
        .unwrap_err();
    assert!(matches!(err, HandshakeError::LowOrderKey), "{err}");
}

#[test]
fn forged_host_confirmation_is_refused_by_the_viewer() {
    let f = fixture();
    let mut flights = flights(&f);
    flights.host_finish.confirm[0] ^= 1;
    let err = flights
        .expect_host_finish
        .receive_host_finish(&flights.host_finish)
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::HostConfirmationFailed),
        "{err}"
    );
    // Sent only after the viewer's confirmation checked out: tampering.
    assert!(err.indicates_tampering());
    assert!(!err.counts_as_password_failure());
}

#[test]
fn no_handshake_message_carries_password_bytes() {
    let f = fixture();
    let Flights {
        hello,
        host_hello,
        viewer_finish,
        host_finish,
        ..
    } = flights(&f);
    let mut wire = Vec::new();
    wire.extend(hello.to_frame().unwrap());
    wire.extend(host_hello.to_frame().unwrap());
    wire.extend(viewer_finish.to_frame().unwrap());
    wire.extend(host_finish.to_frame().unwrap());
    let stretched = f
        .password
        .stretch(&SESSION, &StretchParams::fast_for_tests())
        .unwrap();
    for secret in [
        f.password.display_grouped().replace('-', "").into_bytes(),
        stretched.as_bytes().to_vec(),
    ] {
        assert!(!wire.windows(secret.len()).any(|w| w == secret.as_slice()));
    }
}

#[test]
fn handshake_messages_round_trip_through_frames() {
    use crate::messages::handshake::{HostFinish, ViewerFinish};
    let f = fixture();
    let flights = flights(&f);
    let hello = &flights.hello;
    assert_eq!(
        &ViewerHello::from_frame(&hello.to_frame().unwrap()).unwrap(),
        hello
    );
    let host_hello = &flights.host_hello;
    assert_eq!(
        &HostHello::from_frame(&host_hello.to_frame().unwrap()).unwrap(),
        host_hello
    );
    let viewer_finish = &flights.viewer_finish;
    assert_eq!(
        &ViewerFinish::from_frame(&viewer_finish.to_frame().unwrap()).unwrap(),
        viewer_finish
    );
    let host_finish = &flights.host_finish;
    assert_eq!(
        &HostFinish::from_frame(&host_finish.to_frame().unwrap()).unwrap(),
        host_finish
    );
}
