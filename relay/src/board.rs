//! The support board: which hosts have an open support request (R9) and which
//! viewer each is paired with. Nothing can reach a host without an open
//! request, and only the paired viewer may open channels to it.
//!
//! Pure state with caller-supplied `Instant`s; generic over the handle the
//! server keeps for a host's connection, so it is tested without sockets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use assent_proto::identity::Fingerprint;
use assent_proto::messages::signalling::SessionId;

/// Why a board operation was refused; each maps to a `RelayError` code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    #[error("host {0} has no open support request; ask the technician to start one")]
    NoOpenRequest(String),
    #[error("host {0} is already in a session with another engineer")]
    Busy(String),
    #[error("too many open support requests on this relay; try again later")]
    Full,
    #[error("no paired session {0}")]
    UnknownSession(String),
}

/// One open support request.
#[derive(Debug, Clone)]
struct OpenRequest<H> {
    session_id: SessionId,
    host: H,
    expires_at: Instant,
    viewer: Option<Fingerprint>,
}

/// Open requests by host ID, with an index by session.
#[derive(Debug)]
pub struct SupportBoard<H> {
    by_host: HashMap<String, OpenRequest<H>>,
    host_of_session: HashMap<SessionId, String>,
    max_open: usize,
    ttl: Duration,
}

impl<H: Clone> SupportBoard<H> {
    /// `ttl`: how long a request stays open without a viewer pairing.
    pub fn new(ttl: Duration, max_open: usize) -> Self {
        Self {
            by_host: HashMap::new(),
            host_of_session: HashMap::new(),
            max_open,
            ttl,
        }
    }

    /// The technician started a support request. A host has at most one; a
    /// new one replaces the old (and its pairing).
    pub fn open(
        &mut self,
        host_id: &str,
        session_id: SessionId,
        host: H,
        now: Instant,
    ) -> Result<Instant, BoardError> {
        self.close_host(host_id);
        if self.by_host.len() >= self.max_open {
            return Err(BoardError::Full);
        }
        let expires_at = now + self.ttl;
        self.by_host.insert(
            host_id.to_owned(),
            OpenRequest {
                session_id,
                host,
                expires_at,
                viewer: None,
            },
        );
        self.host_of_session.insert(session_id, host_id.to_owned());
        Ok(expires_at)
    }

    /// A viewer asks for `host_id`. Pairing again by the same viewer (a retry
    /// after a wrong password) is allowed; another viewer is refused.
    pub fn pair(
        &mut self,
        host_id: &str,
        viewer: Fingerprint,
        now: Instant,
    ) -> Result<(SessionId, H), BoardError> {
        self.expire(now);
        let request = self
            .by_host
            .get_mut(host_id)
            .ok_or_else(|| BoardError::NoOpenRequest(host_id.to_owned()))?;
        match request.viewer {
            Some(paired) if paired != viewer => Err(BoardError::Busy(host_id.to_owned())),
            _ => {
                request.viewer = Some(viewer);
                Ok((request.session_id, request.host.clone()))
            }
        }
    }

    /// The host connection for a session, only for the viewer paired with it.
    pub fn host_for(&self, session_id: &SessionId, viewer: &Fingerprint) -> Result<H, BoardError> {
        self.host_of_session
            .get(session_id)
            .and_then(|host_id| self.by_host.get(host_id))
            .filter(|request| request.viewer.as_ref() == Some(viewer))
            .map(|request| request.host.clone())
            .ok_or_else(|| BoardError::UnknownSession(hex_prefix(session_id)))
    }

    /// Unpairs the viewer (after a failed handshake) but keeps the request open.
    pub fn unpair(&mut self, session_id: &SessionId) {
        if let Some(request) = self
            .host_of_session
            .get(session_id)
            .and_then(|host_id| self.by_host.get_mut(host_id))
        {
            request.viewer = None;
        }
    }

