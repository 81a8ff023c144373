//! `podkit-testhelper`: the process under test in podkit's integration tests. Never shipped.
//!
//! Tests put it in PID namespaces and scratch containers (usually under `podkit-init`) and script
//! what it does on the command line: steps separated by the word `then`, run in order.
//!
//! ```text
//! podkit-testhelper STEP [ARG]... [then STEP [ARG]...]...
//! podkit-testhelper orphans 100 then signals --exit-on TERM
//! ```
//!
//! # Output and exit status
//!
//! Each output line goes to stdout in one write(2), unbuffered, so a test reading a pipe sees it at
//! once and lines of the helper and its children never tear. The helper exits 0 when the last step
//! finishes; 2, with one line on stderr, when the command line is wrong (all of it is checked
//! before the first step runs); 1, with one line on stderr, when a step fails.
//!
//! SIGPIPE is put back to its default action at startup (Rust's runtime ignores it), so the
//! helper and the children it forks start with every signal at its default disposition, as a
//! C program would. A disposition inherited from the helper's own parent is kept, except that
//! an inherited SIGPIPE ignore is lost to the runtime before `main` runs.
//!
//! # Arguments
//!
//! - `SIG`: a signal name in any case, with or without `SIG` (`TERM`, `SIGTERM`, `term`), a
//!   number (`15`), or `RTMIN+n` / `RTMAX-n`. KILL and STOP are refused where a step would catch
//!   or ignore them. Printed names are canonical: `SIGTERM`, `SIGUSR1`, `SIGRTMIN+3`, `SIGRTMAX`.
//! - `SECS`: seconds, fractions allowed (`2`, `0.2`).
//! - `N`: a whole number. `CODE`: an exit code, 0..255. `IP:PORT`: `0.0.0.0:8080`, `[::]:8080`;
//!   port 0 picks a free port.
//! - `TEXT` and `PATH` are one argument each (quote spaces); no argument can be the word `then`.
//!
//! # Steps
//!
//! Steps marked *last* never finish, so nothing may follow them.
//!
//! - `sleep SECS`: sleeps, with default signal dispositions, so a signal kills the helper and its
//!   parent sees status 128+N. `sleep forever` (*last*) sleeps until killed.
//! - `exit CODE` (*last*): exits with CODE at once.
//! - `signals [--ignore SIG]... [--exit-on SIG]... [--log PATH]` (*last*): catches every
//!   catchable signal (1..=31 but KILL and STOP, and 35..=64: musl keeps 32 to 34, so the helper
//!   cannot catch SIGRTMIN, 34, though it names it) except the `--ignore`d
//!   ones, which are set to SIG_IGN. Prints `ready` once set up, then `signal SIGNAME` for each
//!   signal received, SIGCHLD included (after which it also reaps its ended children). With
//!   `--log`, every line is also appended to PATH (O_APPEND, one write per line; processes can
//!   share the file to check ordering). On a `--exit-on` signal, after printing, it dies by that
//!   signal; when the signal cannot kill it (default action is to ignore, or the helper is a PID
//!   namespace's init) it exits 128+N instead. Otherwise it runs until killed.
//! - `orphans N [--linger SECS]`: forks an intermediate process that forks N children and exits at
//!   once, orphaning them to the nearest subreaper or PID 1. Each child sleeps SECS (default 0)
//!   and exits 0. Waits for the intermediate only, then prints `orphans N`. Forks that hit EAGAIN
//!   are retried for up to 5 s, so N = 10000 works.
//! - `families N --log PATH`: forks N parents in the helper's process group that sleep forever
//!   with default dispositions (SIGTERM kills them); each forks a child that calls setsid() and
//!   runs `signals --exit-on TERM --log PATH.I` (I from 0 to N-1), so its log shows whether it got
//!   SIGTERM after its parent died. Prints `families N` once every child is set up.
//! - `wait-reaped`: polls /proc every 1 ms until no process is left but PID 1 and the helper with
//!   its ancestors (a zombie still counts), then prints `reaped`. /proc must be mounted for the
//!   helper's PID namespace.
//! - `setsid-child [--ignore SIG]... [--grandchild]`: forks a child that calls setsid(), ignores
//!   the listed signals, prints `setsid-child PID` (its PID in its namespace) and sleeps forever.
//!   With `--grandchild`, an intermediate process forks it and then sleeps forever itself. The
//!   helper goes on once the line is printed.
//! - `child [--ignore SIG]...`: forks a child in the helper's process group that ignores the
//!   listed signals, prints `child PID` and sleeps forever. The helper goes on once the line is
//!   printed.
//! - `burst N CODE` (*last*): forks N children that block reading a pipe, closes the pipe so all
//!   of them exit 0 in the same instant, and exits CODE at once without waiting for them (many
//!   deaths, merged SIGCHLDs).
//! - `tty`: prints `foreground` when the helper's process group is the foreground of the terminal
//!   on stdin, `background` when it is not, `no-tty` when stdin is not the helper's controlling
//!   terminal. Then reads one line from stdin and prints `read: LINE`, or `eof` when stdin ends
//!   first. A background read stops the helper (SIGTTIN) until it is brought to the foreground.
//! - `append PATH TEXT`: appends `TEXT` and a newline to PATH (O_APPEND, created 0644 if needed);
//!   meant as a lifecycle hook command.
//! - `pid`: prints `pid P ppid Q pgid G sid S`.
//! - `send-udp IP:PORT TEXT`: sends TEXT, as it is, in one UDP datagram from a free port of the
//!   matching address family, and prints `sent N bytes to IP:PORT`. A StatsD client's send: TEXT
//!   may hold several newline-separated lines, as a client's batch does. UDP has no answer, so
//!   the step succeeds whether or not anything listens (an ICMP refusal may fail a later send).
//! - `serve-http IP:PORT` (*last*): HTTP/1.1 server, a thread per connection, answering every
//!   request `200 OK` with body `ok\n` and `Connection: close`. Prints `listening IP:PORT` (the
//!   bound address) once bound.
//! - `serve-files DIR IP:PORT [--log PATH] [--statsd IP:PORT] [--config FILE]` (*last*): HTTP/1.1
//!   static file server, a thread per connection: `GET /PATH` answers `200 OK` with the file
//!   DIR/PATH (`index.html` for a path ending in `/`), `404` when there is none or the path has a
//!   `..`, `405` for a method but GET and HEAD; `Connection: close`. The path is looked up anew for
//!   each request, through symlinks, so a symlink swapped in DIR shows at the next one (a volume
//!   podkit-git publishes into). Prints `listening IP:PORT` once bound. The flags make it an app
//!   for a pod's sidecars: `--log` appends a line per request served, `METHOD TARGET STATUS
//!   SECONDS` (`GET /index.html 200 0.000113`), to PATH; `--statsd` sends one datagram per
//!   request, `http.request.duration:MS|ms|#method:GET,code:200` and
//!   `http.response.bytes:N|c|#method:GET,code:200`; `--config` reads FILE at start (failing the
//!   step if it cannot) and again on each SIGHUP (an unreadable file keeps the old content, with a
//!   warning), answers `GET /-/config` with the content loaded, and prints (and logs, with
//!   `--log`) `config loaded path=FILE bytes=N cause=start|SIGHUP` for each load.
//! - `serve-echo IP:PORT` (*last*): TCP echo server, a thread per connection. After the client
//!   shuts down its sending side, the rest is echoed and then the server's side is shut down too.
//!   Prints `listening IP:PORT` once bound.
//! - `wait-signal SIG`: blocks SIG, waits for it silently, prints `got SIGNAME`, and restores the
//!   signal mask. SIG is blocked only when the step starts: a test must not send it before the
//!   previous step's output, or its default action applies.

