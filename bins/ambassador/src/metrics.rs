//! The ambassador's Prometheus metrics, registered once; the data path only increments handles.

use podkit::serve::prometheus::{
    exponential_buckets, Gauge, Histogram, IntCounter, IntCounterVec, IntGauge,
};
use podkit::serve::{Registrar, Registry};

use crate::pipe::Way;

#[derive(Clone)]
pub struct Metrics {
    pub open_connections: IntGauge,
    pub accepted: IntCounter,
    /// Proxied connections that ended with a socket error (a reset) rather than a close.
    pub failed: IntCounter,
    refused: IntCounterVec,
    pub handshake_seconds: Histogram,
    bytes_to_target: IntCounter,
    bytes_to_client: IntCounter,
    /// Only when the ambassador presents a certificate (always in server mode, with --cert in
    /// client mode): a zero would read as "expired in 1970" to an expiry alert.
    pub certificate_not_after: Option<Gauge>,
    reload_success: IntCounter,
    reload_failure: IntCounter,
}

/// Why a connection was refused: a fixed set, so the metric's cardinality stays bounded.
pub const REFUSAL_REASONS: &[&str] = &[
    "handshake_failed",
    "handshake_timeout",
    "evicted_silent",
    "no_client_certificate",
    "certificate_expired",
    "unknown_issuer",
    "bad_certificate",
    "not_allowed",
    "unreadable_certificate",
    "server_not_allowed",
    "target_unresolved",
    "target_unreachable",
    "target_timeout",
];

impl Metrics {
    pub fn register(
        registry: &Registry,
        presents_certificate: bool,
        max_conns: Option<usize>,
    ) -> podkit::serve::prometheus::Result<Metrics> {
        let metrics = Registrar::new(registry);
        let refused: Vec<&[&str]> = REFUSAL_REASONS.iter().map(std::slice::from_ref).collect();
        let bytes = metrics.counter_vec(
            "podkit_ambassador_bytes_total",
            "Bytes proxied, by direction: to_target (from the accepted connection) or to_client.",
            &["direction"],
            &[&["to_target"], &["to_client"]],
        )?;
        let reloads = metrics.counter_vec(
            "podkit_ambassador_reloads_total",
            "Reloads of the certificate, key and CA files, by result.",
            &["result"],
            &[&["success"], &["failure"]],
        )?;
        // Only with --max-conns: the limit, so that open / max shows saturation. Set once; the
        // registry keeps it.
        if let Some(max) = max_conns {
            metrics
                .int_gauge(
                    "podkit_ambassador_max_connections",
                    "The --max-conns limit: open connections at this value wait in the backlog or evict a silent one.",
                )?
                .set(i64::try_from(max).unwrap_or(i64::MAX));
        }
        Ok(Metrics {
            open_connections: metrics.int_gauge(
                "podkit_ambassador_open_connections",
                "Connections being proxied now.",
            )?,
            accepted: metrics.counter(
                "podkit_ambassador_connections_accepted_total",
                "Connections whose handshake and identity checks passed and whose target answered.",
            )?,
            failed: metrics.counter(
                "podkit_ambassador_connections_failed_total",
                "Proxied connections that ended with a socket error on either side (a reset, a target that hung up at once) rather than a close.",
            )?,
            refused: metrics.counter_vec(
                "podkit_ambassador_connections_refused_total",
                "Connections closed before proxying, by reason.",
                &["reason"],
                &refused,
            )?,
            handshake_seconds: metrics.histogram(
                "podkit_ambassador_handshake_duration_seconds",
                "Time to complete a TLS handshake.",
                exponential_buckets(0.0005, 2.0, 14)?,
            )?,
            bytes_to_target: bytes.with_label_values(&["to_target"]),
            bytes_to_client: bytes.with_label_values(&["to_client"]),
            certificate_not_after: presents_certificate
                .then(|| {
                    metrics.gauge(
                        "podkit_ambassador_certificate_not_after_timestamp_seconds",
                        "When the certificate in use expires, in seconds since the epoch.",
                    )
                })
                .transpose()?,
            reload_success: reloads.with_label_values(&["success"]),
            reload_failure: reloads.with_label_values(&["failure"]),
        })
    }

    /// Counts a refusal; `reason` is one of [`REFUSAL_REASONS`].
    pub fn refused(&self, reason: &'static str) {
        self.refused.with_label_values(&[reason]).inc();
    }

    pub fn bytes(&self, way: Way, n: usize) {
        let counter = match way {
            Way::ToTarget => &self.bytes_to_target,
            Way::ToClient => &self.bytes_to_client,
        };
        counter.inc_by(n as u64);
    }

    pub fn reloaded(&self, success: bool) {
        if success {
            self.reload_success.inc();
        } else {
            self.reload_failure.inc();
        }
    }
}
