//! The ambassador's life: load the TLS material, bind, serve metrics, keep the material fresh,
//! accept until SIGTERM, then drain.

use std::sync::Arc;
use std::time::Duration;

use podkit::cli::Blame;
use podkit::daemon::{Failure, Started};
use podkit::shutdown::{Drained, Shutdown};
use tokio_util::task::TaskTracker;

use crate::config::{Config, Mode};
use crate::material;
use crate::metrics::Metrics;
use crate::net::Listener;
use crate::proxy::{Proxy, Side};
use crate::slots::{Slots, Turn};

/// Pause after a failed accept (out of file descriptors, mostly) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Runs until stopped and drained.
pub async fn run(config: Config, started: Started) -> Result<(), Failure> {
    let (shutdown, readiness) = (&started.shutdown, &started.readiness);
    let presents_certificate = match &config.mode {
        Mode::Server(_) => true,
        Mode::Client(client) => client.tls.identity.is_some(),
    };
    let metrics = Metrics::register(
        &started.registry,
        presents_certificate,
        config.limits.max_conns,
    )
    .map_err(|e| Failure::internal("cannot register metrics", e))?;
    let (side, material) =
        material::load(&config, &metrics).map_err(|e| Failure::usage("TLS", e))?;
    let listener = Listener::bind(&config.listen)
        .await
        .blame(format!("--listen {}", config.listen))?;
    if let Some(mode) = config.listen_mode {
        listener
            .set_mode(mode)
            .blame(format!("--listen-mode {mode:o}"))?;
    }
    material.keep_fresh(&metrics, readiness, shutdown);
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
    let connections = accept_until_stopped(&listener, &proxy, shutdown).await;
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

/// Accepts until shutdown is requested. With `--max-conns`, waits for a free slot before
/// accepting, so that connections beyond the limit wait in the kernel's listen backlog; while
/// every slot is taken and a connection is silent, accepts the next and gives it the slot of
/// the oldest silent one ([`Slots`]).
async fn accept_until_stopped(
    listener: &Listener,
    proxy: &Arc<Proxy>,
    shutdown: &Shutdown,
) -> TaskTracker {
    let connections = TaskTracker::new();
    let slots = proxy.limits.max_conns.map(Slots::new);
    // Only a server hears first from its peer: in client mode the app may wait for the target
    // to speak (SMTP, MySQL), and the target is connected at once anyway.
    let hears_first = matches!(proxy.side, Side::Terminate { .. });
    loop {
        let turn = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                _ = shutdown.requested() => break,
                turn = slots.turn() => Some(turn),
            },
        };
        let evicting = match (&turn, &slots) {
            (Some(Turn::Evict), Some(slots)) => Some(slots.clone()),
            _ => None,
        };
        let (stream, ends) = tokio::select! {
            _ = shutdown.requested() => break,
            // Every silent connection spoke before a newcomer came: back to waiting for a slot,
            // with newcomers in the backlog.
            () = none_silent(evicting.as_deref()) => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    podkit::warn!("accept failed", error = e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let slot = match (turn, &slots) {
            (Some(Turn::Free(slot)), _) => Some(slot),
            (Some(Turn::Evict), Some(slots)) => tokio::select! {
                _ = shutdown.requested() => break,
                slot = slots.take_silent() => Some(slot),
            },
            _ => None,
        };
        let silent = slots.as_ref().filter(|_| hears_first).map(Slots::silent);
        let proxy = proxy.clone();
        connections.spawn(async move {
            proxy.handle(stream, ends, silent).await;
            drop(slot);
        });
    }
    connections
}

/// Returns once no connection is silent, when the loop is evicting; never otherwise.
async fn none_silent(evicting: Option<&Slots>) {
    match evicting {
        Some(slots) => slots.none_silent().await,
        None => std::future::pending().await,
    }
}
