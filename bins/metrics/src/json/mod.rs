//! JSON endpoints in: `--json URL --json-rules FILE`, fetched on each scrape (within
//! `--json-timeout`) or every `--json-interval` (the last good values served between), and
//! selected with json_exporter's rules ([`rules`], [`path`]) into gauges and counters. A fetch
//! that fails in any way is counted by result and logged with the URL's credentials left out;
//! it never fails a scrape nor the process.

pub mod collector;
pub mod fetch;
pub mod metrics;
pub mod path;
pub mod rules;
pub mod select;
pub mod source;

use std::sync::Arc;
use std::time::Duration;

use podkit::http::Url;
use podkit::serve::Registry;

use crate::store::Store;

use self::collector::JsonCollector;
use self::metrics::JsonMetrics;
use self::rules::{Catalog, Rules};
use self::source::{Input, Shared};

/// The JSON inputs as the flags give them, rules read and compiled.
#[derive(Debug)]
pub struct JsonConfig {
    pub inputs: Vec<(Url, Rules)>,
    pub catalog: Catalog,
    pub timeout: Duration,
    pub interval: Option<Duration>,
    /// `--max-series`.
    pub max_series: Option<usize>,
}

/// Registers the inputs' metrics and series and starts fetching. A family whose name `store`
/// (StatsD's, the log rules') holds is left out of a scrape, and counted.
pub fn start(config: JsonConfig, registry: &Registry, store: Arc<Store>) -> Result<(), String> {
    let urls: Vec<String> = config
        .inputs
        .iter()
        .map(|(url, _)| url.to_string())
        .collect();
    let metrics = JsonMetrics::new(&urls).map_err(|e| format!("cannot register metrics: {e}"))?;
    let shared = Arc::new(Shared {
        families: config.catalog.families,
        store,
        max_series: config.max_series,
        inputs: config
            .inputs
            .into_iter()
            .map(|(url, rules)| Input::new(url, rules))
            .collect(),
        metrics,
        timeout: config.timeout,
    });
    let fetching = match config.interval {
        Some(every) => format!("every {}", podkit::duration::format(every)),
        None => "on each scrape".to_owned(),
    };
    podkit::info!(
        "json inputs",
        urls = urls.join(" "),
        fetch = fetching,
        timeout = podkit::duration::format(config.timeout)
    );
    let jobs = source::start(Arc::clone(&shared), config.interval)
        .map_err(|e| format!("cannot start the JSON fetcher: {e}"))?;
    let collector =
        JsonCollector::new(shared, jobs).map_err(|e| format!("cannot register metrics: {e}"))?;
    registry
        .register(Box::new(collector))
        .map_err(|e| format!("cannot register the JSON rules' metrics: {e}"))
}
