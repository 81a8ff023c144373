//! The watcher's life: watch, and each time the content differs from what was last applied,
//! validate, then run the actions in order; until SIGTERM.

use std::path::PathBuf;
use std::time::SystemTime;

use podkit::cli::Blame;
use podkit::daemon::{Failure, Started};
use podkit::watch::{VolumeWatch, WatchOptions};

use crate::cli::Config;
use crate::commit;
use crate::metrics::Metrics;

pub async fn run(config: Config, started: Started) -> Result<(), Failure> {
    let Started {
        shutdown,
        registry,
        readiness,
    } = started;
    let mut labels: Vec<&'static str> = config.actions.iter().map(|a| a.label()).collect();
    if config.validate.is_some() {
        labels.push("validate");
    }
    if !config.templates.is_empty() {
        labels.push("template");
    }
    let metrics = Metrics::register(&registry, &labels)
        .map_err(|e| Failure::internal("cannot register metrics", e))?;
    let options = WatchOptions {
        debounce: config.debounce,
        resync: Some(config.resync),
    };
    let mut watch = VolumeWatch::new(&config.watch, options).blame("--watch")?;
    readiness.set_not_ready("not applied yet");
    // The app needs its rendered files before the first change: a template that cannot be
    // rendered at start is a configuration error.
    for template in &config.templates {
        template
            .render()
            .map_err(|e| Failure::usage("template", e))?;
    }
    let shown: Vec<String> = config
        .watch
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    podkit::info!(
        "watching",
        paths = shown.join(","),
        actions = labels.join(",")
    );

    // What the actions last saw applied; `None` until the first apply succeeds.
    let mut applied = None;
    if config.on_start {
        if apply(&config, &config.watch, &metrics).await {
            applied = Some(watch.content_hash());
            metrics.applied(watch.content_hash());
            readiness.set_ready();
        }
    } else {
        // The content at start is what the app loaded itself.
        applied = Some(watch.content_hash());
        metrics.applied(watch.content_hash());
        readiness.set_ready();
    }
    loop {
        // Content that failed to apply (a webhook whose server was down, a validation that
        // failed) is tried again every resync period, not only on the next change: the
        // app must end up with what the volume holds.
        let pending = applied != Some(watch.content_hash());
        let paths = tokio::select! {
            change = watch.changed() => {
                podkit::info!("changed", paths = change);
                change.paths
            }
            () = tokio::time::sleep(config.resync), if pending => {
                podkit::info!("trying again: the content in place was not applied");
                config.watch.clone()
            }
            cause = shutdown.requested() => {
                podkit::info!("stopping", cause = cause);
                return Ok(());
            }
        };
        let hash = watch.content_hash();
        if applied == Some(hash) {
            podkit::debug!("content is back to what was applied: nothing to do");
            continue;
        }
        if apply(&config, &paths, &metrics).await {
            applied = Some(hash);
            metrics.applied(hash);
            readiness.set_ready();
            observe_commit_delay(&config.watch, &metrics);
        }
    }
}

/// Validates, then runs every action in order; true when all of them succeeded. A failed
/// validation runs no action; a failed action does not stop the ones after it.
async fn apply(config: &Config, changed: &[PathBuf], metrics: &Metrics) -> bool {
    for template in &config.templates {
        let result = template.render();
        metrics.counted("template", result.is_ok());
        if let Err(e) = result {
            podkit::error!("template failed: not reloading", error = e);
            metrics.last_failure.set(now());
            return false;
        }
    }
    if let Some(validate) = &config.validate {
        let result = validate.run(changed).await;
        metrics.counted("validate", result.is_ok());
        if let Err(e) = result {
            podkit::error!("validation failed: not reloading", error = e);
            metrics.last_failure.set(now());
            return false;
        }
    }
    let mut all = true;
    for action in &config.actions {
        let result = action.run(changed).await;
        metrics.counted(action.label(), result.is_ok());
        match result {
            Ok(()) => podkit::info!("reloaded", action = action.label()),
            Err(e) => {
                podkit::error!("reload failed", action = action.label(), error = e);
                all = false;
            }
        }
    }
    if all {
        metrics.last_success.set(now());
    } else {
        metrics.last_failure.set(now());
    }
    all
}

fn observe_commit_delay(watched: &[PathBuf], metrics: &Metrics) {
    let latest = watched.iter().filter_map(|dir| commit::time_of(dir)).max();
    if let Some(delay) = latest.and_then(|at| SystemTime::now().duration_since(at).ok()) {
        metrics.commit_delay.observe(delay.as_secs_f64());
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
