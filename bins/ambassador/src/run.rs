//! The ambassador's life: load the TLS material, bind, serve metrics, keep the material fresh,
//! accept until SIGTERM, then drain.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use podkit::cli::EXIT_USAGE;
use podkit::serve::{MetricsServer, Readiness, Registry};
use podkit::shutdown::{Drained, Shutdown};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::{Config, Mode};
use crate::material;
use crate::metrics::Metrics;
use crate::net::Listener;
use crate::proxy::Proxy;

/// Exit code for an internal failure at start: the runtime or its signal handling.
const EXIT_FAILURE: i32 = 1;

/// Pause after a failed accept (out of file descriptors, mostly) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Runs until stopped; returns the exit code.
pub async fn run(config: Config) -> i32 {
    let shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => return fail(EXIT_FAILURE, "cannot handle SIGTERM and SIGINT", e),
    };
    let registry = Registry::new();
    let presents_certificate = match &config.mode {
        Mode::Server(_) => true,
        Mode::Client(client) => client.tls.identity.is_some(),
    };
    let metrics = match Metrics::register(&registry, presents_certificate).and_then(|metrics| {
        podkit::serve::register_build_info(
            &registry,
            "podkit-ambassador",
            env!("CARGO_PKG_VERSION"),
        )
        .map(|()| metrics)
    }) {
        Ok(metrics) => metrics,
        Err(e) => return fail(EXIT_FAILURE, "cannot register metrics", e),
    };
    let readiness = Readiness::new("starting");

    let (side, material) = match material::load(&config, &metrics) {
        Ok(loaded) => loaded,
        Err(message) => return fail(EXIT_USAGE, "TLS", message),
    };
    let listener = match Listener::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(e) => return fail(EXIT_USAGE, format!("--listen {}", config.listen), e),
    };
    // The endpoint outlives the drain: /readyz says "draining" and /metrics counts the last
    // connections until the process exits.
    let (stop_metrics, metrics_stop) = tokio::sync::oneshot::channel::<()>();
    if let Some(addr) = config.metrics_addr {
        match MetricsServer::bind(addr, registry, readiness.clone()).await {
            Ok(server) => {
                tokio::spawn(server.serve(metrics_stop));
            }
            Err(e) => return fail(EXIT_USAGE, "--metrics-addr", e),
        }
    }
    material.keep_fresh(&metrics, &readiness, &shutdown);
    podkit::info!(
        "listening",
        mode = config.mode.name(),
        listen = listener.describe(),
        target = config.target
    );

    let proxy = Arc::new(Proxy {
        side,
        target: config.target.clone(),
        proxy_protocol: config.proxy_protocol,
        limits: config.limits,
        metrics,
    });
    let connections = accept_until_stopped(&listener, &proxy, &shutdown).await;
    drop(listener);
    readiness.set_not_ready("draining");
    let cause = shutdown
        .cause()
        .map_or("unknown".to_owned(), |c| c.to_string());
    podkit::info!(
        "stopping: no longer accepting",
        cause = cause,
        open = connections.len()
    );
    connections.close();
    match shutdown
        .drain(connections.wait(), config.limits.drain_timeout)
        .await
    {
        Drained::Finished(()) => podkit::info!("drained: every connection ended"),
        Drained::TimedOut => podkit::warn!(
            "drain timeout reached: closing open connections",
            open = connections.len()
        ),
        Drained::Interrupted(again) => podkit::warn!(
            "drain cut short: closing open connections",
            cause = again,
            open = connections.len()
        ),
    }
    let _ = stop_metrics.send(());
    0
}

/// Accepts until shutdown is requested; with `--max-conns`, waits for a free slot before
/// accepting, so that connections beyond the limit wait in the kernel's listen backlog.
async fn accept_until_stopped(
    listener: &Listener,
    proxy: &Arc<Proxy>,
    shutdown: &Shutdown,
) -> TaskTracker {
    let connections = TaskTracker::new();
    let slots = proxy.limits.max_conns.map(|n| Arc::new(Semaphore::new(n)));
    loop {
        let slot: Option<OwnedSemaphorePermit> = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                _ = shutdown.requested() => break,
                permit = slots.clone().acquire_owned() => permit.ok(),
            },
        };
        tokio::select! {
            _ = shutdown.requested() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, ends)) => {
                    let proxy = proxy.clone();
                    connections.spawn(async move {
                        proxy.handle(stream, ends).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    podkit::warn!("accept failed", error = e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    connections
}

/// A start-up failure: one line on stderr in the same shape as a bad flag's, whatever the log
/// format, since it is for the person who wrote the command line.
fn fail(code: i32, what: impl Display, error: impl Display) -> i32 {
    eprintln!("podkit-ambassador: error: {what}: {error}");
    code
}
