//! The JSON inputs at run time: a thread of their own with its own small runtime, which fetches
//! each input every `--json-interval`, or when a scrape asks. A scrape is answered from the
//! `last` samples of each input: those of the fetch it asked for, or, with an interval, those
//! of the last fetch that worked.
//!
//! Why a thread: the registry's collectors are called synchronously (lib's endpoint gathers on
//! tokio's blocking pool), so a scrape that must wait for a fetch can only block. A runtime of
//! the input's own does the fetching whatever thread the scrape blocks, so that wait is bounded
//! by `--json-timeout` and can never be a deadlock, and parsing large documents stays off the
//! StatsD path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use podkit::http::{Request, Url};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinSet;

use super::fetch::{fetch, MAX_BODY};
use super::metrics::JsonMetrics;
use super::rules::{Family, Rules};
use super::select::{samples, Sample, Skipped};

/// One `--json URL` with its rules.
#[derive(Debug)]
pub struct Input {
    /// Without credentials: for logs and the metrics' `url` label.
    pub shown: String,
    request: Request,
    rules: Rules,
    /// The samples a scrape shows for this input.
    pub last: Mutex<Option<Arc<Vec<Sample>>>>,
    /// Whether the last fetch failed, so that a failing URL is logged when it starts failing
    /// and when it recovers, not at every scrape.
    failing: AtomicBool,
}

impl Input {
    pub fn new(url: Url, rules: Rules) -> Input {
        let shown = url.to_string();
        let request = Request::new(http::Method::GET, url)
            .header(
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/json"),
            )
            .headers(rules.headers.iter().cloned())
            .body_limit(MAX_BODY);
        Input {
            shown,
            request,
            rules,
            last: Mutex::new(None),
            failing: AtomicBool::new(false),
        }
    }

    #[cfg(test)]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn last(&self) -> Option<Arc<Vec<Sample>>> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_last(&self, samples: Option<Arc<Vec<Sample>>>) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = samples;
    }
}

/// What the fetching side shares with the scrapes.
#[derive(Debug)]
pub struct Shared {
    pub families: Vec<Family>,
    /// The other inputs' table, whose names a JSON family gives way to.
    pub store: Arc<crate::store::Store>,
    /// `--max-series`, which counts the table's series and these together.
    pub max_series: Option<usize>,
    pub inputs: Vec<Input>,
    pub metrics: JsonMetrics,
    pub timeout: Duration,
}

impl Shared {
    /// Fetches input `at` once and updates what scrapes show: on success the new samples; on
    /// failure nothing, unless `keep_last` (an interval's last good values stay).
    async fn refresh(&self, at: usize, keep_last: bool) {
        let Some(input) = self.inputs.get(at) else {
            return;
        };
        let started = Instant::now();
        let fetched = fetch(&input.request, self.timeout).await;
        let seconds = started.elapsed().as_secs_f64();
        match fetched {
            Ok(document) => {
                self.metrics.fetched(&input.shown, 0, seconds);
                let mut skipped = Skipped::default();
                let samples = samples(&input.rules, &self.families, &document, &mut skipped);
                self.metrics.skipped(&skipped);
                input.set_last(Some(Arc::new(samples)));
                if input.failing.swap(false, Ordering::Relaxed) {
                    podkit::info!("json: fetch works again", url = input.shown);
                }
            }
            Err(failure) => {
                self.metrics
                    .fetched(&input.shown, failure.result(), seconds);
                if !keep_last {
                    input.set_last(None);
                }
                if input.failing.swap(true, Ordering::Relaxed) {
                    podkit::debug!("json: fetch failed", url = input.shown, error = failure);
                } else {
                    podkit::warn!("json: fetch failed", url = input.shown, error = failure);
                }
            }
        }
    }
}

/// A scrape's request for a fresh fetch of every on-scrape input; answered when they are done.
pub type Job = SyncSender<()>;

/// Starts the fetching thread: with an interval, a loop per input; without, fetches on request
/// through the returned sender.
pub fn start(
    shared: Arc<Shared>,
    interval: Option<Duration>,
) -> std::io::Result<Option<UnboundedSender<Job>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (jobs, receiver) = unbounded_channel();
    std::thread::Builder::new()
        .name("json".into())
        .spawn(move || runtime.block_on(fetching(shared, interval, receiver)))?;
    Ok(interval.is_none().then_some(jobs))
}

async fn fetching(
    shared: Arc<Shared>,
    interval: Option<Duration>,
    mut jobs: UnboundedReceiver<Job>,
) {
    if let Some(every) = interval {
        let mut loops = JoinSet::new();
        for at in 0..shared.inputs.len() {
            let shared = Arc::clone(&shared);
            loops.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    shared.refresh(at, true).await;
                }
            });
        }
        while loops.join_next().await.is_some() {}
        return;
    }
    while let Some(reply) = jobs.recv().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut fetches = JoinSet::new();
            for at in 0..shared.inputs.len() {
                let shared = Arc::clone(&shared);
                fetches.spawn(async move { shared.refresh(at, false).await });
            }
            while fetches.join_next().await.is_some() {}
            let _ = reply.send(());
        });
    }
}
