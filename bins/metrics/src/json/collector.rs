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

use super::rules::{Family, Kind};
use super::select::{Sample, Skipped, Skips};
use super::source::{Job, Shared};

/// How much longer than `--json-timeout` a scrape waits for its fetches: they end at the
/// timeout, and this covers handing the answer back.
pub const HAND_OVER: Duration = Duration::from_secs(1);

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
        let mut skipped = Skipped::default();
        // Looked up once per scrape. StatsD may make one of these names between this look and
        // the store's own collect, and that one scrape then shows both under one name; the
        // next leaves the JSON family out.
        let (taken, room): (Vec<bool>, usize) = {
            let state = self.shared.store.lock();
            let taken = families.iter().map(|f| state.has_family(&f.name)).collect();
            // --max-series counts every series exposed: the table's, then these.
            let room = self
                .shared
                .max_series
                .map_or(usize::MAX, |max| max.saturating_sub(state.series()));
            (taken, room)
        };
        let lasts: Vec<_> = self
            .shared
            .inputs
            .iter()
            .filter_map(|input| input.last())
            .collect();
        let shown = expose(
            families,
            lasts.iter().flat_map(|samples| samples.iter()),
            &taken,
            room,
            &mut skipped,
        );
        self.shared.metrics.skipped(&skipped);
        let mut metrics: Vec<Vec<Metric>> = vec![Vec::new(); families.len()];
        for series in shown {
            let family = &families[series.family];
            let mut metric = Metric::default();
            metric.set_label(
                family
                    .labels
                    .iter()
                    .zip(series.values)
                    .map(|(name, value)| {
                        let mut pair = LabelPair::default();
                        pair.set_name(name.to_string());
                        pair.set_value(value);
                        pair
                    })
                    .collect(),
            );
            match family.kind {
                Kind::Counter => {
                    let mut counter = Counter::default();
                    counter.set_value(series.value);
                    metric.set_counter(counter);
                }
                Kind::Gauge | Kind::Untyped => {
                    let mut gauge = Gauge::default();
                    gauge.set_value(series.value);
                    metric.set_gauge(gauge);
                }
            }
            metrics[series.family].push(metric);
        }
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

/// One series as a scrape shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposed {
    pub family: usize,
    /// The values of the family's labels (the union of its rules'), in its order; "" where the
    /// sample has none, which Prometheus reads as absent.
    pub values: Vec<String>,
    pub value: f64,
}

/// What one scrape shows of `samples`, in their order: none of a family the table already fills
/// (`taken`, by family: `name_taken`), each series once (a second value is a `duplicate`), and
/// at most `room` of them (`max_series`). `check` shows a document through this too.
pub fn expose<'a>(
    families: &[Family],
    samples: impl IntoIterator<Item = &'a Sample>,
    taken: &[bool],
    mut room: usize,
    skips: &mut impl Skips,
) -> Vec<Exposed> {
    let mut seen: HashSet<(usize, Vec<String>)> = HashSet::new();
    let mut shown = Vec::new();
    for sample in samples {
        let Some(family) = families.get(sample.family) else {
            continue;
        };
        if taken.get(sample.family).copied().unwrap_or(false) {
            skips.skip(3, sample.family, &sample.labels, &sample.value);
            continue;
        }
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
        if !seen.insert((sample.family, values.clone())) {
            skips.skip(2, sample.family, &sample.labels, &sample.value);
            continue;
        }
        if room == 0 {
            skips.skip(4, sample.family, &sample.labels, &sample.value);
            continue;
        }
        room -= 1;
        shown.push(Exposed {
            family: sample.family,
            values,
            value: sample.value,
        });
    }
    shown
}

