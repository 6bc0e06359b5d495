//! The viewer's side of the handshake: it initiates, pins the host's key, and
//! proves its allowlisted identity and knowledge of the password.

use std::sync::Arc;

use rand_core::CryptoRngCore;
use spake2::{Ed25519Group, Identity as PakeId, Password as PakePassword, Spake2};
use x25519_dalek::{EphemeralSecret, PublicKey};

use super::key_schedule::HandshakeSecrets;
use super::transcript::Transcript;
use super::{
    host_hello_signed_part, HandshakeError, Role, SessionKeys, CONTEXT_HOST_SIGNATURE,
    CONTEXT_VIEWER_SIGNATURE, PAKE_ID_HOST, PAKE_ID_VIEWER,
};
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::messages::handshake::{HostFinish, HostHello, ViewerFinish, ViewerHello};
use crate::password::{OneTimePassword, StretchParams};
use crate::wire::{Bytes, Field};

/// What the viewer needs to start.
pub struct ViewerConfig<'a> {
    pub identity: Arc<Identity>,
    /// Read to the engineer by the technician (R5).
    pub password: &'a OneTimePassword,
    /// The support session the relay paired us with.
    pub session_id: [u8; 32],
    /// The host key the engineer expects (from the relay's registry, confirmed
    /// by the fingerprint the technician sees). Anything else is refused.
    pub expected_host: Fingerprint,
    pub stretch: StretchParams,
}

/// Builds the first flight. Stretches the password (argon2id, slow on purpose).
pub fn start(
    config: ViewerConfig<'_>,
    rng: &mut impl CryptoRngCore,
) -> Result<(ExpectHostHello, ViewerHello), HandshakeError> {
    let stretched = config
        .password
        .stretch(&config.session_id, &config.stretch)?;
    let (pake, pake_message) = Spake2::<Ed25519Group>::start_a_with_rng(
        &PakePassword::new(stretched.as_bytes()),
        &PakeId::new(PAKE_ID_VIEWER),
        &PakeId::new(PAKE_ID_HOST),
        &mut *rng,
    );
    let ephemeral = EphemeralSecret::random_from_rng(&mut *rng);
    let mut viewer_nonce = [0u8; 32];
    rng.fill_bytes(&mut viewer_nonce);
    let hello = ViewerHello {
        session_id: config.session_id,
        viewer_nonce,
        viewer_ephemeral: PublicKey::from(&ephemeral).to_bytes(),
        viewer_pake: Bytes::new(pake_message)?,
        viewer_identity: config.identity.public().clone(),
    };
    let mut transcript = Transcript::new(&config.session_id);
    transcript.absorb(&hello.to_bytes());
    let state = ExpectHostHello {
        identity: config.identity,
        expected_host: config.expected_host,
        session_id: config.session_id,
        ephemeral,
        pake,
        transcript,
    };
    Ok((state, hello))
}

/// Waiting for the host's hello; nothing about the host is trusted yet.
pub struct ExpectHostHello {
    identity: Arc<Identity>,
    expected_host: Fingerprint,
    session_id: [u8; 32],
    ephemeral: EphemeralSecret,
    pake: Spake2<Ed25519Group>,
    transcript: Transcript,
}

impl ExpectHostHello {
    /// Verifies the host's key pin and signature, then answers with our key
    /// confirmation and a signature over the transcript through it.
    pub fn receive_host_hello(
        mut self,
        hello: &HostHello,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(ExpectHostFinish, ViewerFinish), HandshakeError> {
        let got = hello.host_identity.fingerprint();
        if got != self.expected_host {
            return Err(HandshakeError::HostKeyMismatch {
                expected: self.expected_host,
                got,
            });
        }
        self.transcript.absorb(&host_hello_signed_part(hello));
        hello
            .host_identity
            .verify(
                CONTEXT_HOST_SIGNATURE,
                &self.transcript.hash(),
                &hello.signature,
            )
            .map_err(|_| HandshakeError::BadSignature(Role::Host))?;
        self.transcript.absorb(&hello.signature);
        let after_hellos = self.transcript.hash();

        let dh = self
            .ephemeral
            .diffie_hellman(&PublicKey::from(hello.host_ephemeral));
        if !dh.was_contributory() {
            return Err(HandshakeError::LowOrderKey);
        }
        let pake_key = zeroize::Zeroizing::new(
            self.pake
                .finish(&hello.host_pake)
                .map_err(|_| HandshakeError::BadPakeMessage)?,
        );
        let secrets = HandshakeSecrets::derive(dh.as_bytes(), &pake_key, &after_hellos);

        // Confirm first, then sign the transcript through the confirmation:
        // the signature covers everything in ViewerFinish, so a relay that
        // corrupts the confirmation is caught as tampering, not taken for a
        // wrong password that burns the engineer's attempts (R6, R21).
        let confirm = secrets.confirmation(Role::Viewer, &after_hellos);
        self.transcript.absorb(&confirm);
        let signature = self
            .identity
            .sign(rng, CONTEXT_VIEWER_SIGNATURE, &self.transcript.hash());
        self.transcript.absorb(&signature);
        let finish = ViewerFinish {
            signature: Bytes::new(signature)?,
            confirm,
        };
        let state = ExpectHostFinish {
            secrets,
            transcript_hash: self.transcript.hash(),
            session_id: self.session_id,
            host: hello.host_identity.clone(),
        };
        Ok((state, finish))
    }
}

/// The host's signature verified; waiting for its key confirmation, which
/// proves it knows the password too.
pub struct ExpectHostFinish {
    secrets: HandshakeSecrets,
    transcript_hash: [u8; 32],
    session_id: [u8; 32],
    host: PublicIdentity,
}

impl ExpectHostFinish {
    pub fn receive_host_finish(self, finish: &HostFinish) -> Result<SessionKeys, HandshakeError> {
        if !self
            .secrets
            .check_confirmation(Role::Host, &self.transcript_hash, &finish.confirm)
        {
            return Err(HandshakeError::HostConfirmationFailed);
        }
        Ok(self.secrets.into_session_keys(
            Role::Viewer,
            &self.transcript_hash,
            self.session_id,
            self.host,
        ))
    }
}

impl std::fmt::Debug for ExpectHostHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpectHostHello")
            .field("expected_host", &self.expected_host)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ExpectHostFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpectHostFinish")
            .field("host", &self.host.fingerprint())
            .finish_non_exhaustive()
    }
}
