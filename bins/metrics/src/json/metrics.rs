//! The JSON input's own metrics: fetches by URL and result, how long they took, and the
//! selected values that gave no sample. They are collected by the JSON input's collector after
//! a scrape's fetches, not registered on their own, so that a scrape counts its own fetches.

use podkit::serve::prometheus::core::{Collector, Desc};
use podkit::serve::prometheus::proto::MetricFamily;
use podkit::serve::prometheus::{
    self, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Result,
};

use super::fetch::RESULTS;
use super::select::{Skipped, SKIP_REASONS};

#[derive(Debug, Clone)]
pub struct JsonMetrics {
    fetches: IntCounterVec,
    duration: HistogramVec,
    /// When each URL last gave a document: with an interval, how old the values served are.
    last_success: GaugeVec,
    skipped_vec: IntCounterVec,
    /// One counter per [`SKIP_REASONS`], in its order.
    skipped: Vec<IntCounter>,
}

impl JsonMetrics {
    /// Makes them, with every fetch result of every URL at zero, so that a rate over them
    /// works from the first scrape.
    pub fn new(urls: &[String]) -> Result<JsonMetrics> {
        let fetches = IntCounterVec::new(
            Opts::new(
                "podkit_metrics_json_fetches_total",
                "Fetches of --json URLs (credentials left out), by result: ok, timeout, error \
                 (connecting or reading), status (not 2xx), too_large, malformed (not JSON).",
            ),
            &["url", "result"],
        )?;
        for url in urls {
            for result in RESULTS {
                fetches.get_metric_with_label_values(&[url, result])?;
            }
        }
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "podkit_metrics_json_fetch_duration_seconds",
                "How long fetches of --json URLs took, whatever their result.",
            )
            .buckets(prometheus::DEFAULT_BUCKETS.to_vec()),
            &["url"],
        )?;
        let last_success = GaugeVec::new(
            Opts::new(
                "podkit_metrics_json_last_success_timestamp_seconds",
                "When each --json URL last gave a document, in seconds since the epoch: with \
                 --json-interval, the age of the values served.",
            ),
            &["url"],
        )?;
        let skipped_vec = IntCounterVec::new(
            Opts::new(
                "podkit_metrics_json_values_skipped_total",
                "Values selected by JSON rules that gave no sample: non_numeric, \
                 negative_counter, duplicate (a series another value already gave in the same \
                 scrape), name_taken (a name StatsD or the log rules already fill), max_series (past \
                 --max-series).",
            ),
            &["reason"],
        )?;
        let skipped = SKIP_REASONS
            .iter()
            .map(|r| skipped_vec.get_metric_with_label_values(&[r]))
            .collect::<Result<_>>()?;
        Ok(JsonMetrics {
            fetches,
            duration,
            last_success,
            skipped_vec,
            skipped,
        })
    }

    pub fn fetched(&self, url: &str, result: usize, seconds: f64) {
        self.fetches
            .with_label_values(&[url, RESULTS[result]])
            .inc();
        self.duration.with_label_values(&[url]).observe(seconds);
        if result == 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64());
            self.last_success.with_label_values(&[url]).set(now);
        }
    }

    pub fn skipped(&self, skipped: &Skipped) {
        for (counter, n) in self.skipped.iter().zip(skipped.0) {
            counter.inc_by(n);
        }
    }

    pub fn descs(&self) -> Vec<&Desc> {
        let mut descs = self.fetches.desc();
        descs.extend(self.duration.desc());
        descs.extend(self.last_success.desc());
        descs.extend(self.skipped_vec.desc());
        descs
    }

    pub fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.fetches.collect();
        families.extend(self.duration.collect());
        families.extend(self.last_success.collect());
        families.extend(self.skipped_vec.collect());
        families
    }

    #[cfg(test)]
    pub fn skipped_count(&self, reason: usize) -> u64 {
        self.skipped[reason].get()
    }
}
