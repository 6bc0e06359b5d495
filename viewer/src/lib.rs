//! `assent-viewer` as a library: the parts of the viewer its integration
//! tests drive directly (the window onto the remote screen).

pub mod window;
