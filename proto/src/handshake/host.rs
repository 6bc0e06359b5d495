//! The host's side of the handshake: it answers only allowlisted viewers for
//! its current support session, and reveals nothing password-dependent until
//! the viewer has proved the password (so a silent guess is impossible, R5/R6).

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
use crate::allowlist::{AllowListEntry, VerifiedAllowList};
use crate::identity::{Identity, PublicIdentity};
use crate::messages::handshake::{HostFinish, HostHello, ViewerFinish, ViewerHello};
use crate::password::{OneTimePassword, StretchParams, StretchedPassword};
use crate::wire::{Bytes, Field};

/// The host's secrets for one support session: its identity and the
/// stretched one-time password. Stretching (argon2id) happens once here, not
/// per attempt.
pub struct HostCredentials {
    identity: Arc<Identity>,
    session_id: [u8; 32],
    stretched: StretchedPassword,
}

impl HostCredentials {
    pub fn new(
        identity: Arc<Identity>,
        password: &OneTimePassword,
        session_id: [u8; 32],
        stretch: &StretchParams,
    ) -> Result<Self, HandshakeError> {
        let stretched = password.stretch(&session_id, stretch)?;
        Ok(Self {
            identity,
            session_id,
            stretched,
        })
    }

    pub fn session_id(&self) -> &[u8; 32] {
        &self.session_id
    }

    /// Answers a viewer's first flight. The allowlist is checked before any
    /// work is done for the viewer (R7). `now_unix` is the caller's clock.
    pub fn respond(
        &self,
        allowlist: &VerifiedAllowList,
        now_unix: u64,
        hello: &ViewerHello,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(ExpectViewerFinish, HostHello), HandshakeError> {
        if hello.session_id != self.session_id {
            return Err(HandshakeError::UnknownSession);
        }
        let entry = allowlist
            .check(&hello.viewer_identity.fingerprint(), now_unix)
            .map_err(HandshakeError::NotAllowListed)?
            .clone();

        let mut transcript = Transcript::new(&self.session_id);
        transcript.absorb(&hello.to_bytes());

        let (pake, pake_message) = Spake2::<Ed25519Group>::start_b_with_rng(
            &PakePassword::new(self.stretched.as_bytes()),
            &PakeId::new(PAKE_ID_VIEWER),
            &PakeId::new(PAKE_ID_HOST),
            &mut *rng,
        );
        let ephemeral = EphemeralSecret::random_from_rng(&mut *rng);
        let mut host_nonce = [0u8; 32];
        rng.fill_bytes(&mut host_nonce);
        let mut reply = HostHello {
            host_nonce,
            host_ephemeral: PublicKey::from(&ephemeral).to_bytes(),
            host_pake: Bytes::new(pake_message)?,
            host_identity: self.identity.public().clone(),
            signature: Bytes::default(),
        };
        transcript.absorb(&host_hello_signed_part(&reply));
        let signature = self
            .identity
            .sign(rng, CONTEXT_HOST_SIGNATURE, &transcript.hash());
        transcript.absorb(&signature);
        reply.signature = Bytes::new(signature)?;
        let after_hellos = transcript.hash();

        let dh = ephemeral.diffie_hellman(&PublicKey::from(hello.viewer_ephemeral));
        if !dh.was_contributory() {
            return Err(HandshakeError::LowOrderKey);
        }
        let pake_key = zeroize::Zeroizing::new(
            pake.finish(&hello.viewer_pake)
                .map_err(|_| HandshakeError::BadPakeMessage)?,
        );
        let secrets = HandshakeSecrets::derive(dh.as_bytes(), &pake_key, &after_hellos);
        let state = ExpectViewerFinish {
            secrets,
            transcript,
            after_hellos,
            session_id: self.session_id,
            viewer: hello.viewer_identity.clone(),
            viewer_entry: entry,
        };
        Ok((state, reply))
    }
}

/// Waiting for the viewer's signature and key confirmation. The viewer is on
/// the allowlist but has proved nothing yet.
pub struct ExpectViewerFinish {
    secrets: HandshakeSecrets,
    transcript: Transcript,
    after_hellos: [u8; 32],
    session_id: [u8; 32],
    viewer: PublicIdentity,
    viewer_entry: AllowListEntry,
}

impl ExpectViewerFinish {
    /// Who is asking (name and e-mail from the operator-signed allowlist), for
    /// the technician's approval prompt (R9).
    pub fn viewer(&self) -> &AllowListEntry {
        &self.viewer_entry
    }

    /// Verifies the viewer's signature, which covers its key confirmation,
    /// then the confirmation. A bad signature is
    /// [`HandshakeError::BadSignature`]: the message was tampered with or
    /// forged, and it does not count against the password. Only a bad
    /// confirmation under a good signature is [`HandshakeError::WrongPassword`],
    /// which the shell counts (R6, R21).
    pub fn receive_viewer_finish(
        mut self,
        finish: &ViewerFinish,
    ) -> Result<(SessionKeys, HostFinish), HandshakeError> {
        self.transcript.absorb(&finish.confirm);
        self.viewer
            .verify(
                CONTEXT_VIEWER_SIGNATURE,
                &self.transcript.hash(),
                &finish.signature,
            )
            .map_err(|_| HandshakeError::BadSignature(Role::Viewer))?;
        if !self
            .secrets
            .check_confirmation(Role::Viewer, &self.after_hellos, &finish.confirm)
        {
            return Err(HandshakeError::WrongPassword);
        }
        self.transcript.absorb(&finish.signature);
        let final_hash = self.transcript.hash();
        let reply = HostFinish {
            confirm: self.secrets.confirmation(Role::Host, &final_hash),
        };
        let keys =
            self.secrets
                .into_session_keys(Role::Host, &final_hash, self.session_id, self.viewer);
        Ok((keys, reply))
    }
}

impl std::fmt::Debug for ExpectViewerFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpectViewerFinish")
            .field("viewer", &self.viewer.fingerprint())
            .finish_non_exhaustive()
    }
}
