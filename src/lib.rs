//! The `assent` root package: it owns the end-to-end tests in `tests/` and the
//! criterion benchmarks in `benches/`. The product lives in the member crates
//! (`proto/`, `relay/`, `host/`, `viewer/`).
