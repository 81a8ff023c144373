//! The real peers podkit-ambassador's tests drive, and the plumbing to drive them: Debian tools
//! run to their end (curl, openssl, testssl.sh), servers started in the foreground (haproxy,
//! nginx), plain TCP backends the test controls, and a plain HTTP GET for `/metrics` and the
//! health endpoints. Nothing here knows the ambassador: see [`crate::ambassador`] for that.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::servers::{DeadPort, Scratch};
use crate::wait::{self, HANG_GUARD};

// ---------------------------------------------------------------------------------------------
// Processes.

/// Whether `program` runs here (`program ARGS`, any exit code); reports the skip with the Debian
/// package that provides it when not.
pub fn installed(test: &str, program: &str, args: &[&str], package: &str) -> bool {
    let found = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        crate::skip(
            test,
            &format!("{program} is not installed (Debian: apt-get install {package})"),
        );
    }
    found
}

/// A process the test started, killed with its process group when the test is done with it or
/// fails first: a tool may be a wrapper (a pyenv shim, testssl.sh's openssl children) whose
/// children must not outlive the test.
pub struct Helper(pub Child);

impl Helper {
    /// Spawns `command` in a process group of its own.
    pub fn spawn(command: &mut Command) -> Helper {
        let shown = format!("{command:?}");
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{shown} starts: {e}"));
        Helper(child)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // SAFETY: kill with the process group this test created for its own helper, and only it.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// How a command the test ran to its end finished.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `command` to its end with nothing on stdin. The hang guard only stops a hang: the
/// command is killed and the test fails.
pub fn run(command: &mut Command) -> Finished {
    run_to_end(command, b"", HANG_GUARD, None)
}

/// As [`run`], with `input` on stdin, then EOF.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Finished {
    run_to_end(command, input, HANG_GUARD, None)
}

/// As [`run`], for a command that legitimately runs longer than the hang guard (a scan):
/// `guard` only stops a hang.
pub fn run_with_guard(command: &mut Command, guard: Duration) -> Finished {
    run_to_end(command, b"", guard, None)
}

/// As [`run`], failing the test at once if stderr says `unexpected` (a server that should have
/// refused to start says it listens, and would run until the hang guard).
pub fn run_unless(command: &mut Command, unexpected: &str) -> Finished {
    run_to_end(command, b"", HANG_GUARD, Some(unexpected))
}

fn run_to_end(
    command: &mut Command,
    input: &[u8],
    guard: Duration,
    unexpected: Option<&str>,
) -> Finished {
    let shown = format!("{command:?}");
    let stdin = match input.is_empty() {
        true => Stdio::null(),
        false => Stdio::piped(),
    };
    let mut child = Helper::spawn(
        command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = read_all(child.0.stdout.take().expect("piped stdout"));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (collected, mut source) = (stderr.clone(), child.0.stderr.take().expect("piped stderr"));
    let collecting = thread::spawn(move || {
        let mut chunk = [0; 4096];
        while let Ok(n @ 1..) = source.read(&mut chunk) {
            let text = String::from_utf8_lossy(&chunk[..n]);
            collected.lock().unwrap().push_str(&text);
        }
    });
    if let Some(mut stdin) = child.0.stdin.take() {
        // A client that fails early (a refused handshake) exits before reading its input.
        let _ = stdin.write_all(input);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(unexpected) = unexpected {
            let so_far = stderr.lock().unwrap();
            assert!(!so_far.contains(unexpected), "{shown}:\n{so_far}");
        }
        if let Some(status) = child.0.try_wait().expect("wait for the child") {
            break status;
        }
        assert!(started.elapsed() < guard, "hung: {shown}");
        thread::sleep(Duration::from_millis(10));
    };
    collecting.join().expect("the stderr reader");
    let stderr = stderr.lock().unwrap().clone();
    Finished {
        code: status.code(),
        stdout: stdout.join().expect("the stdout reader"),
        stderr,
    }
}

/// Reads `source` to its end on a thread of its own, so that a full pipe never blocks the
/// process writing to it.
fn read_all(mut source: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `curl -sS --max-time 20 ARGS`: curl gives up before the hang guard, and says why.
pub fn curl(args: &[&str]) -> Finished {
    run(Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args))
}

// ---------------------------------------------------------------------------------------------
// Servers in the foreground.

/// Waits until `process`, a server the test started in the foreground, accepts connections on
/// 127.0.0.1:`port`; if it exits first, fails the test with its log file `log`.
pub fn wait_listening(name: &str, process: &mut Helper, port: u16, log: &std::path::Path) {
    wait::until(&format!("{name} to listen"), || {
        if let Some(status) = process.0.try_wait().expect("wait for the server") {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{name} exited with {status} before listening:\n{log}");
        }
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
}

/// haproxy in the foreground, `mode http`, one frontend on a free loopback port forwarding to one
/// backend server. Stopped when dropped.
pub struct Haproxy {
    _process: Helper,
    pub port: u16,
    _dir: Scratch,
}

impl Haproxy {
    /// Starts haproxy with `bind ... BIND_OPTIONS` (e.g. `accept-proxy`; `bind_options` may write
    /// files it names, a PEM, in the scratch directory it is given), setting each request header
    /// of `set_headers` (`NAME VALUE`), in front of `backend` (`HOST:PORT`). `None`, with the
    /// skip reported, when haproxy is not installed.
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
        let headers: String = set_headers
            .iter()
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
        let mut process = Helper::spawn(
            Command::new("haproxy")
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

// ---------------------------------------------------------------------------------------------
// Plain TCP and HTTP.

/// A plain TCP server on 127.0.0.1 the test controls: it counts every connection it accepts,
/// then hands it (with the hang guard set) to `serve` on a thread of its own. Its listening
/// thread ends when it is dropped.
pub struct Backend {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
}

impl Backend {
    pub fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
        let addr = listener.local_addr().expect("the backend's address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let (count, stop, serve) = (accepted.clone(), stopped.clone(), Arc::new(serve));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                with_hang_guard(&stream);
                let serve = serve.clone();
                thread::spawn(move || serve(stream));
            }
        });
        Backend {
            addr,
            accepted,
            stopped,
        }
    }

    /// Sends back every byte it receives, and closes when the client does.
    pub fn echo() -> Backend {
        Backend::start(|mut stream| {
            let mut reader = stream.try_clone().expect("clone the stream");
            let _ = std::io::copy(&mut reader, &mut stream);
        })
    }

    /// Its address as a `--target`.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// How many connections reached it so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads and writes on `stream` fail after the hang guard instead of blocking a test forever.
pub fn with_hang_guard(stream: &TcpStream) {
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
}

/// A TCP connection to `addr`, with the hang guard set.
pub fn connect(addr: impl ToSocketAddrs + std::fmt::Debug) -> TcpStream {
    let stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to {addr:?}: {e}"));
    with_hang_guard(&stream);
    stream
}

/// `GET path` on the plain HTTP server at `addr` (the ambassador's `/metrics`, `/readyz`,
/// `/healthz`): the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = connect(addr);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response from {addr}{path}: {response:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line from {addr}{path}: {head:?}"));
    (status, body.to_owned())
}
