//! `podkit`: what two or more podkit tools share, and nothing tool-specific.
//!
//! Every podkit binary parses its flags into typed values at the edge, once, with the helpers here:
//! durations that read like `500ms` or `5m` ([`duration`]), signals by name or number ([`signal`]),
//! addresses like `[::1]:8443` or `unix:/run/app.sock` ([`addr`]), retry delays ([`backoff`]), the `PODKIT_*` environment
//! convention ([`cli`]) and one-line-per-event logging to stderr ([`log`]). This crate links no
//! async runtime: `podkit-init` depends on it and must stay tiny, so the network tools' shared
//! parts come behind cargo features: `tls` (rustls client configuration, peer identity rules),
//! `serve` (tokio and hyper: [`shutdown`] on SIGTERM/SIGINT with a bounded drain, and the
//! `/healthz` `/readyz` `/metrics` endpoint in [`serve`]), `watch` (notify and tokio: the watcher
//! of kubelet-written Secret and ConfigMap volumes in [`watch`], `..data` swaps included).

#[cfg(feature = "action")]
pub mod action;
pub mod addr;
pub mod backoff;
pub mod cli;
pub mod duration;
pub mod log;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "serve")]
pub mod shutdown;
pub mod signal;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "watch")]
pub mod watch;
