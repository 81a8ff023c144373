//! The JSON input's own metrics: fetches by URL and result, how long they took, and the
//! selected values that gave no sample.

use podkit::serve::prometheus::{
    self, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Result,
};
use podkit::serve::{Registrar, Registry};

use super::fetch::RESULTS;
use super::select::{Skipped, SKIP_REASONS};

#[derive(Debug, Clone)]
pub struct JsonMetrics {
    fetches: IntCounterVec,
    duration: HistogramVec,
    /// One counter per [`SKIP_REASONS`], in its order.
    skipped: Vec<IntCounter>,
}

impl JsonMetrics {
    /// Registers them, with every fetch result of every URL at zero, so that a rate over them
    /// works from the first scrape.
    pub fn register(registry: &Registry, urls: &[String]) -> Result<JsonMetrics> {
        let metrics = Registrar::new(registry);
        let present: Vec<[&str; 2]> = urls
            .iter()
            .flat_map(|url| RESULTS.iter().map(move |result| [url.as_str(), *result]))
            .collect();
        let present: Vec<&[&str]> = present.iter().map(|p| &p[..]).collect();
        let fetches = metrics.counter_vec(
            "podkit_metrics_json_fetches_total",
            "Fetches of --json URLs (credentials left out), by result: ok, timeout, error \
             (connecting or reading), status (not 2xx), too_large, malformed (not JSON).",
            &["url", "result"],
            &present,
        )?;
        let duration = metrics.register(HistogramVec::new(
            HistogramOpts::new(
                "podkit_metrics_json_fetch_duration_seconds",
                "How long fetches of --json URLs took, whatever their result.",
            )
            .buckets(prometheus::DEFAULT_BUCKETS.to_vec()),
            &["url"],
        )?)?;
        let reasons: Vec<[&str; 1]> = SKIP_REASONS.iter().map(|r| [*r]).collect();
        let present: Vec<&[&str]> = reasons.iter().map(|r| &r[..]).collect();
        let skipped = metrics.counter_vec(
            "podkit_metrics_json_values_skipped_total",
            "Values selected by JSON rules that gave no sample: non_numeric, negative_counter, \
             duplicate (a series another value already gave in the same scrape).",
            &["reason"],
            &present,
        )?;
        Ok(JsonMetrics {
            fetches,
            duration,
            skipped: SKIP_REASONS
                .iter()
                .map(|r| skipped.with_label_values(&[r]))
                .collect(),
        })
    }

    pub fn fetched(&self, url: &str, result: usize, seconds: f64) {
        self.fetches
            .with_label_values(&[url, RESULTS[result]])
            .inc();
        self.duration.with_label_values(&[url]).observe(seconds);
    }

    pub fn skipped(&self, skipped: &Skipped) {
        for (counter, n) in self.skipped.iter().zip(skipped.0) {
            counter.inc_by(n);
        }
    }
}
