//! What the hostile relay forwarded, kept for the checks every malicious-relay
//! test ends with (R3, R21): no two sealed records under one (key, nonce),
//! and no plaintext the test knows anywhere on the wire.

use std::collections::HashMap;
use std::sync::Mutex;

use assent_proto::handshake::Direction;
use assent_proto::messages::signalling::ChannelKind;

/// Identifies one record's (key, nonce): keys are per session, channel and
/// direction (`key_schedule.rs`), the nonce is the record's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordId {
    pub session_id: [u8; 32],
    pub channel: u8,
    pub direction: Direction,
    pub seq: u64,
}

#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Sealed records as their sender wrote them, with where they were seen.
    sealed: HashMap<RecordId, Vec<&'static str>>,
    reused: Vec<(RecordId, &'static str)>,
    /// Every byte forwarded, one buffer per stream direction.
    streams: Vec<Vec<u8>>,
    /// Streams the proxy could not read as frames: the checks would miss them.
    unreadable: Vec<String>,
}

impl Ledger {
    /// A new buffer for one stream direction's bytes; returns its index.
    pub(super) fn new_stream(&self) -> usize {
        let mut inner = self.lock();
        inner.streams.push(Vec::new());
        inner.streams.len() - 1
    }

    pub(super) fn bytes(&self, stream: usize, bytes: &[u8]) {
        self.lock().streams[stream].extend_from_slice(bytes);
    }

    /// A sealed record read from its sender (host or viewer), on a stream
    /// named `place` (e.g. "duplicate Screen").
    pub(super) fn sealed(&self, id: RecordId, place: &'static str) {
        let mut inner = self.lock();
        let seen = inner.sealed.entry(id).or_default();
        seen.push(place);
        if seen.len() > 1 {
            inner.reused.push((id, place));
        }
    }

    pub(super) fn unreadable(&self, what: String) {
        self.lock().unreadable.push(what);
    }

    /// Sealed records seen from senders on `channel` in `direction`.
    pub fn sealed_count(&self, channel: ChannelKind, direction: Direction) -> usize {
        self.lock()
            .sealed
            .keys()
            .filter(|id| id.channel == channel as u8 && id.direction == direction)
            .count()
    }

    /// Panics unless every forwarded stream was read as frames, no
    /// (session, channel, direction, seq) was sealed twice, and none of
    /// `plaintexts` appears in any forwarded byte.
    pub fn assert_clean(&self, plaintexts: &[&[u8]]) {
        let inner = self.lock();
        assert!(
            inner.unreadable.is_empty(),
            "the hostile relay could not read some streams, so it checked nothing there: {:?}",
            inner.unreadable
        );
        assert!(
            !inner.sealed.is_empty(),
            "no sealed record was forwarded: nothing was checked"
        );
        assert!(
            inner.reused.is_empty(),
            "records sealed twice under one (key, nonce): {:?}",
            inner.reused
        );
        for plaintext in plaintexts {
            assert!(plaintext.len() >= 8, "a needle this short proves nothing");
            for bytes in &inner.streams {
                assert!(
                    !bytes.windows(plaintext.len()).any(|w| w == *plaintext),
                    "plaintext {:?} crossed the relay",
                    String::from_utf8_lossy(plaintext)
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
