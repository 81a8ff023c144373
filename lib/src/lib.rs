//! `podkit`: what two or more podkit tools share, and nothing tool-specific.
//!
//! Every podkit binary parses its flags into typed values at the edge, once, with the helpers here:
//! durations that read like `500ms` or `5m` ([`duration`]), signals by name or number ([`signal`]),
//! the `PODKIT_*` environment convention ([`cli`]) and one-line-per-event logging to stderr
//! ([`log`]). This crate links no async runtime: `podkit-init` depends on it and must stay tiny, so
//! the network tools' shared parts come behind cargo features: `tls` (rustls client configuration)
//! today; the metrics endpoint and the volume watcher when their issues need them.

pub mod addr;
pub mod cli;
pub mod duration;
pub mod log;
pub mod signal;
#[cfg(feature = "tls")]
pub mod tls;
