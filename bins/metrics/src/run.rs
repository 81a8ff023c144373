//! The adapter's life: register its metrics, bind its inputs (a taken port is exit 2), start
//! reading, sweep expired series, and wait for SIGTERM. Or, for `check`, print and end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use podkit::cli::Blame;
use podkit::daemon::{Failure, Started};

use crate::cli::{Config, Serve};
use crate::ingest::Ingest;
use crate::logs::{self, LogMetrics};
use crate::metrics::Metrics;
use crate::statsd::{tcp, udp, unixgram};
use crate::store::render::StoreText;
use crate::store::Store;

/// How often idle series are looked for between scrapes, so that memory follows `ttl` even
/// when nothing scrapes.
const SWEEP: Duration = Duration::from_secs(1);

pub async fn run(config: Config, started: Started) -> Result<(), Failure> {
    match config {
        Config::Check(check) => {
            print!("{}", crate::check::report(&check));
            Ok(())
        }
        Config::Serve(serve) => adapt(*serve, started).await,
    }
}

async fn adapt(config: Serve, started: Started) -> Result<(), Failure> {
    let Started {
        shutdown,
        registry,
        readiness,
    } = started;
    let metrics = Metrics::register(&registry)
        .map_err(|e| Failure::internal("cannot register metrics", e))?;
    metrics.mappings.set(config.mapper.len() as i64);
    let store = Arc::new(Store::new(config.max_series));
    podkit::serve::add_text_source(Arc::new(StoreText {
        store: Arc::clone(&store),
        expired: metrics.expired.clone(),
    }));
    let ingest = Ingest {
        mapper: Arc::new(config.mapper),
        store: Arc::clone(&store),
        metrics: metrics.clone(),
        cache: Default::default(),
    };

    // The bound addresses, for the log: port 0 means any, and the log says which.
    let (mut udp_shown, mut tcp_shown) = ("off".to_owned(), "off".to_owned());
    if let Some(addr) = config.udp {
        let socket = udp::bind(addr)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
            .blame("--statsd-udp")?;
        let bound = socket.local_addr().blame("--statsd-udp")?;
        udp_shown = bound.to_string();
        udp::spawn("statsd-udp", socket, ingest.clone())
            .map_err(|e| Failure::internal("cannot start the UDP reader", e))?;
    }
    let mut unixgram_shown = "off".to_owned();
    let mut socket_file = None;
    if let Some(path) = &config.unixgram {
        let (socket, file) = unixgram::bind(path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))
            .blame("--statsd-unixgram")?;
        unixgram_shown = path.display().to_string();
        socket_file = Some(file);
        udp::spawn("statsd-unixgram", socket, ingest.clone())
            .map_err(|e| Failure::internal("cannot start the unixgram reader", e))?;
    }
    if let Some(addr) = config.tcp {
        let listener = tcp::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
            .blame("--statsd-tcp")?;
        let bound = listener.local_addr().blame("--statsd-tcp")?;
        tcp_shown = bound.to_string();
        tokio::spawn(tcp::serve(listener, ingest.clone()));
    }
    let followed = config.logs.len();
    if followed > 0 {
        let log_metrics = LogMetrics::register(&registry)
            .map_err(|e| Failure::internal("cannot register metrics", e))?;
        for follow in config.logs {
            logs::spawn(follow, Arc::clone(&store), metrics.clone(), &log_metrics)
                .map_err(|e| Failure::internal("cannot start a log reader", e))?;
        }
    }
    if let Some(json) = config.json {
        crate::json::start(json, &registry, Arc::clone(&store))
            .map_err(|e| Failure::internal("--json", e))?;
    }
    tokio::spawn(sweep(store, metrics));
    readiness.set_ready();
    podkit::info!(
        "listening",
        udp = udp_shown,
        tcp = tcp_shown,
        unixgram = unixgram_shown,
        logs = followed
    );
    let cause = shutdown.requested().await;
    podkit::info!("stopping", cause = cause);
    // Left behind, the file would only be replaced by the next run; a clean stop tidies it.
    if let Some(file) = socket_file {
        let shown = file.path().display().to_string();
        if let Err(error) = file.remove() {
            podkit::warn!(
                "cannot remove the unixgram socket",
                path = shown,
                error = error
            );
        }
    }
    Ok(())
}

/// Removes expired series every [`SWEEP`].
async fn sweep(store: Arc<Store>, metrics: Metrics) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut state = store.lock();
        let expired = state.expire(Instant::now());
        metrics.series.set(state.series() as i64);
        drop(state);
        metrics.expired.inc_by(expired as u64);
    }
}
