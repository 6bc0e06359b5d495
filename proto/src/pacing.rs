//! Frame pacing under a bandwidth budget (filled in by the screen codec work).
