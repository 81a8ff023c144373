//! Smart HTTP(S) as git hosts serve it: nginx in front of `git http-backend`, run through
//! fcgiwrap (FastCGI to CGI), optionally behind TLS and basic authentication.

use std::os::unix::net::UnixStream;
use std::process::Stdio;

use crate::ambassador::TlsPki;
use crate::run::{command, installed, run, Group};
use crate::servers::{Nginx, Scratch};
use crate::wait;

use super::{GitRepo, GIT_EXEC_PATH};

/// How [`HttpGit`] serves.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpOptions<'a> {
    /// HTTPS with the `server` certificate of a fresh [`TlsPki`] (valid for 127.0.0.1 and
    /// localhost); clients trust [`HttpGit::ca`].
    pub tls: bool,
    /// Basic authentication: this user and password, and no one else. Pushes are then allowed
    /// too (`git http-backend` enables receive-pack for an authenticated user).
    pub basic_auth: Option<(&'a str, &'a str)>,
}

/// nginx on a free loopback port passing every request to `git http-backend` (through fcgiwrap
/// on a unix socket), which serves the repositories under the [`GitRepo`]'s
/// [`serve_root`](GitRepo::serve_root). Both run as the test's user (root included: nginx runs as
/// one process, with no worker to switch user). Stopped when dropped.
pub struct HttpGit {
    nginx: Nginx,
    _fcgiwrap: Group,
    pki: Option<TlsPki>,
    /// nginx's `auth_basic_user_file`, with basic authentication: see [`HttpGit::set_password`].
    htpasswd: Option<std::path::PathBuf>,
    _dir: Scratch,
}

impl HttpGit {
    /// Starts fcgiwrap and nginx, and waits until both accept connections. `None`, with the skip
    /// reported, when nginx, fcgiwrap or openssl (for the password file) is not installed.
    pub fn start(test: &str, repo: &GitRepo, options: HttpOptions<'_>) -> Option<HttpGit> {
        if !installed(test, "fcgiwrap", &["-h"], "fcgiwrap") {
            return None;
        }
        let dir = Scratch::new("git-http");
        let socket = dir.join("fcgiwrap.sock");
        let fcgiwrap = start_fcgiwrap(&dir);
        let pki = options.tls.then(TlsPki::generate);
        let certificate = match &pki {
            Some(pki) => {
                let (cert, key) = pki.pair("server");
                format!("ssl_certificate {cert}; ssl_certificate_key {key};")
            }
            None => String::new(),
        };
        let htpasswd = match options.basic_auth {
            Some((user, password)) => {
                if !installed(test, "openssl", &["version"], "openssl") {
                    return None;
                }
                let file = dir.join("htpasswd");
                write_htpasswd(&file, user, password);
                Some(file)
            }
            None => None,
        };
        let auth = match &htpasswd {
            Some(file) => format!(
                "auth_basic \"git\"; auth_basic_user_file {};",
                file.display()
            ),
            None => String::new(),
        };
        let root = repo.serve_root().display().to_string();
        let home = repo.home().display().to_string();
        // fcgiwrap gives the CGI program only these parameters as its environment: HOME and
        // GIT_CONFIG_NOSYSTEM keep the machine's git configuration out, as for every git here.
        // Protocol v2's request header Git-Protocol needs no line: nginx passes every header
        // (HTTP_GIT_PROTOCOL), which is where http-backend looks for it.
        let directives = format!(
            "{certificate}
    client_max_body_size 0;
    location / {{
      {auth}
      fastcgi_pass unix:{socket};
      fastcgi_param SCRIPT_FILENAME {GIT_EXEC_PATH}/git-http-backend;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param PATH_INFO $uri;
      fastcgi_param QUERY_STRING $args;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param REMOTE_USER $remote_user if_not_empty;
      fastcgi_param GIT_PROJECT_ROOT {root};
      fastcgi_param GIT_HTTP_EXPORT_ALL 1;
      fastcgi_param GIT_CONFIG_NOSYSTEM 1;
      fastcgi_param HOME {home};
      fastcgi_param PATH /usr/bin:/bin;
    }}",
            socket = socket.display(),
        );
        let nginx = match options.tls {
            true => Nginx::start_https(test, &directives)?,
            false => Nginx::start_http(test, &directives)?,
        };
        Some(HttpGit {
            nginx,
            _fcgiwrap: fcgiwrap,
            pki,
            htpasswd,
            _dir: dir,
        })
    }

    /// Makes `user` with `password` the one account the server accepts from the next request
    /// on, as a password rotation on a git host does: nginx reads its user file at each request.
    /// Panics unless the server was started with basic authentication.
    pub fn set_password(&self, user: &str, password: &str) {
        let file = self
            .htpasswd
            .as_ref()
            .expect("set_password on a server started with basic_auth");
        write_htpasswd(file, user, password);
    }

    pub fn port(&self) -> u16 {
        self.nginx.port
    }

    /// `http://127.0.0.1:PORT/origin.git`, or `https://...`.
    pub fn url(&self) -> String {
        self.url_of("origin")
    }

    /// `http(s)://127.0.0.1:PORT/NAME.git`: a [`sibling`](GitRepo::sibling) of the repository.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}://127.0.0.1:{}/{name}.git", self.scheme(), self.port())
    }

    /// [`HttpGit::url`] with `user:password@` in it (neither may need escaping).
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{user}:{password}@127.0.0.1:{}/origin.git",
            self.scheme(),
            self.port()
        )
    }

    /// The CA certificate that signed the server's (a PEM file's path), with TLS.
    pub fn ca(&self) -> Option<String> {
        self.pki.as_ref().map(|pki| pki.file("ca.crt"))
    }

    /// Every certificate of the server's PKI, with TLS: `other-ca.crt` is a CA that did not sign
    /// the server's certificate, `server-expired.crt`...
    pub fn pki(&self) -> Option<&TlsPki> {
        self.pki.as_ref()
    }

    fn scheme(&self) -> &'static str {
        match self.pki {
            Some(_) => "https",
            None => "http",
        }
    }
}

/// fcgiwrap on `DIR/fcgiwrap.sock`, with a few processes so that concurrent fetches do not
/// queue behind each other, and the CGI's stderr sent to nginx's error log (`-f`).
fn start_fcgiwrap(dir: &Scratch) -> Group {
    let socket = dir.join("fcgiwrap.sock");
    let log_path = dir.join("fcgiwrap.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut process = Group::spawn(
        command("fcgiwrap")
            .args(["-f", "-c", "4", "-s", &format!("unix:{}", socket.display())])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    wait::until("fcgiwrap to listen", || {
        if let Some(status) = process.poll() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("fcgiwrap exited with {status} before listening:\n{log}");
        }
        UnixStream::connect(&socket).ok()
    });
    process
}

/// Writes `user:HASH` to `file` whole (a new file renamed over it): nginx reads it at each request
/// and must never see half of it.
fn write_htpasswd(file: &std::path::Path, user: &str, password: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, format!("{user}:{}\n", hash_password(password))).unwrap();
    std::fs::rename(&next, file).unwrap();
}

/// `password` hashed for nginx's `auth_basic_user_file` (`openssl passwd -5`: SHA-256 crypt,
/// which nginx checks with the C library's crypt()).
fn hash_password(password: &str) -> String {
    let done = run(command("openssl").args(["passwd", "-5", password]));
    done.stdout_of_success().trim().to_owned()
}
