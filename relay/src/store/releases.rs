//! What the store keeps of signed releases (R16): the signed manifest as the
//! operator published it, the columns it is found by, and its package bytes.
//!
//! Packages live in the database, not in files beside it: relays sharing one
//! store (PostgreSQL) then serve the same bytes without a shared file system,
//! and the package and its release row become visible in one commit, so no
//! release is ever offered without its whole package.

use assent_proto::messages::signalling::PACKAGE_CHUNK_MAX;
use assent_proto::release::SignedRelease;

/// Package bytes are stored in pieces of this size (one piece is the most a
/// `PackageChunk` carries), so serving a chunk reads one bounded row.
pub const PACKAGE_PIECE: usize = PACKAGE_CHUNK_MAX;

/// A published release as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRecord {
    pub component: String,
    pub target: String,
    /// `MAJOR.MINOR.PATCH`, as signed.
    pub version: String,
    pub sha256: [u8; 32],
    pub size: u64,
    pub rollback: bool,
    pub published_unix_ms: u64,
    /// Exactly what the operator signed; hosts verify it themselves.
    pub signed: SignedRelease,
}

/// Bytes of a stored package from an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSlice {
    /// Size of the whole package.
    pub total: u64,
    /// At most [`PACKAGE_PIECE`] bytes; empty at or after the end.
    pub data: Vec<u8>,
}
