//! The real peers the tests check against, and a bounded run of podkit-probe.
//!
//! [`HttpServer`] is `tests/fixtures/probe_http_server.py` (its docstring lists what each path
//! does), which reports every request it receives, so a test asserts on what the server saw
//! ([`parse_request`], [`header`]). [`Haproxy`] is haproxy in the foreground in front of a
//! backend.
//! [`Pki`] is a CA, a second CA nobody trusts, and certificates made by `openssl`, fresh for each
//! test. [`probe`] runs podkit-probe and waits for it under the hang guard: a probe that ignored
//! its own timeout fails the test instead of hanging it; [`Running`] is one the test acts on
//! while it runs. [`DeadPort`] is a port nothing listens on that no other test can take.
//! [`Scratch`] is a directory for the files a test makes (sockets, certificates, heartbeat files,
//! a Dockerfile).

use std::ffi::OsStr;
use std::io::Write;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::lines::Lines;
use crate::run::{command, installed, run, Announced, Group, Process};
use crate::{bins, wait};

/// A directory of its own for one test, removed when the test ends.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "podkit-test-{label}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Scratch { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `join`, as a string for a command line.
    pub fn file(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }

    /// `NAME.crt` and `NAME.key` here, as [`file`](Scratch::file)s: a certificate and its key.
    pub fn pem_pair(&self, name: &str) -> (String, String) {
        (
            self.file(&format!("{name}.crt")),
            self.file(&format!("{name}.key")),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The fixture HTTP server, killed when the test ends.
pub struct HttpServer {
    server: Announced,
    /// What it listens on: `127.0.0.1:PORT`, `[::1]:PORT`, or `unix:PATH`.
    pub address: String,
}

impl HttpServer {
    /// Starts the fixture with `args` (`--listen 127.0.0.1:0`, `--unix PATH`, TLS flags) and
    /// waits until it listens.
    pub fn start(args: &[&str]) -> HttpServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/probe_http_server.py");
        // A group of its own, so that Drop also reaches the server when `python3` is a wrapper
        // (a pyenv shim) that runs the interpreter as its child.
        let server = Announced::start(
            command("python3")
                .arg(script)
                .args(args)
                .stdin(Stdio::null())
                // Refused handshakes are expected here; their lines would only clutter the output.
                .stderr(Stdio::null()),
            "listening ",
        );
        HttpServer {
            address: server.address.clone(),
            server,
        }
    }

    /// A plain HTTP server on 127.0.0.1.
    pub fn local() -> HttpServer {
        HttpServer::start(&["--listen", "127.0.0.1:0"])
    }

    pub fn port(&self) -> u16 {
        let (_, port) = self.address.rsplit_once(':').expect("a TCP address");
        port.parse().expect("a port")
    }

    /// `http://ADDRESS/PATH`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The JSON the server printed for the next request it received (see the fixture's
    /// docstring), waiting for it.
    pub fn next_request(&mut self) -> String {
        let line = self
            .server
            .stdout
            .next_satisfying("reporting a request", |l| l.starts_with("request "));
        line["request ".len()..].to_owned()
    }

    /// Every request the server has received since the last call (or [`HttpServer::next_request`]),
    /// in order, for a plain TCP server. The server reports each request before answering it, so
    /// once the probe has exited its requests all come before a marker request sent now.
    pub fn requests(&mut self) -> Vec<String> {
        let mut marker = std::net::TcpStream::connect(&self.address).expect("connect for a marker");
        marker
            .write_all(
                b"GET /podkit-test-marker HTTP/1.1\r\nHost: marker\r\nConnection: close\r\n\r\n",
            )
            .expect("send the marker request");
        std::io::copy(&mut marker, &mut std::io::sink()).expect("read the marker's answer");
        let mut requests = Vec::new();
        loop {
            let request = self.next_request();
            if request.contains(r#""path": "/podkit-test-marker""#) {
                return requests;
            }
            requests.push(request);
        }
    }
}

/// A request as the fixture server reported it (a `request` line, or `/echo`'s body).
pub fn parse_request(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("a request as JSON ({e}): {text}"))
}