mod app;
mod burst;
mod children;
mod cli;
mod echo;
mod families;
mod files;
mod http;
mod listen;
mod orphans;
mod out;
mod process;
mod ready;
mod reaped;
mod signal;
mod sigwait;
mod tty;
mod udp;

use std::convert::Infallible;
use std::io;
use std::thread;

use app::App;
use cli::{Nap, Step};
use signal::{Disposition, Signal};

fn main() {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|arg| arg.into_string())
        .collect()
    {
        Ok(args) => args,
        Err(arg) => fail(2, &format!("argument {arg:?} is not UTF-8")),
    };
    let steps = cli::parse(&args).unwrap_or_else(|err| fail(2, &err));
    // Undo the Rust runtime's SIGPIPE ignore before any step runs or forks (see the manual).
    if let Err(err) = Signal::PIPE.reset() {
        fail(1, &format!("restoring SIGPIPE: {err}"));
    }
    for step in &steps {
        if let Err(err) = run(step) {
            fail(1, &format!("{}: {err}", step.name()));
        }
    }
}

fn run(step: &Step) -> io::Result<()> {
    match step {
        Step::Sleep(Nap::For(duration)) => {
            thread::sleep(*duration);
            Ok(())
        }
        Step::Sleep(Nap::Forever) => process::sleep_forever(),
        Step::Exit(code) => std::process::exit((*code).into()),
        Step::Signals {
            ignore,
            exit_on,
            log,
        } => endless(sigwait::signals(ignore, exit_on, log.as_deref())),
        Step::Orphans { count, linger } => orphans::orphans(*count, *linger),
        Step::Families { count, log } => families::families(*count, log),
        Step::WaitReaped => reaped::wait_reaped(),
        Step::SetsidChild { ignore, grandchild } => children::setsid_child(ignore, *grandchild),
        Step::Child { ignore } => children::child(ignore),
        Step::Burst { count, code } => endless(burst::burst(*count, *code)),
        Step::Tty => tty::tty(),
        Step::Append { path, text } => out::AppendFile::open(path)?.write_line(text),
        Step::Pid => {
            out::say(&process::identity());
            Ok(())
        }
        Step::SendUdp { to, text } => {
            let sent = udp::send(*to, text.as_bytes())?;
            out::say(&format!("sent {sent} bytes to {to}"));
            Ok(())
        }
        Step::ServeHttp(addr) => endless(listen::serve(*addr, http::answer)),
        Step::ServeFiles { dir, addr, app } => {
            let dir = dir.clone();
            // Before the listener's threads: the app may block SIGHUP for all of them.
            let app = App::start(app)?;
            endless(listen::serve(*addr, move |stream| {
                files::serve_file(&dir, &app, stream)
            }))
        }
        Step::ServeEcho(addr) => endless(listen::serve(*addr, echo::echo)),
        Step::WaitSignal(signal) => sigwait::wait_signal(*signal),
    }
}

/// The result of a step that only comes back to report a failure.
fn endless(result: io::Result<Infallible>) -> io::Result<()> {
    result.map(|never| match never {})
}

/// Ends the helper with one line on stderr: exit 2 for a bad command line, 1 for a failed step.
fn fail(code: i32, message: &str) -> ! {
    out::warn(message);
    std::process::exit(code)
}
