//! podkit-git's Prometheus metrics, registered once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use podkit::serve::prometheus::{
    exponential_buckets, Gauge, Histogram, IntCounterVec, IntGaugeVec,
};
use podkit::serve::{Registrar, Registry};

use crate::sync::{SyncError, Synced};

#[derive(Clone)]
pub struct Metrics {
    syncs: IntCounterVec,
    last_sync: Gauge,
    duration: Histogram,
    fetch: Histogram,
    commit: IntGaugeVec,
    hooks: IntCounterVec,
}

impl Metrics {
    pub fn register(registry: &Registry) -> podkit::serve::prometheus::Result<Metrics> {
        let metrics = Registrar::new(registry);
        Ok(Metrics {
            syncs: metrics.counter_vec(
                "podkit_git_syncs_total",
                "Syncs by result: published, unchanged, or why it failed.",
                &["result"],
                &[&["published"], &["unchanged"]],
            )?,
            last_sync: metrics.gauge(
                "podkit_git_last_sync_timestamp_seconds",
                "When a sync last succeeded (published or found nothing new).",
            )?,
            duration: metrics.histogram(
                "podkit_git_sync_duration_seconds",
                "How long a sync took: the fetch, and the checkout when there was a new commit.",
                exponential_buckets(0.01, 2.0, 14)?,
            )?,
            fetch: metrics.histogram(
                "podkit_git_fetch_duration_seconds",
                "How long the fetch of a successful sync took (opening a file:// repository, for one).",
                exponential_buckets(0.01, 2.0, 14)?,
            )?,
            commit: metrics.int_gauge_vec(
                "podkit_git_commit_info",
                "The commit published now; always 1.",
                &["sha"],
            )?,
            hooks: metrics.counter_vec(
                "podkit_git_hooks_total",
                "Hooks run after a publish, by hook (touch, webhook, exec) and result.",
                &["hook", "result"],
                &[],
            )?,
        })
    }

    pub fn synced(&self, outcome: &Result<Synced, SyncError>, took: Duration) {
        let result = match outcome {
            Ok(Synced::Published { fetched, .. }) => {
                self.fetch.observe(fetched.as_secs_f64());
                "published"
            }
            Ok(Synced::Unchanged { fetched, .. }) => {
                self.fetch.observe(fetched.as_secs_f64());
                "unchanged"
            }
            Err(error) => error.kind(),
        };
        self.syncs.with_label_values(&[result]).inc();
        self.duration.observe(took.as_secs_f64());
        if outcome.is_ok() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.last_sync.set(now.as_secs_f64());
        }
    }

    /// The commit now published: one series, the old one removed.
    pub fn commit(&self, commit: gix::ObjectId) {
        self.commit.reset();
        self.commit.with_label_values(&[&commit.to_string()]).set(1);
    }

    pub fn hook(&self, hook: &str, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.hooks.with_label_values(&[hook, result]).inc();
    }
}
