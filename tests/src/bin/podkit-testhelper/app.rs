//! What turns `serve-files` into an app a pod's sidecars have work with: a log with a line per
//! request and per configuration load (for an adapter that follows logs), a StatsD datagram per
//! request (for one that reads StatsD), and a configuration file read at start and again on
//! SIGHUP (for a reloader that signals), whose loaded content `GET /-/config` shows. Each part is
//! off unless its flag is given; with none, `serve-files` is a plain file server.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::cli::AppOptions;
use crate::http::Request;
use crate::out::{self, AppendFile};
use crate::signal::Signal;
use crate::{sigwait, udp};

/// Where the loaded configuration is shown. `/-/` is out of the way of a site's own paths, as
/// Prometheus' `/-/reload` is.
const CONFIG_PATH: &str = "/-/config";

pub struct App {
    log: Option<Mutex<AppendFile>>,
    statsd: Option<SocketAddr>,
    config: Option<Config>,
}

/// The configuration file and the content last read from it.
struct Config {
    path: PathBuf,
    loaded: Mutex<Vec<u8>>,
}

impl App {
    /// Opens the log and reads the configuration, failing the step if either cannot be; then
    /// re-reads the configuration on every SIGHUP. Call before any other thread starts (see
    /// [`sigwait::on_each`]).
    pub fn start(options: &AppOptions) -> io::Result<Arc<App>> {
        let log = options.log.as_deref().map(AppendFile::open).transpose()?;
        let config = match &options.config {
            Some(path) => Some(Config {
                loaded: Mutex::new(read(path)?),
                path: path.clone(),
            }),
            None => None,
        };
        let app = Arc::new(App {
            log: log.map(Mutex::new),
            statsd: options.statsd,
            config,
        });
        if let Some(config) = &app.config {
            let bytes = lock(&config.loaded).len();
            app.event(&format!(
                "config loaded path={} bytes={bytes} cause=start",
                config.path.display()
            ));
            let reloader = Arc::clone(&app);
            sigwait::on_each(Signal::HUP, move || reloader.reload())?;
        }
        Ok(app)
    }

    /// The answer to a request the app makes itself rather than a file: the loaded
    /// configuration at `/-/config`, when there is one.
    pub fn own_page(&self, request: &Request) -> Option<Vec<u8>> {
        let config = self.config.as_ref()?;
        let path = request.target.split(['?', '#']).next().unwrap_or("");
        (path == CONFIG_PATH).then(|| lock(&config.loaded).clone())
    }

    /// Reports a request served: a log line `METHOD TARGET STATUS SECONDS`, and one datagram of
    /// two StatsD lines, as a client library batches them, tagged DogStatsD-style:
    /// `http.request.duration:MS|ms|#method:M,code:C` and `http.response.bytes:N|c|#...`.
    /// A failure is a warning: the request was served all the same.
    pub fn served(&self, request: &Request, code: u16, bytes: usize, took: Duration) {
        if let Some(log) = &self.log {
            let line = format!(
                "{} {} {code} {:.6}",
                request.method,
                request.target,
                took.as_secs_f64()
            );
            if let Err(err) = lock(log).write_line(&line) {
                out::warn(&format!("app log: {err}"));
            }
        }
        if let Some(to) = self.statsd {
            let tags = format!("#method:{},code:{code}", request.method);
            let millis = took.as_secs_f64() * 1000.0;
            let batch = format!(
                "http.request.duration:{millis:.3}|ms|{tags}\nhttp.response.bytes:{bytes}|c|{tags}"
            );
            if let Err(err) = udp::send(to, batch.as_bytes()) {
                out::warn(&format!("statsd to {to}: {err}"));
            }
        }
    }

    /// SIGHUP: reads the configuration again; an unreadable file keeps the content loaded before.
    fn reload(&self) {
        let Some(config) = &self.config else {
            return;
        };
        match read(&config.path) {
            Ok(content) => {
                let bytes = content.len();
                *lock(&config.loaded) = content;
                self.event(&format!(
                    "config loaded path={} bytes={bytes} cause=SIGHUP",
                    config.path.display()
                ));
            }
            Err(err) => out::warn(&format!("config not reloaded, the old one kept: {err}")),
        }
    }

    /// A line on stdout and in the log.
    fn event(&self, line: &str) {
        out::say(line);
        if let Some(log) = &self.log {
            if let Err(err) = lock(log).write_line(line) {
                out::warn(&format!("app log: {err}"));
            }
        }
    }
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    fs::read(path).map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

/// A lock whose holder panicked still guards whole values here (a line, a file's content).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
