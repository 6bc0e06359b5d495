//! File transfer rules (filled in by the file transfer work).