    /// The technician closed the request or the host disconnected.
    pub fn close_host(&mut self, host_id: &str) -> Option<(SessionId, Option<Fingerprint>)> {
        let request = self.by_host.remove(host_id)?;
        self.host_of_session.remove(&request.session_id);
        Some((request.session_id, request.viewer))
    }

    /// Closes unpaired requests past their expiry; returns their host IDs.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .by_host
            .iter()
            .filter(|(_, r)| r.viewer.is_none() && r.expires_at <= now)
            .map(|(host_id, _)| host_id.clone())
            .collect();
        for host_id in &expired {
            self.close_host(host_id);
        }
        expired
    }

    pub fn open_requests(&self) -> usize {
        self.by_host.len()
    }

    pub fn paired_sessions(&self) -> usize {
        self.by_host.values().filter(|r| r.viewer.is_some()).count()
    }
}

fn hex_prefix(session_id: &SessionId) -> String {
    session_id[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(600);

    fn viewer(byte: u8) -> Fingerprint {
        Fingerprint([byte; 32])
    }

    #[test]
    fn nothing_pairs_with_a_host_that_has_no_open_request() {
        let mut board: SupportBoard<u32> = SupportBoard::new(TTL, 10);
        assert_eq!(
            board.pair("H-1", viewer(1), Instant::now()),
            Err(BoardError::NoOpenRequest("H-1".into()))
        );
    }

    #[test]
    fn an_open_request_pairs_one_viewer_and_refuses_another() {
        let mut board = SupportBoard::new(TTL, 10);
        let now = Instant::now();
        board.open("H-1", [7; 32], 42u32, now).unwrap();
        assert_eq!(board.pair("H-1", viewer(1), now), Ok(([7; 32], 42)));
        // The same engineer may retry; another is refused.
        assert_eq!(board.pair("H-1", viewer(1), now), Ok(([7; 32], 42)));
        assert_eq!(
            board.pair("H-1", viewer(2), now),
            Err(BoardError::Busy("H-1".into()))
        );
        assert_eq!(board.paired_sessions(), 1);
    }

    #[test]
    fn only_the_paired_viewer_reaches_the_host() {
        let mut board = SupportBoard::new(TTL, 10);
        let now = Instant::now();
        board.open("H-1", [7; 32], 42u32, now).unwrap();
        assert!(
            board.host_for(&[7; 32], &viewer(1)).is_err(),
            "not yet paired"
        );
        board.pair("H-1", viewer(1), now).unwrap();
        assert_eq!(board.host_for(&[7; 32], &viewer(1)), Ok(42));
        assert!(board.host_for(&[7; 32], &viewer(2)).is_err());
        assert!(board.host_for(&[8; 32], &viewer(1)).is_err());
        board.unpair(&[7; 32]);
        assert!(board.host_for(&[7; 32], &viewer(1)).is_err());
    }

    #[test]
    fn unpaired_requests_expire_and_a_new_request_replaces_the_old() {
        let mut board = SupportBoard::new(TTL, 10);
        let now = Instant::now();
        board.open("H-1", [1; 32], 1u32, now).unwrap();
        board.open("H-1", [2; 32], 2u32, now).unwrap();
        assert_eq!(board.open_requests(), 1);
        assert!(board.host_for(&[1; 32], &viewer(1)).is_err());
        assert_eq!(board.expire(now + TTL), vec!["H-1".to_owned()]);
        assert_eq!(
            board.pair("H-1", viewer(1), now + TTL),
            Err(BoardError::NoOpenRequest("H-1".into()))
        );
    }

    #[test]
    fn open_requests_are_bounded() {
        let mut board = SupportBoard::new(TTL, 2);
        let now = Instant::now();
        board.open("H-1", [1; 32], 1u32, now).unwrap();
        board.open("H-2", [2; 32], 2u32, now).unwrap();
        assert_eq!(board.open("H-3", [3; 32], 3u32, now), Err(BoardError::Full));
        // Re-opening an existing host's request is not a new slot.
        assert!(board.open("H-2", [4; 32], 2u32, now).is_ok());
    }
}
