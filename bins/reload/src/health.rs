//! podkit-reload's `/readyz` and what makes it not ready: ready once the content at start is in
//! place (applied with `--on-start`, else the app's own) and as long as every watched file can
//! be read. A file it cannot read (a Secret's key at mode 0400 owned by another user) is logged
//! once, with the path and the uid that could not read it, counted in
//! `podkit_reload_unreadable_files`, and logged again when it turns readable.

use std::path::PathBuf;

use podkit::serve::Readiness;
use podkit::watch::Unreadable;

use crate::metrics::Metrics;

pub struct Health<'a> {
    readiness: &'a Readiness,
    metrics: &'a Metrics,
    applied: bool,
    /// The files reported unreadable, and not readable again since.
    unreadable: Vec<PathBuf>,
}

impl<'a> Health<'a> {
    /// Not ready: nothing applied yet.
    pub fn new(readiness: &'a Readiness, metrics: &'a Metrics) -> Health<'a> {
        let health = Health {
            readiness,
            metrics,
            applied: false,
            unreadable: Vec::new(),
        };
        health.update();
        health
    }

    /// The content at start is in place.
    pub fn applied(&mut self) {
        self.applied = true;
        self.update();
    }

    /// Takes in what the watcher could not read in its last hash.
    pub fn saw(&mut self, unreadable: &[Unreadable]) {
        let now: Vec<PathBuf> = unreadable.iter().map(|file| file.path.clone()).collect();
        let before = std::mem::replace(&mut self.unreadable, now);
        // The metric and /readyz first: whoever reads the log line finds them up to date.
        self.metrics.unreadable.set(self.unreadable.len() as i64);
        self.update();
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        for file in unreadable
            .iter()
            .filter(|file| !before.contains(&file.path))
        {
            podkit::error!(
                "cannot read a watched file: its content is left out",
                path = file.path.display(),
                uid = uid,
                error = std::io::Error::from(file.error)
            );
        }
        for path in before.iter().filter(|path| !self.unreadable.contains(path)) {
            podkit::info!("readable again", path = path.display());
        }
    }

    fn update(&self) {
        match (self.applied, self.unreadable.first()) {
            (false, _) => self.readiness.set_not_ready("not applied yet"),
            (true, Some(path)) => self
                .readiness
                .set_not_ready(format!("cannot read {}", path.display())),
            (true, None) => self.readiness.set_ready(),
        }
    }
}
