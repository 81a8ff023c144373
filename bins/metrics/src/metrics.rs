//! podkit-metrics' own metrics, beside the ones it adapts: what came in, what was skipped and
//! why, and the size of the table.

use podkit::serve::prometheus::{IntCounter, IntCounterVec, IntGauge, Result};
use podkit::serve::{Registrar, Registry};

use crate::statsd::line::Reason;

/// Why a parsed event changed no series: the `reason` of `..._events_dropped_total`.
pub const DROP_REASONS: [&str; 7] = [
    "rule",
    "empty_name",
    "negative_counter",
    "non_finite_counter",
    "type_conflict",
    "reserved_name",
    "reserved_label",
];

#[derive(Debug, Clone)]
pub struct Metrics {
    pub packets: IntCounter,
    pub lines: IntCounter,
    pub samples: IntCounter,
    /// One counter per [`Reason`], in [`Reason::ALL`]'s order.
    pub parse_errors: Vec<IntCounter>,
    pub tag_errors: IntCounter,
    pub unmapped: IntCounter,
    dropped: IntCounterVec,
    pub series: IntGauge,
    pub expired: IntCounter,
    pub refused: IntCounter,
    pub mappings: IntGauge,
    pub connections: IntCounter,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Result<Metrics> {
        let metrics = Registrar::new(registry);
        let reasons: Vec<[&str; 1]> = Reason::ALL.iter().map(|r| [r.as_str()]).collect();
        let present: Vec<&[&str]> = reasons.iter().map(|r| &r[..]).collect();
        let parse_errors = metrics.counter_vec(
            "podkit_metrics_statsd_parse_errors_total",
            "StatsD samples or lines skipped, by reason (statsd_exporter's reasons).",
            &["reason"],
            &present,
        )?;
        let drops: Vec<[&str; 1]> = DROP_REASONS.iter().map(|r| [*r]).collect();
        let present: Vec<&[&str]> = drops.iter().map(|r| &r[..]).collect();
        Ok(Metrics {
            packets: metrics.counter(
                "podkit_metrics_statsd_packets_total",
                "UDP datagrams received.",
            )?,
            lines: metrics.counter(
                "podkit_metrics_statsd_lines_total",
                "StatsD lines received over UDP and TCP.",
            )?,
            samples: metrics.counter(
                "podkit_metrics_statsd_samples_total",
                "StatsD samples read from those lines, good or bad.",
            )?,
            parse_errors: Reason::ALL
                .iter()
                .map(|r| parse_errors.with_label_values(&[r.as_str()]))
                .collect(),
            tag_errors: metrics.counter(
                "podkit_metrics_statsd_tag_errors_total",
                "Tags that could not be read (the sample was kept without them).",
            )?,
            unmapped: metrics.counter(
                "podkit_metrics_events_unmapped_total",
                "Events that no mapping matched, exposed under their escaped StatsD name.",
            )?,
            dropped: metrics.counter_vec(
                "podkit_metrics_events_dropped_total",
                "Events that changed no series: dropped by a rule, or refused (empty name, \
                 negative counter, a name already of another type, a reserved name, an le or quantile tag on an observation).",
                &["reason"],
                &present,
            )?,
            series: metrics.int_gauge(
                "podkit_metrics_series",
                "Series exposed now, beside podkit-metrics' own.",
            )?,
            expired: metrics.counter(
                "podkit_metrics_series_expired_total",
                "Series removed because no event came within their ttl.",
            )?,
            refused: metrics.counter(
                "podkit_metrics_series_refused_total",
                "New series refused because --max-series were already exposed.",
            )?,
            mappings: metrics
                .int_gauge("podkit_metrics_mappings", "Mappings in the --mapping file.")?,
            connections: metrics.counter(
                "podkit_metrics_statsd_tcp_connections_total",
                "StatsD TCP connections accepted.",
            )?,
        })
    }

    /// Counts an event dropped for `reason`, one of [`DROP_REASONS`].
    pub fn dropped(&self, reason: &str) {
        self.dropped.with_label_values(&[reason]).inc();
    }
}