/// Every value `request` (see [`parse_request`]) carried for header `name` (any case), in order.
pub fn header_values(request: &serde_json::Value, name: &str) -> Vec<String> {
    request["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("headers in {request}"))
        .iter()
        .filter(|pair| {
            pair[0]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .filter_map(|pair| pair[1].as_str().map(str::to_owned))
        .collect()
}

/// What curl printed for the fixture's `/echo` fetched with `-w '\n%{local_port}'`: the request
/// as the server saw it, and the local port curl connected from.
pub fn echo_and_local_port(stdout: &str) -> (serde_json::Value, u16) {
    let (body, port) = stdout
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("the echo, then curl's local port: {stdout:?}"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("curl's local port: {stdout:?}"));
    (parse_request(body), port)
}

/// The first value `request` carried for header `name` (any case).
pub fn header(request: &serde_json::Value, name: &str) -> Option<String> {
    header_values(request, name).into_iter().next()
}

/// Certificates for TLS tests, made by `openssl` in a scratch directory: `ca` signed `server`
/// (valid for `localhost` and `probe.test`, not for any IP address) and `client`; `wrong-ca`, a
/// CA nobody here trusts, signed `stranger`, a client certificate. Subjects are `CN=probe-NAME`.
pub struct Pki {
    dir: Scratch,
}

/// Extensions for each kind of certificate; webpki insists on CA:TRUE for a CA and on the right
/// extended key usage for a leaf.
const PKI_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:probe.test
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
";

impl Pki {
    pub fn generate() -> Pki {
        let dir = Scratch::new("pki");
        std::fs::write(dir.join("pki.cnf"), PKI_CONFIG).unwrap();
        let openssl = |args: &[&str]| {
            let done = run(command("openssl").args(args).current_dir(&dir.path));
            assert!(done.succeeded(), "openssl {args:?}: {done:#?}");
        };
        let new_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "wrong-ca"] {
            let (key, crt, subject) = (
                format!("{ca}.key"),
                format!("{ca}.crt"),
                format!("/CN=podkit test {ca}"),
            );
            let mut args = vec!["req", "-x509", "-config", "pki.cnf", "-extensions", "ca"];
            args.extend_from_slice(&new_key);
            args.extend_from_slice(&["-keyout", &key, "-out", &crt, "-subj", &subject]);
            args.extend_from_slice(&["-days", "2"]);
            openssl(&args);
        }
        for (name, ca, kind) in [
            ("server", "ca", "server"),
            ("client", "ca", "client"),
            ("stranger", "wrong-ca", "client"),
        ] {
            let (key, csr, crt, subject) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("/CN=probe-{name}"),
            );
            let mut args = vec!["req", "-new", "-config", "pki.cnf"];
            args.extend_from_slice(&new_key);
            args.extend_from_slice(&["-keyout", &key, "-out", &csr, "-subj", &subject]);
            openssl(&args);
            let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "pki.cnf",
                "-extensions",
                kind,
                "-out",
                &crt,
            ]);
        }
        Pki { dir }
    }

    /// The path of `NAME.crt` or `NAME.key` (`ca.crt`, `server.key`...), for a command line.
    pub fn file(&self, name: &str) -> String {
        self.dir.file(name)
    }

    /// The paths of `NAME.crt` and `NAME.key`: a certificate and its key.
    pub fn pair(&self, name: &str) -> (String, String) {
        self.dir.pem_pair(name)
    }

    /// `podkit-probe http URL` trusting `ca`, and presenting the certificate `NAME` (`client`,
    /// `stranger`) when given.
    pub fn probe_http(&self, url: &str, presenting: Option<&str>) -> Probe {
        let ca = self.file("ca.crt");
        let mut args = vec!["http".to_owned(), url.to_owned(), "--ca".to_owned(), ca];
        if let Some((cert, key)) = presenting.map(|name| self.pair(name)) {
            args.extend(["--cert".to_owned(), cert, "--key".to_owned(), key]);
        }
        probe(&args)
    }

    /// An HTTPS fixture server with the `server` certificate; with `require_client`, it demands
    /// a client certificate signed by `ca`.
    pub fn https_server(&self, require_client: bool) -> HttpServer {
        let (cert, key, ca) = (
            self.file("server.crt"),
            self.file("server.key"),
            self.file("ca.crt"),
        );
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ];
        if require_client {
            args.extend_from_slice(&["--client-ca", &ca]);
        }
        HttpServer::start(&args)
    }
}

