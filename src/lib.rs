//! The `assent` root package: it owns the end-to-end tests in `tests/`, the
//! criterion benchmarks in `benches/`, and the [`lab`] both they and the
//! demo (`assent-demo`) run sessions in. The product lives in the member crates
//! (`proto/`, `relay/`, `host/`, `viewer/`).

pub mod lab;
