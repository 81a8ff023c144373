//! The ambassador's life: load the TLS material, bind, serve metrics, keep the material fresh,
//! accept until SIGTERM, then drain.

use std::sync::Arc;
use std::time::Duration;

use podkit::cli::Blame;
use podkit::daemon::{Failure, Started};
use podkit::shutdown::{Drained, Shutdown};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::{Config, Mode};
use crate::material;
use crate::metrics::Metrics;
use crate::net::Listener;
use crate::proxy::Proxy;

/// Pause after a failed accept (out of file descriptors, mostly) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Runs until stopped and drained.
pub async fn run(config: Config, started: Started) -> Result<(), Failure> {
    let Started {
        shutdown,
        registry,
        readiness,
    } = started;
    let presents_certificate = match &config.mode {
        Mode::Server(_) => true,
        Mode::Client(client) => client.tls.identity.is_some(),
    };
    let metrics = Metrics::register(&registry, presents_certificate)
        .map_err(|e| Failure::internal("cannot register metrics", e))?;
    let (side, material) =
        material::load(&config, &metrics).map_err(|e| Failure::usage("TLS", e))?;
    let listener = Listener::bind(&config.listen)
        .await
        .blame(format!("--listen {}", config.listen))?;
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
    Ok(())
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
