//! `assent-net`: the IO plumbing relay, host and viewer share (in progress).
