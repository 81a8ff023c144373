//! The watcher's life: watch, and each time the content differs from what was last applied,
//! validate, then run the actions in order; until SIGTERM.

use std::path::PathBuf;
use std::time::SystemTime;

use podkit::cli::Blame;
use podkit::daemon::{Failure, Started};
use podkit::shutdown::{Drained, Shutdown};
use podkit::watch::{VolumeWatch, WatchOptions};

use crate::cli::Config;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::template::Template;

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
    let mut health = Health::new(&readiness, &metrics);
    let options = WatchOptions {
        debounce: config.debounce,
        resync: Some(config.resync),
    };
    // A rendered template inside a watched directory is our own doing: writing it is no change.
    let ours: Vec<PathBuf> = config
        .templates
        .iter()
        .flat_map(Template::written)
        .collect();
    let mut watch = VolumeWatch::ignoring(&config.watch, options, &ours).blame("--watch")?;
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
    health.saw(watch.unreadable());

    watch_and_apply(&config, &mut watch, &metrics, &mut health, &shutdown).await;
    Ok(())
}

/// The loop: each time the content differs from what was last applied, apply it; until a
/// shutdown request, which lets an apply under way finish within the drain and then cuts it.
///
/// Content that is absent (a watched path deleted, a directory emptied) is never applied: the
/// app keeps what it has, and the content coming back is the next change.
async fn watch_and_apply(
    config: &Config,
    watch: &mut VolumeWatch,
    metrics: &Metrics,
    health: &mut Health<'_>,
    shutdown: &Shutdown,
) {
    // What was last applied whole (every action succeeded for it); `None` while an apply is
    // incomplete. The content at start is what the app loaded itself, unless --on-start applies
    // it.
    let mut applied = None;
    let at_start = watch.content_hash();
    if !config.on_start {
        config.actions.mark_applied(at_start);
        applied = Some(at_start);
        metrics.applied(at_start);
        health.applied();
    } else if content_absent(watch) {
        // Applied once it comes.
    } else {
        match applied_unless_stopped(config, at_start, &config.watch, metrics, shutdown).await {
            None => return,
            Some(false) => {}
            Some(true) => {
                applied = Some(at_start);
                metrics.applied(at_start);
                health.applied();
            }
        }
    }
    loop {
        // Content that failed to apply (a webhook whose server was down, a validation that
        // failed) is tried again every resync period, not only on the next change: the
        // app must end up with what the volume holds.
        let pending = applied != Some(watch.content_hash()) && watch.absent().is_empty();
        let paths = tokio::select! {
            change = watch.changed() => {
                podkit::info!("changed", paths = change);
                health.saw(watch.unreadable());
                change.paths
            }
            () = tokio::time::sleep(config.resync), if pending => {
                podkit::info!("trying again: the content in place was not applied");
                config.watch.clone()
            }
            cause = shutdown.requested() => {
                podkit::info!("stopping", cause = cause);
                return;
            }
        };
        if content_absent(watch) {
            continue;
        }
        let hash = watch.content_hash();
        if applied == Some(hash) {
            podkit::debug!("content is back to what was applied: nothing to do");
            continue;
        }
        // Whatever runs now, what was applied before no longer holds whole.
        applied = None;
        let Some(succeeded) = applied_unless_stopped(config, hash, &paths, metrics, shutdown).await
        else {
            return;
        };
        if succeeded {
            applied = Some(hash);
            metrics.applied(hash);
            health.applied();
            observe_commit_delay(&config.watch, metrics);
        }
    }
}

/// Whether some watched path holds no content now; if so, logs which.
fn content_absent(watch: &VolumeWatch) -> bool {
    let absent = watch.absent();
    if absent.is_empty() {
        return false;
    }
    let shown: Vec<String> = absent.iter().map(|p| p.display().to_string()).collect();
    podkit::info!(
        "content absent: nothing is applied until it is back",
        paths = shown.join(",")
    );
    true
}

/// Applies `content`, to the end, or, when a shutdown is requested meanwhile, for at most the
/// drain timeout more (a second request ends it at once); whether it succeeded, or `None` when
/// the shutdown came first. Whatever is still running then is dropped: a command is killed with
/// its process group.
async fn applied_unless_stopped(
    config: &Config,
    content: u64,
    changed: &[PathBuf],
    metrics: &Metrics,
    shutdown: &Shutdown,
) -> Option<bool> {
    let apply = apply(config, content, changed, metrics);
    tokio::pin!(apply);
    let cause = tokio::select! {
        succeeded = &mut apply => return Some(succeeded),
        cause = shutdown.requested() => cause,
    };
    podkit::info!("stopping: letting the running action finish", cause = cause);
    match shutdown.drain(apply, config.drain_timeout).await {
        Drained::Finished(_) => podkit::info!("drained: the running action finished"),
        Drained::TimedOut => {
            podkit::warn!("drain timeout reached: the running action was stopped");
        }
        Drained::Interrupted(again) => {
            podkit::warn!(
                "drain cut short: the running action was stopped",
                cause = again
            );
        }
    }
    None
}

/// Renders the templates, validates, then runs in order every action that has not succeeded
/// for `content` yet; true when all of them now have. A failed validation runs no action; a
/// failed action does not stop the ones after it. Trying the same content again (at a resync)
/// so repeats only what failed: a healthy webhook is not called again for each retry of a dead
/// one.
async fn apply(config: &Config, content: u64, changed: &[PathBuf], metrics: &Metrics) -> bool {
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
        if let Some(result) = validate.run_for(content, changed).await {
            metrics.counted("validate", result.is_ok());
            if let Err(e) = result {
                podkit::error!("validation failed: not reloading", error = e);
                metrics.last_failure.set(now());
                return false;
            }
        }
    }
    let all = config
        .actions
        .run_for(content, changed, |action, result| {
            metrics.counted(action.label(), result.is_ok());
            match result {
                Ok(()) => podkit::info!("reloaded", action = action.label()),
                Err(e) => podkit::error!("reload failed", action = action.label(), error = e),
            }
        })
        .await;
    if all {
        metrics.last_success.set(now());
    } else {
        metrics.last_failure.set(now());
    }
    all
}

fn observe_commit_delay(watched: &[PathBuf], metrics: &Metrics) {
    let latest = watched
        .iter()
        .filter_map(|dir| podkit::watch::kubelet::commit_time(dir))
        .max();
    if let Some(delay) = latest.and_then(|at| SystemTime::now().duration_since(at).ok()) {
        metrics.commit_delay.observe(delay.as_secs_f64());
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