/// How a run of podkit-probe ended.
#[derive(Debug)]
pub struct Probe {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Probe {
    /// Asserts the exit code, showing the whole run if it differs.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Probe {
        assert_eq!(self.code, code, "{self:#?}");
        self
    }

    /// Asserts a configuration error found before anything was tried: exit 2, nothing on stdout,
    /// and one line `podkit-probe: error: ...` on stderr that contains `named` (the flag at fault).
    #[track_caller]
    pub fn assert_refused(&self, named: &str) -> &Probe {
        self.assert_exit(2);
        assert_eq!(self.stdout, "", "nothing was tried: {self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "one line: {self:#?}");
        assert!(
            self.stderr.starts_with("podkit-probe: error: ") && self.stderr.contains(named),
            "expected one error line naming {named:?}: {self:#?}"
        );
        self
    }

    /// Asserts that stdout contains `text`, showing the whole run if not.
    #[track_caller]
    pub fn assert_says(&self, text: &str) -> &Probe {
        assert!(
            self.stdout.contains(text),
            "expected {text:?} on stdout: {self:#?}"
        );
        self
    }
}

/// The probe's timeout unless a test gives `--timeout`: far above any healthy answer on a loaded
/// machine, so only a test about timeouts ever sees one, and below the hang guard.
pub const PROBE_TIMEOUT: &str = "15s";

/// Runs `podkit-probe ARGS` to its end, under the hang guard, with `PODKIT_TIMEOUT` set to
/// [`PROBE_TIMEOUT`] (a `--timeout` flag wins over it).
pub fn probe<S: AsRef<OsStr>>(args: &[S]) -> Probe {
    probe_with(args, |_| {})
}

/// As [`probe`], letting the test adjust the command (environment, working directory).
pub fn probe_with<S: AsRef<OsStr>>(args: &[S], adjust: impl FnOnce(&mut Command)) -> Probe {
    Running::start_with(args, adjust).finish()
}

/// podkit-probe left running while the test acts (`wait` watching targets come up): its stdout
/// as it comes, and its end under the hang guard. Killed if the test fails first.
pub struct Running {
    child: Process,
    pub stdout: Lines,
    stderr: Lines,
    shown: Vec<String>,
}

impl Running {
    /// Starts `podkit-probe ARGS` as [`probe`] runs it, without waiting for it.
    pub fn start<S: AsRef<OsStr>>(args: &[S]) -> Running {
        Running::start_with(args, |_| {})
    }

    /// As [`Running::start`], letting the test adjust the command.
    pub fn start_with<S: AsRef<OsStr>>(args: &[S], adjust: impl FnOnce(&mut Command)) -> Running {
        let mut command = command(bins::path("probe"));
        command
            .args(args)
            .env("PODKIT_TIMEOUT", PROBE_TIMEOUT)
            .stdin(Stdio::null());
        adjust(&mut command);
        let (child, stdout, stderr) = Process::spawn_reading(&mut command);
        let shown = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        Running {
            child,
            stdout,
            stderr,
            shown,
        }
    }

    /// Waits, under the hang guard, for the run to end, and returns how it ended.
    pub fn finish(self) -> Probe {
        let Running {
            mut child,
            stdout,
            stderr,
            shown,
        } = self;
        let status = child.wait(&format!("podkit-probe {shown:?}"));
        Probe {
            code: status.code().expect("podkit-probe exits, not killed"),
            stdout: stdout.all().join("\n"),
            stderr: stderr.all().join("\n"),
        }
    }
}

/// A loopback TCP port that nothing listens on, held (bound, never listening) for as long as the
/// value lives. A port bound and closed again is free for anyone: a test running at the same
/// time may bind it (port 0) and listen, and "nothing listens here" would no longer hold. While
/// it is held, the kernel gives it to no one else, neither for port 0 nor as the source port of a
/// connection, and a connection to it is refused, as to a closed port.
pub struct DeadPort {
    _socket: OwnedFd,
    pub port: u16,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl DeadPort {
    /// A port that stays dead while held: no socket can bind it.
    pub fn reserve() -> DeadPort {
        DeadPort::hold(false)
    }

    /// A port for a server the test starts later, at an address the test must give before (a
    /// `wait` target, an nginx configuration). Dead until then, as [`DeadPort::reserve`], but held
    /// with `SO_REUSEADDR`, which lets a server that sets it too (Rust's std, Python's
    /// socketserver and nginx all do) bind and listen on the port while the test still holds it.
    /// Keep it until the server listens: then no other test can take the port in between.
    pub fn for_a_server() -> DeadPort {
        DeadPort::hold(true)
    }

    fn hold(reusable: bool) -> DeadPort {
        let last_error = std::io::Error::last_os_error;
        // SAFETY: socket has no memory preconditions; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(raw >= 0, "socket: {}", last_error());
        // SAFETY: `raw` was just opened and nothing else owns it.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = socket.as_raw_fd();
        if reusable {
            let on: libc::c_int = 1;
            // SAFETY: `on` is a c_int and the length given is its size.
            let set = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR,
                    std::ptr::addr_of!(on).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(set, 0, "SO_REUSEADDR: {}", last_error());
        }
        let mut address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `address` is a valid sockaddr_in and `length` its size.
        let bound = unsafe {
            libc::bind(
                fd,
                std::ptr::addr_of!(address).cast::<libc::sockaddr>(),
                length,
            )
        };
        assert_eq!(bound, 0, "bind: {}", last_error());
        // SAFETY: `address` and `length` are writable and `length` says how much of it there is.
        let named = unsafe {
            libc::getsockname(
                fd,
                std::ptr::addr_of_mut!(address).cast::<libc::sockaddr>(),
                &mut length,
            )
        };
        assert_eq!(named, 0, "getsockname: {}", last_error());
        let port = u16::from_be(address.sin_port);
        DeadPort {
            _socket: socket,
            port,
            address: format!("127.0.0.1:{port}"),
        }
    }
}

/// Whether `[::1]` can be bound here; tests that need it say why they skip.
pub fn ipv6_loopback(test: &str) -> bool {
    let bound = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !bound {
        crate::skip(test, "no IPv6 loopback: cannot bind [::1]");
    }
    bound
}

/// Waits until `process`, a server the test started in the foreground, accepts connections on
/// 127.0.0.1:`port`; if it exits first, fails the test with its log file `log`.
pub(crate) fn wait_listening(name: &str, process: &mut Group, port: u16, log: &Path) {
    wait::until(&format!("{name} to listen"), || {
        if let Some(status) = process.poll() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{name} exited with {status} before listening:\n{log}");
        }
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
}

/// haproxy in the foreground, `mode http`, one frontend on a free loopback port forwarding to one
/// backend server. Stopped when dropped.
pub struct Haproxy {
    _process: Group,
    pub port: u16,
    _dir: Scratch,
}

impl Haproxy {
    /// Starts haproxy with `bind ... BIND_OPTIONS` (e.g. `accept-proxy`; `bind_options` may write
    /// files it names, a PEM, in the scratch directory it is given), setting the request header
    /// `X-Client` to the client's address as haproxy sees it (see [`Haproxy::assert_saw_client`])
    /// and each of `set_headers` (`NAME VALUE`), in front of `backend` (`HOST:PORT`). `None`,
    /// with the skip reported, when haproxy is not installed.
    pub fn start(
        test: &str,
        backend: &str,
        bind_options: impl FnOnce(&Scratch) -> String,
        set_headers: &[&str],
    ) -> Option<Haproxy> {
        if !installed(test, "haproxy", &["-v"], "haproxy") {
            return None;
        }
        let dir = Scratch::new("ambassador-haproxy");
        let options = bind_options(&dir);
        // haproxy cannot listen on port 0 and say which it got: the port stays held until
        // haproxy listens on it (it binds with SO_REUSEADDR).
        let reserved = DeadPort::for_a_server();
        let port = reserved.port;
        let headers: String = std::iter::once(&"X-Client %[src]:%[src_port]")
            .chain(set_headers)
            .map(|header| format!("  http-request set-header {header}\n"))
            .collect();
        let config = format!(
            "global
  log stderr format short local0 info
defaults
  mode http
  log global
  timeout connect 10s
  timeout client 30s
  timeout server 30s
frontend tls_clients
  bind 127.0.0.1:{port} {options}
{headers}  default_backend app
backend app
  server app {backend}
"
        );
        std::fs::write(dir.join("haproxy.cfg"), config).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let mut process = Group::spawn(
            command("haproxy")
                .args(["-db", "-f", &dir.file("haproxy.cfg")])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        wait_listening("haproxy", &mut process, port, &dir.join("haproxy.log"));
        drop(reserved);
        Some(Haproxy {
            _process: process,
            port,
            _dir: dir,
        })
    }
}

impl Haproxy {
    /// Asserts that haproxy saw the client at `127.0.0.1:PORT`, as the fixture server's `echo` of
    /// a request it forwarded shows: with `accept-proxy`, the address of the PROXY header.
    #[track_caller]
    pub fn assert_saw_client(echo: &serde_json::Value, port: u16) {
        assert_eq!(
            header(echo, "X-Client"),
            Some(format!("127.0.0.1:{port}")),
            "the client address haproxy saw: {echo}"
        );
    }
}

/// nginx in the foreground (one process, everything under a scratch directory) with one HTTP or
/// HTTPS server on a free loopback port. Stopped when dropped.
pub struct Nginx {
    _process: Group,
    pub port: u16,
    _dir: Scratch,
}

impl Nginx {
    /// Starts nginx with `server { listen 127.0.0.1:PORT ssl; DIRECTIVES }` (the certificate,
    /// client certificate rules, locations). `None`, with the skip reported, when nginx is not
    /// installed.
    pub fn start_https(test: &str, directives: &str) -> Option<Nginx> {
        Nginx::start(test, "ssl", directives)
    }

    /// As [`Nginx::start_https`], in plain HTTP: `server { listen 127.0.0.1:PORT; DIRECTIVES }`.
    pub fn start_http(test: &str, directives: &str) -> Option<Nginx> {
        Nginx::start(test, "", directives)
    }

    /// nginx with `server { listen 127.0.0.1:PORT LISTEN_OPTIONS; DIRECTIVES }`.
    fn start(test: &str, listen_options: &str, directives: &str) -> Option<Nginx> {
        if !installed(test, "nginx", &["-v"], "nginx-light") {
            return None;
        }
        let dir = Scratch::new("nginx");
        // nginx cannot listen on port 0 and say which it got: the port goes into its
        // configuration, held until nginx listens on it (nginx binds with SO_REUSEADDR).
        let reserved = DeadPort::for_a_server();
        let port = reserved.port;
        let prefix = dir.path.display().to_string();
        let config = format!(
            "daemon off; master_process off; pid {prefix}/nginx.pid; error_log {prefix}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port} {listen_options};
    {directives}
  }}
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let mut process = Group::spawn(
            command("nginx")
                .args(["-p", &prefix, "-c", &dir.file("nginx.conf")])
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        wait_listening("nginx", &mut process, port, &dir.join("error.log"));
        drop(reserved);
        Some(Nginx {
            _process: process,
            port,
            _dir: dir,
        })
    }
}
