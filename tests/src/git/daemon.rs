//! `git daemon`: the `git://` server, serving a [`GitRepo`]'s bare repository read-only.

use std::process::Stdio;

use crate::run::Group;
use crate::servers::{wait_listening, DeadPort, Scratch};

use super::{git, GitRepo};

/// `git daemon` in the foreground on a free loopback port, serving every repository under the
/// [`GitRepo`]'s [`serve_root`](GitRepo::serve_root) for fetching (upload-pack), pushes refused.
/// Stopped, with the children serving connections, when dropped.
pub struct GitDaemon {
    _process: Group,
    pub port: u16,
    /// Its log (`--verbose`), which a failing test can show: [`GitDaemon::log`].
    dir: Scratch,
}

impl GitDaemon {
    /// Starts it and waits until it accepts connections.
    pub fn start(repo: &GitRepo) -> GitDaemon {
        let dir = Scratch::new("git-daemon");
        // Held until the daemon listens (it binds with SO_REUSEADDR, given --reuseaddr), so no
        // other test takes the port in between.
        let reserved = DeadPort::for_a_server();
        let port = reserved.port;
        let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
        let root = repo.serve_root().display().to_string();
        let mut process = Group::spawn(
            git(repo.home())
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--verbose",
                    "--informative-errors",
                    "--log-destination=stderr",
                    &format!("--base-path={root}"),
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                    "--enable=upload-pack",
                    &root,
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        wait_listening("git daemon", &mut process, port, &dir.join("daemon.log"));
        drop(reserved);
        GitDaemon {
            _process: process,
            port,
            dir,
        }
    }

    /// `git://127.0.0.1:PORT/origin.git`.
    pub fn url(&self) -> String {
        self.url_of("origin")
    }

    /// `git://127.0.0.1:PORT/NAME.git`: a [`sibling`](GitRepo::sibling) of the repository.
    pub fn url_of(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}
