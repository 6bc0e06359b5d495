//! Received files (filled in by the file transfer work).
