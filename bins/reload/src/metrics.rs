//! podkit-reload's Prometheus metrics, registered once.

use podkit::serve::prometheus::{
    exponential_buckets, Gauge, Histogram, IntCounterVec, IntGauge, IntGaugeVec,
};
use podkit::serve::{Registrar, Registry};

#[derive(Clone)]
pub struct Metrics {
    reloads: IntCounterVec,
    pub last_success: Gauge,
    pub last_failure: Gauge,
    content: IntGaugeVec,
    pub commit_delay: Histogram,
    pub unreadable: IntGauge,
}

impl Metrics {
    pub fn register(
        registry: &Registry,
        actions: &[&'static str],
    ) -> podkit::serve::prometheus::Result<Metrics> {
        let metrics = Registrar::new(registry);
        let every_result: Vec<[&str; 2]> = actions
            .iter()
            .flat_map(|action| [[*action, "success"], [*action, "failure"]])
            .collect();
        let present: Vec<&[&str]> = every_result.iter().map(|pair| &pair[..]).collect();
        Ok(Metrics {
            reloads: metrics.counter_vec(
                "podkit_reload_reloads_total",
                "Actions run on a change, by action (validate, webhook, signal, exec) and result.",
                &["action", "result"],
                &present,
            )?,
            last_success: metrics.gauge(
                "podkit_reload_last_success_timestamp_seconds",
                "When the watched content was last applied with every action succeeding.",
            )?,
            last_failure: metrics.gauge(
                "podkit_reload_last_failure_timestamp_seconds",
                "When an apply last failed (validation or an action); 0 if never.",
            )?,
            content: metrics.int_gauge_vec(
                "podkit_reload_content_info",
                "The hash of the watched content last applied; always 1.",
                &["hash"],
            )?,
            commit_delay: metrics.histogram(
                "podkit_reload_commit_to_reload_seconds",
                "From the kubelet's commit (the time of its ..data link) to the end of the apply.",
                exponential_buckets(0.05, 2.0, 12)?,
            )?,
            unreadable: metrics.int_gauge(
                "podkit_reload_unreadable_files",
                "Files under the watched paths that exist but this process cannot read now.",
            )?,
        })
    }

    pub fn counted(&self, action: &str, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.reloads.with_label_values(&[action, result]).inc();
    }

    /// The content now applied: one series, the old one removed.
    pub fn applied(&self, hash: u64) {
        self.content.reset();
        self.content
            .with_label_values(&[&format!("{hash:016x}")])
            .set(1);
    }
}
