//! `podkit`: what two or more podkit tools share, and nothing tool-specific.
//!
//! Every podkit binary parses its flags into typed values at the edge, once, with the helpers here:
//! durations that read like `500ms` or `5m` ([`duration`]), signals by name or number ([`signal`]),
//! addresses like `[::1]:8443` or `unix:/run/app.sock` ([`addr`]), retry delays with jitter
//! ([`backoff`]), the `PODKIT_*` environment
//! convention and usage errors that name their flag ([`cli`]), and one-line-per-event logging to
//! stderr ([`log`]). This crate links no async runtime by default: `podkit-init` depends on it and
//! must stay tiny, so the network tools' shared parts come behind cargo features, each pulling in
//! only what it needs:
//!
//! | feature | what | used by |
//! |---|---|---|
//! | `clap` | [`cli::parse`], the one parse of a command line, and the shared logging flags | every tool but podkit-init |
//! | `signals` | [`shutdown`]: SIGTERM/SIGINT as one shutdown signal with a bounded drain | the tokio-based tools, podkit-probe's `wait` |
//! | `serve` | [`serve`]: the `/healthz` `/readyz` `/metrics` endpoint | the long-running tools |
//! | `daemon` | [`daemon`]: start-up and end of a long-running tool (`clap` + `signals` + `serve`) | podkit-ambassador, podkit-reload |
//! | `tls` | [`tls`]: rustls configurations, reloadable material, peer identity rules | the tools that speak TLS |
//! | `connect` | [`connect`]: one resolver, and each resolved address tried with a share of the timeout | podkit-probe, podkit-ambassador |
//! | `http-client` | [`http`]: URLs, headers, accepted statuses and one HTTP/1 client (`connect` included) | podkit-probe, podkit-reload |
//! | `watch` | [`watch`]: the watcher of kubelet-written Secret and ConfigMap volumes | podkit-ambassador, podkit-reload |
//!
//! The process table, and signals that never reach a recycled pid, are in [`proc`] (no feature).

pub mod addr;
pub mod backoff;
pub mod cli;
#[cfg(feature = "connect")]
pub mod connect;
#[cfg(feature = "daemon")]
pub mod daemon;
pub mod duration;
#[cfg(feature = "http-client")]
pub mod http;
pub mod log;
pub mod proc;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "signals")]
pub mod shutdown;
pub mod signal;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "watch")]
pub mod watch;
