//! The JSON inputs' series as the registry's scrape sees them: one family per rule name, its
//! series from every input's last samples, each label set once (a second value for the same
//! series is counted and skipped: Prometheus would refuse the scrape's duplicate).

use std::collections::HashSet;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Duration;

use podkit::serve::prometheus::core::{Collector, Desc};
use podkit::serve::prometheus::proto::{
    Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType,
};
use tokio::sync::mpsc::UnboundedSender;

use super::rules::Kind;
use super::select::Skipped;
use super::source::{Job, Shared};

/// How much longer than `--json-timeout` a scrape waits for its fetches: they end at the
/// timeout, and this covers handing the answer back.
const HAND_OVER: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct JsonCollector {
    shared: Arc<Shared>,
    /// Fetch on each scrape through this; none when an interval fetches.
    jobs: Option<UnboundedSender<Job>>,
    /// One per family: the names are known from the rules, so the registry can refuse a clash.
    descs: Vec<Desc>,
}

impl JsonCollector {
    pub fn new(
        shared: Arc<Shared>,
        jobs: Option<UnboundedSender<Job>>,
    ) -> podkit::serve::prometheus::Result<JsonCollector> {
        let descs = shared
            .families
            .iter()
            .map(|family| {
                Desc::new(
                    family.name.clone(),
                    family.help.clone(),
                    family.labels.iter().map(|l| l.to_string()).collect(),
                    Default::default(),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(JsonCollector {
            shared,
            jobs,
            descs,
        })
    }

    /// Asks the fetching thread for fresh documents and waits, at most the timeout (and the
    /// hand-over), for them.
    fn fetch_now(&self) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        let (reply, done) = sync_channel(1);
        if jobs.send(reply).is_ok() {
            let _ = done.recv_timeout(self.shared.timeout + HAND_OVER);
        }
    }

    fn render(&self) -> Vec<MetricFamily> {
        let families = &self.shared.families;
        let mut metrics: Vec<Vec<Metric>> = vec![Vec::new(); families.len()];
        let mut seen: HashSet<(usize, Vec<String>)> = HashSet::new();
        let mut skipped = Skipped::default();
        for input in &self.shared.inputs {
            let Some(samples) = input.last() else {
                continue;
            };
            for sample in samples.iter() {
                let Some(family) = families.get(sample.family) else {
                    continue;
                };
                let values: Vec<String> = family
                    .labels
                    .iter()
                    .map(|name| {
                        sample
                            .labels
                            .iter()
                            .find(|(k, _)| k == name)
                            .map_or_else(String::new, |(_, v)| v.clone())
                    })
                    .collect();
                let mut metric = Metric::default();
                metric.set_label(
                    family
                        .labels
                        .iter()
                        .zip(&values)
                        .map(|(name, value)| {
                            let mut pair = LabelPair::default();
                            pair.set_name(name.to_string());
                            pair.set_value(value.clone());
                            pair
                        })
                        .collect(),
                );
                if !seen.insert((sample.family, values)) {
                    skipped.count(2);
                    continue;
                }
                match family.kind {
                    Kind::Counter => {
                        let mut counter = Counter::default();
                        counter.set_value(sample.value);
                        metric.set_counter(counter);
                    }
                    Kind::Gauge | Kind::Untyped => {
                        let mut gauge = Gauge::default();
                        gauge.set_value(sample.value);
                        metric.set_gauge(gauge);
                    }
                }
                metrics[sample.family].push(metric);
            }
        }
        self.shared.metrics.skipped(&skipped);
        families
            .iter()
            .zip(metrics)
            .filter(|(_, metrics)| !metrics.is_empty())
            .map(|(family, metrics)| {
                let mut out = MetricFamily::default();
                out.set_name(family.name.clone());
                out.set_help(family.help.clone());
                out.set_field_type(match family.kind {
                    Kind::Counter => MetricType::COUNTER,
                    Kind::Gauge | Kind::Untyped => MetricType::GAUGE,
                });
                out.set_metric(metrics);
                out
            })
            .collect()
    }
}

impl Collector for JsonCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.fetch_now();
        self.render()
    }
}
