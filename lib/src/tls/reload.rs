//! Keeps [`Reloadable`] material fresh: on SIGHUP, and whenever one of its files changes on disk
//! (a kubelet Secret volume update included, through [`VolumeWatch`]).
//!
//! A reload that fails leaves the material in use untouched: connections and handshakes go on
//! with what worked, and the tool reports the failure (a log line, a metric). It tries again at
//! the next change, and at every resync until it loads: refused material may become good with
//! nothing changing on disk (a rotated certificate not yet valid for a clock 20 s behind the
//! issuer's). That is the difference between a typo in a rotated certificate and an outage.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::material::{Material, Reloadable};
use crate::watch::{VolumeWatch, WatchError, WatchOptions};

/// What started a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP, the operator's "reload now".
    Signal,
    /// These files changed on disk.
    Files(Vec<PathBuf>),
    /// The resync after a refused reload: the same files, read again.
    Retry,
}

/// One reload attempt, as the tool's report callback sees it.
#[derive(Debug)]
pub struct Reload<'a, C, E> {
    pub trigger: Trigger,
    /// The new material, now in use; or why it was refused (the old one is still in use).
    pub result: Result<&'a Material<C>, E>,
}

/// The triggers of reloads, set up before the material is first read: a change made between that
/// first read and the start of the watch would otherwise be lost for good (the watch would take
/// the changed files as its starting point), and a SIGHUP in that window would kill the process,
/// or, as PID 1, be ignored.
pub struct Triggers {
    watch: Option<VolumeWatch>,
    hangup: Signal,
    resync: Duration,
}

impl Triggers {
    /// Starts watching `files` and handling SIGHUP; `resync` is how often the files are read
    /// again without an event (a missed one, or a refused reload to retry). With no files (a
    /// client that trusts the system bundle and presents no certificate), only SIGHUP reloads.
    /// Must run within a tokio runtime (for the signal handler).
    pub fn install(files: &[PathBuf], resync: Duration) -> Result<Triggers, ReloadSetupError> {
        let options = WatchOptions {
            resync: Some(resync),
            ..WatchOptions::default()
        };
        let watch = match files {
            [] => None,
            files => Some(VolumeWatch::new(files, options).map_err(ReloadSetupError::Watch)?),
        };
        let hangup = signal(SignalKind::hangup()).map_err(ReloadSetupError::Signal)?;
        Ok(Triggers {
            watch,
            hangup,
            resync,
        })
    }

    /// Runs forever: on each change or SIGHUP, and every resync while the last attempt failed,
    /// calls `load` and, if it succeeds, puts the new material in `reloadable`. Every attempt
    /// goes to `report`.
    pub async fn keep_fresh<C, E>(
        mut self,
        reloadable: &Reloadable<C>,
        load: impl Fn() -> Result<Material<C>, E>,
        mut report: impl FnMut(Reload<'_, C, E>),
    ) {
        let mut refused = false;
        loop {
            let retry = async {
                match refused {
                    true => tokio::time::sleep(self.resync).await,
                    false => std::future::pending().await,
                }
            };
            let trigger = tokio::select! {
                Some(change) = changed(&mut self.watch) => Trigger::Files(change.paths),
                Some(()) = self.hangup.recv() => Trigger::Signal,
                () = retry => Trigger::Retry,
            };
            let loaded = load();
            refused = loaded.is_err();
            match loaded {
                Ok(material) => {
                    reloadable.replace(material);
                    let current = reloadable.current();
                    report(Reload {
                        trigger,
                        result: Ok(&current),
                    });
                }
                Err(e) => report(Reload {
                    trigger,
                    result: Err(e),
                }),
            }
        }
    }
}

/// The next change, or never when nothing is watched.
async fn changed(watch: &mut Option<VolumeWatch>) -> Option<crate::watch::Change> {
    match watch {
        Some(watch) => Some(watch.changed().await),
        None => std::future::pending().await,
    }
}

/// Why reloading could not be set up.
#[derive(Debug)]
pub enum ReloadSetupError {
    Watch(WatchError),
    Signal(std::io::Error),
}

impl std::fmt::Display for ReloadSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadSetupError::Watch(e) => write!(f, "cannot watch the TLS files: {e}"),
            ReloadSetupError::Signal(e) => write!(f, "cannot handle SIGHUP: {e}"),
        }
    }
}

impl std::error::Error for ReloadSetupError {}
