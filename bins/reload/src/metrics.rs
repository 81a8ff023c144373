//! podkit-reload's Prometheus metrics, registered once.

use podkit::serve::prometheus::{
    exponential_buckets, Gauge, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts,
};
use podkit::serve::Registry;

#[derive(Clone)]
pub struct Metrics {
    reloads: IntCounterVec,
    pub last_success: Gauge,
    pub last_failure: Gauge,
    content: IntGaugeVec,
    pub commit_delay: Histogram,
}

impl Metrics {
    pub fn register(
        registry: &Registry,
        actions: &[&'static str],
    ) -> podkit::serve::prometheus::Result<Metrics> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "podkit_reload_reloads_total",
                "Actions run on a change, by action (validate, webhook, signal, exec) and result.",
            ),
            &["action", "result"],
        )?;
        let last_success = Gauge::new(
            "podkit_reload_last_success_timestamp_seconds",
            "When the watched content was last applied with every action succeeding.",
        )?;
        let last_failure = Gauge::new(
            "podkit_reload_last_failure_timestamp_seconds",
            "When an apply last failed (validation or an action); 0 if never.",
        )?;
        let content = IntGaugeVec::new(
            Opts::new(
                "podkit_reload_content_info",
                "The hash of the watched content last applied; always 1.",
            ),
            &["hash"],
        )?;
        let commit_delay = Histogram::with_opts(
            HistogramOpts::new(
                "podkit_reload_commit_to_reload_seconds",
                "From the kubelet's commit (the time of its ..data link) to the end of the apply.",
            )
            .buckets(exponential_buckets(0.05, 2.0, 12)?),
        )?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(last_failure.clone()))?;
        registry.register(Box::new(content.clone()))?;
        registry.register(Box::new(commit_delay.clone()))?;
        for action in actions {
            for result in ["success", "failure"] {
                reloads.with_label_values(&[action, result]);
            }
        }
        Ok(Metrics {
            reloads,
            last_success,
            last_failure,
            content,
            commit_delay,
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
