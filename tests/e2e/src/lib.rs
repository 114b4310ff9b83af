//! End-to-end tests live in `tests/`: they run the `migrator` and `api` binaries that
//! `cargo test --workspace` builds, as an operator would, against a fresh database.