impl Collector for JsonCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs: Vec<&Desc> = self.descs.iter().collect();
        descs.extend(self.shared.metrics.descs());
        descs
    }

    /// Fetches (unless an interval does), renders, then the input's own metrics, which so
    /// count this scrape's fetches.
    fn collect(&self) -> Vec<MetricFamily> {
        self.fetch_now();
        let mut families = self.render();
        families.extend(self.shared.metrics.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::metrics::JsonMetrics;
    use crate::json::rules::Catalog;
    use crate::json::select::{samples, SKIP_REASONS};
    use crate::json::source::Input;
    use crate::store::{Op, Store, Update};
    use podkit::http::Url;

    /// A collector over one input whose last document was `document`, beside `store`.
    fn collector(rules: &str, document: serde_json::Value, store: Arc<Store>) -> JsonCollector {
        capped(rules, document, store, None)
    }

    fn capped(
        rules: &str,
        document: serde_json::Value,
        store: Arc<Store>,
        max_series: Option<usize>,
    ) -> JsonCollector {
        let mut catalog = Catalog::default();
        let rules = catalog.load(rules).expect("rules");
        catalog.finish();
        let url = Url::parse_http("http://127.0.0.1:9/status.json").expect("url");
        let input = Input::new(url, rules);
        let mut skipped = Skipped::default();
        let found = samples(input.rules(), &catalog.families, &document, &mut skipped);
        *input.last.lock().expect("lock") = Some(Arc::new(found));
        let shared = Arc::new(Shared {
            metrics: JsonMetrics::new(&[]).expect("metrics"),
            families: catalog.families,
            store,
            max_series,
            inputs: vec![input],
            timeout: Duration::from_secs(1),
        });
        JsonCollector::new(shared, None).expect("collector")
    }

    /// A store holding one StatsD counter, `name`, as the StatsD input would have made it.
    fn store_counting(name: &str) -> Arc<Store> {
        let store = Arc::new(Store::new(None));
        let observer = crate::mapping::Mapper::empty().default_observer;
        store
            .lock()
            .apply(
                &Update {
                    name: name.into(),
                    help: None,
                    labels: Vec::new(),
                    op: Op::Add(1.0),
                    ttl: None,
                    observer: &observer,
                },
                std::time::Instant::now(),
            )
            .expect("a StatsD counter");
        store
    }

    fn shown(families: &[MetricFamily]) -> Vec<String> {
        families
            .iter()
            .flat_map(|f| {
                f.get_metric().iter().map(move |m| {
                    let labels: Vec<String> = m
                        .get_label()
                        .iter()
                        .map(|l| format!("{}={}", l.name(), l.value()))
                        .collect();
                    format!("{}{{{}}}", f.name(), labels.join(","))
                })
            })
            .collect()
    }

    #[test]
    fn a_series_given_twice_is_shown_once_under_the_union_of_labels() {
        let store = Arc::new(Store::new(None));
        let collector = collector(
            "metrics:\n- {name: up, path: '$.a[*]', labels: {x: one}}\n- {name: up, path: $.b, labels: {y: fixed}}\n",
            serde_json::json!({"a": [1, 2], "b": 5}),
            store,
        );
        assert_eq!(
            shown(&collector.render()),
            ["up{x=one,y=}", "up{x=,y=fixed}"]
        );
        assert_eq!(SKIP_REASONS[2], "duplicate");
        assert_eq!(collector.shared.metrics.skipped_count(2), 1);
    }

    #[test]
    fn a_name_statsd_already_fills_is_left_out() {
        let store = store_counting("up");
        let collector = collector(
            "metrics: [{name: up, path: $.a}, {name: other, path: $.a}]",
            serde_json::json!({"a": 1}),
            store,
        );
        assert_eq!(shown(&collector.render()), ["other{}"]);
        assert_eq!(SKIP_REASONS[3], "name_taken");
        assert_eq!(collector.shared.metrics.skipped_count(3), 1);
    }

    #[test]
    fn max_series_counts_the_tables_series_and_these() {
        let store = store_counting("statsd");
        let collector = capped(
            "metrics: [{name: v, path: '$[*]', labels: {at: '@key'}}]",
            serde_json::json!([1, 2, 3]),
            store,
            Some(3),
        );
        assert_eq!(shown(&collector.render()), ["v{at=0}", "v{at=1}"]);
        assert_eq!(SKIP_REASONS[4], "max_series");
        assert_eq!(collector.shared.metrics.skipped_count(4), 1);
    }
}
