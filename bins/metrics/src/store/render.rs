//! The table as Prometheus metric families, for the registry's scrape: one family per name,
//! its series under the union of their label names.

use std::collections::BTreeSet;
use std::time::Instant;

use podkit::serve::prometheus::core::{Collector, Desc};
use podkit::serve::prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary,
};
use podkit::serve::prometheus::IntCounter;

use super::series::Value;
use super::{Family, State, Store};
use std::sync::Arc;

/// The store as a collector in the tool's registry: it declares no descriptors, since its
/// names are only known at run time (the registry allows one such collector).
#[derive(Debug, Clone)]
pub struct StoreCollector {
    pub store: Arc<Store>,
    /// Counts the series a scrape found expired.
    pub expired: IntCounter,
}

impl Collector for StoreCollector {
    fn desc(&self) -> Vec<&Desc> {
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = Instant::now();
        let mut state = self.store.lock();
        // A scrape never shows a series whose ttl has passed, whenever the sweep last ran.
        let expired = state.expire(now);
        let families = render(&mut state, now);
        drop(state);
        self.expired.inc_by(expired as u64);
        families
    }
}

/// Every family, sorted by name.
pub fn render(state: &mut State, now: Instant) -> Vec<MetricFamily> {
    let mut names: Vec<&String> = state.families.keys().collect();
    names.sort();
    let names: Vec<String> = names.into_iter().cloned().collect();
    names
        .into_iter()
        .filter_map(|name| {
            let family = state.families.get_mut(&name)?;
            Some(render_family(name, family, now))
        })
        .collect()
}

fn render_family(name: String, family: &mut Family, now: Instant) -> MetricFamily {
    let union: BTreeSet<&str> = family
        .series
        .keys()
        .flat_map(|labels| labels.iter().map(|(k, _)| &**k))
        .collect();
    let union: Vec<String> = union.into_iter().map(str::to_owned).collect();
    let mut out = MetricFamily::default();
    out.set_name(name);
    out.set_help(family.help.clone());
    let mut metrics = Vec::with_capacity(family.series.len());
    let mut field_type = MetricType::GAUGE;
    for (labels, entry) in family.series.iter_mut() {
        let mut metric = Metric::default();
        metric.set_label(
            union
                .iter()
                .map(|label| {
                    let value = labels
                        .iter()
                        .find(|(k, _)| **k == **label)
                        .map_or("", |(_, v)| &**v);
                    let mut pair = LabelPair::default();
                    pair.set_name(label.clone());
                    pair.set_value(value.to_owned());
                    pair
                })
                .collect(),
        );
        match &mut entry.value {
            Value::Counter(total) => {
                field_type = MetricType::COUNTER;
                let mut counter = Counter::default();
                counter.set_value(*total);
                metric.set_counter(counter);
            }
            Value::Gauge(value) => {
                let mut gauge = Gauge::default();
                gauge.set_value(*value);
                metric.set_gauge(gauge);
            }
            Value::Set(members) => {
                let mut gauge = Gauge::default();
                gauge.set_value(members.len() as f64);
                metric.set_gauge(gauge);
            }
            Value::Histogram(histogram) => {
                field_type = MetricType::HISTOGRAM;
                let mut out = Histogram::default();
                out.set_sample_count(histogram.count);
                out.set_sample_sum(histogram.sum);
                out.set_bucket(
                    histogram
                        .cumulative()
                        .map(|(bound, count)| {
                            let mut bucket = Bucket::default();
                            bucket.set_upper_bound(bound);
                            bucket.set_cumulative_count(count);
                            bucket
                        })
                        .collect(),
                );
                metric.set_histogram(out);
            }
            Value::Summary(summary) => {
                field_type = MetricType::SUMMARY;
                let mut out = Summary::default();
                out.set_quantile(
                    summary
                        .quantiles(now)
                        .into_iter()
                        .map(|(q, v)| {
                            let mut quantile = Quantile::default();
                            quantile.set_quantile(q);
                            quantile.set_value(v);
                            quantile
                        })
                        .collect(),
                );
                out.set_sample_count(summary.count);
                out.set_sample_sum(summary.sum);
                metric.set_summary(out);
            }
        }
        metrics.push(metric);
    }
    out.set_field_type(field_type);
    out.set_metric(metrics);
    out
}
