//! The harness podkit's cross-binary tests share: where the built binaries are, PID namespaces
//! with a real process as PID 1, the process tree as the host's /proc shows it, and containers.
//!
//! The tests run the static release binaries (`make build` puts them in
//! `target/x86_64-unknown-linux-musl/release`, or `PODKIT_BIN_DIR`), the same files the images
//! ship. Anything that signals runs inside a new PID namespace or a container, so a bug can never
//! signal a process of the machine running the tests.

pub mod bins;
pub mod docker;
pub mod pidns;
pub mod procs;
pub mod pty;
pub mod wait;
