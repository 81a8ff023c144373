//! The TLS material of either mode: loaded once at start (a bad file is a start-up error naming
//! its flag), then kept fresh from SIGHUP and file changes, with readiness following its validity.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use podkit::cli::UsageError;
use podkit::serve::Readiness;
use podkit::shutdown::Shutdown;
use podkit::tls::reload::{Reload, Trigger, Triggers};
use podkit::tls::rustls::{ClientConfig, ServerConfig};
use podkit::tls::{Material, Reloadable};

use crate::config::{Config, Mode};
use crate::metrics::Metrics;
use crate::proxy::Side;

/// How often readiness looks at the certificate's validity period.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// Builds fresh material from the files; the error names the flag of the file at fault.
type Loader<C> = Box<dyn Fn() -> Result<Material<C>, UsageError> + Send + Sync>;

/// Material in use, and what is needed to reload it.
pub struct Reloading<C> {
    current: Arc<Reloadable<C>>,
    load: Loader<C>,
    triggers: Triggers,
}

pub enum Loaded {
    Server(Reloading<ServerConfig>),
    Client(Reloading<ClientConfig>),
}

/// Reads the mode's TLS files for the first time, and builds the connection side that uses them.
pub fn load(config: &Config, metrics: &Metrics) -> Result<(Side, Loaded), UsageError> {
    let alpn = config.alpn.clone();
    match &config.mode {
        Mode::Server(server) => {
            let tls = server.tls.clone();
            let load: Loader<ServerConfig> =
                Box::new(move || tls.load(&alpn).map_err(UsageError::from));
            let material = Reloading::start(load, server.tls.files(), config.resync, metrics)?;
            let side = Side::Terminate {
                tls: material.current.clone(),
            };
            Ok((side, Loaded::Server(material)))
        }
        Mode::Client(client) => {
            let tls = client.tls.clone();
            let load: Loader<ClientConfig> =
                Box::new(move || tls.load(&alpn).map_err(UsageError::from));
            let material = Reloading::start(load, client.tls.files(), config.resync, metrics)?;
            let side = Side::Originate {
                tls: material.current.clone(),
                server_name: client.server_name.clone(),
                verify: client.verify.clone(),
            };
            Ok((side, Loaded::Client(material)))
        }
    }
}

impl Loaded {
    /// Starts the reload and readiness tasks.
    pub fn keep_fresh(self, metrics: &Metrics, readiness: &Readiness, shutdown: &Shutdown) {
        match self {
            Loaded::Server(material) => material.keep_fresh(metrics, readiness, shutdown),
            Loaded::Client(material) => material.keep_fresh(metrics, readiness, shutdown),
        }
    }
}

impl<C: Send + Sync + 'static> Reloading<C> {
    fn start(
        load: Loader<C>,
        files: Vec<PathBuf>,
        resync: Duration,
        metrics: &Metrics,
    ) -> Result<Self, UsageError> {
        // Watching starts before the first read, so that no change can fall in between.
        let triggers = Triggers::install(&files, resync).map_err(UsageError::new)?;
        let material = load()?;
        note(&material, metrics);
        Ok(Reloading {
            current: Arc::new(Reloadable::new(material)),
            load,
            triggers,
        })
    }

    fn keep_fresh(self, metrics: &Metrics, readiness: &Readiness, shutdown: &Shutdown) {
        let Reloading {
            current,
            load,
            triggers,
        } = self;
        let reloaded = current.clone();
        let reload_metrics = metrics.clone();
        tokio::spawn(async move {
            let report = |reload: Reload<'_, C, UsageError>| report(reload, &reload_metrics);
            let load = || no_worse_than(load()?, &reloaded.current());
            triggers.keep_fresh(&reloaded, load, report).await;
        });
        let readiness = readiness.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            // Draining is the run loop's to announce: stop judging readiness then.
            while !shutdown.is_requested() {
                if current.current().is_valid_at(SystemTime::now()) {
                    readiness.set_ready();
                } else {
                    readiness.set_not_ready("the certificate is expired or not yet valid");
                }
                tokio::select! {
                    _ = shutdown.requested() => break,
                    () = tokio::time::sleep(EXPIRY_CHECK) => {}
                }
            }
        });
    }
}

/// Refuses new material whose certificate is outside its validity period while the one in use
/// is valid: rotating in an expired certificate would fail every handshake from then on. An
/// expired certificate in use may be replaced by anything that loads.
fn no_worse_than<C>(new: Material<C>, in_use: &Material<C>) -> Result<Material<C>, UsageError> {
    let now = SystemTime::now();
    if !new.is_valid_at(now) && in_use.is_valid_at(now) {
        return Err(UsageError::flag(
            "--cert",
            "the new certificate is expired or not yet valid; the valid one stays in use",
        ));
    }
    Ok(new)
}

fn report<C>(reload: Reload<'_, C, UsageError>, metrics: &Metrics) {
    let trigger = match &reload.trigger {
        Trigger::Signal => "SIGHUP".to_owned(),
        Trigger::Retry => "retry".to_owned(),
        Trigger::Files(paths) => paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
    };
    match reload.result {
        Ok(material) => {
            metrics.reloaded(true);
            note(material, metrics);
            podkit::info!("TLS material reloaded", trigger = trigger);
        }
        Err(e) => {
            metrics.reloaded(false);
            podkit::error!(
                "TLS reload refused, keeping the material in use",
                trigger = trigger,
                error = e
            );
        }
    }
}

/// Publishes the certificate's expiry, and warns when it is already outside its validity.
fn note<C>(material: &Material<C>, metrics: &Metrics) {
    if let (Some(gauge), Some(validity)) = (&metrics.certificate_not_after, material.validity) {
        gauge.set(validity.not_after_unix());
    }
    if !material.is_valid_at(SystemTime::now()) {
        podkit::warn!("the certificate in use is outside its validity period: not ready");
    }
}
