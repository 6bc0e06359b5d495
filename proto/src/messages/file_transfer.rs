//! File-transfer messages. This module exists only with the crate feature
//! `file-transfer`; PHI builds (R11) compile without it.

crate::wire_enum! {
    /// Which way a file moves, seen from the host (the instrument PC).
    pub enum TransferDirection {
        /// Engineer's workstation to the instrument.
        ToHost = 1,
        /// Instrument to the engineer's workstation.
        FromHost = 2,
    }
}
