//! The command line: words split into steps at `then`, and each step checked and typed before
//! anything runs, so a typo in a test fails at once with exit 2 rather than halfway through.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::signal::{Disposition, Signal};

/// One step of the command line; main.rs's manual describes each.
pub enum Step {
    Sleep(Nap),
    Exit(u8),
    Signals {
        ignore: Vec<Signal>,
        exit_on: Vec<Signal>,
        log: Option<PathBuf>,
    },
    Orphans {
        count: usize,
        linger: Duration,
    },
    Families {
        count: usize,
        log: PathBuf,
    },
    WaitReaped,
    SetsidChild {
        ignore: Vec<Signal>,
        grandchild: bool,
    },
    Child {
        ignore: Vec<Signal>,
    },
    Burst {
        count: usize,
        code: u8,
    },
    Tty,
    Append {
        path: PathBuf,
        text: String,
    },
    Pid,
    SendUdp {
        to: SocketAddr,
        text: String,
    },
    ServeHttp(SocketAddr),
    ServeFiles {
        dir: PathBuf,
        addr: SocketAddr,
        app: AppOptions,
    },
    ServeEcho(SocketAddr),
    WaitSignal(Signal),
}

/// What makes `serve-files` an app for a pod's sidecars to work with; every part optional.
#[derive(Default)]
pub struct AppOptions {
    /// `--log PATH`: the app's log, a line per request and per configuration load.
    pub log: Option<PathBuf>,
    /// `--statsd IP:PORT`: where each request's StatsD datagram goes.
    pub statsd: Option<SocketAddr>,
    /// `--config FILE`: read at start and again on SIGHUP, shown at `/-/config`.
    pub config: Option<PathBuf>,
}

/// How long `sleep` sleeps.
pub enum Nap {
    For(Duration),
    Forever,
}

/// Each step's name and syntax, for error messages.
const SYNTAX: &[(&str, &str)] = &[
    ("sleep", "sleep SECS | sleep forever"),
    ("exit", "exit CODE"),
    (
        "signals",
        "signals [--ignore SIG]... [--exit-on SIG]... [--log PATH]",
    ),
    ("orphans", "orphans N [--linger SECS]"),
    ("families", "families N --log PATH"),
    ("wait-reaped", "wait-reaped"),
    (
        "setsid-child",
        "setsid-child [--ignore SIG]... [--grandchild]",
    ),
    ("child", "child [--ignore SIG]..."),
    ("burst", "burst N CODE"),
    ("tty", "tty"),
    ("append", "append PATH TEXT"),
    ("pid", "pid"),
    ("send-udp", "send-udp IP:PORT TEXT"),
    ("serve-http", "serve-http IP:PORT"),
    (
        "serve-files",
        "serve-files DIR IP:PORT [--log PATH] [--statsd IP:PORT] [--config FILE]",
    ),
    ("serve-echo", "serve-echo IP:PORT"),
    ("wait-signal", "wait-signal SIG"),
];

/// Flags that take no value; every other `--flag` is followed by its value.
const SWITCHES: &[&str] = &["--grandchild"];

/// Parses the arguments after the program name into steps. The error is one line for stderr.
pub fn parse(args: &[String]) -> Result<Vec<Step>, String> {
    if args.is_empty() {
        let names: Vec<&str> = SYNTAX.iter().map(|(name, _)| *name).collect();
        return Err(format!(
            "no steps given: STEP [then STEP]..., steps: {}",
            names.join(", ")
        ));
    }
    let mut steps: Vec<Step> = Vec::new();
    for words in args.split(|word| word == "then") {
        if let Some(previous) = steps.last() {
            if !previous.returns() {
                return Err(format!(
                    "`{}` never finishes, so no step may follow it",
                    previous.name()
                ));
            }
        }
        steps.push(parse_step(words)?);
    }
    Ok(steps)
}

impl Step {
    /// The step's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Sleep(_) => "sleep",
            Step::Exit(_) => "exit",
            Step::Signals { .. } => "signals",
            Step::Orphans { .. } => "orphans",
            Step::Families { .. } => "families",
            Step::WaitReaped => "wait-reaped",
            Step::SetsidChild { .. } => "setsid-child",
            Step::Child { .. } => "child",
            Step::Burst { .. } => "burst",
            Step::Tty => "tty",
            Step::Append { .. } => "append",
            Step::Pid => "pid",
            Step::SendUdp { .. } => "send-udp",
            Step::ServeHttp(_) => "serve-http",
            Step::ServeFiles { .. } => "serve-files",
            Step::ServeEcho(_) => "serve-echo",
            Step::WaitSignal(_) => "wait-signal",
        }
    }

    /// Whether the helper can go on to another step after this one. Refusing steps after one that
    /// never finishes catches test scripts that would silently never do what they say.
    fn returns(&self) -> bool {
        !matches!(
            self,
            Step::Sleep(Nap::Forever)
                | Step::Exit(_)
                | Step::Signals { .. }
                | Step::Burst { .. }
                | Step::ServeHttp(_)
                | Step::ServeFiles { .. }
                | Step::ServeEcho(_)
        )
    }
}

fn parse_step(words: &[String]) -> Result<Step, String> {
    let Some((name, rest)) = words.split_first() else {
        return Err("empty step: `then` at the start, at the end, or twice in a row".to_owned());
    };
    let Some(&(name, syntax)) = SYNTAX.iter().find(|(known, _)| known == name) else {
        return Err(format!("unknown step `{name}`"));
    };
    let mut args = StepArgs::split(name, syntax, rest)?;
    let step = match name {
        "sleep" => {
            let [secs] = args.positional()?;
            match secs {
                "forever" => Step::Sleep(Nap::Forever),
                secs => Step::Sleep(Nap::For(args.check(seconds(secs))?)),
            }
        }
        "exit" => {
            let [code] = args.positional()?;
            Step::Exit(args.check(exit_code(code))?)
        }
        "signals" => {
            let ignore = args.signals("--ignore")?;
            let exit_on = args.signals("--exit-on")?;
            if let Some(both) = exit_on.iter().find(|signal| ignore.contains(signal)) {
                return Err(args.fail(&format!("{both} is both ignored and an exit signal")));
            }
            let log = args.last_value("--log").map(PathBuf::from);
            args.positional::<0>()?;
            Step::Signals {
                ignore,
                exit_on,
                log,
            }
        }
        "orphans" => {
            let linger = match args.last_value("--linger") {
                Some(secs) => args.check(seconds(secs))?,
                None => Duration::ZERO,
            };
            let [count] = args.positional()?;
            Step::Orphans {
                count: args.check(number(count))?,
                linger,
            }
        }
        "families" => {
            let log = args
                .last_value("--log")
                .ok_or_else(|| args.fail("`--log PATH` is required"))?;
            let [count] = args.positional()?;
            Step::Families {
                count: args.check(number(count))?,
                log: PathBuf::from(log),
            }
        }
        "setsid-child" => Step::SetsidChild {
            ignore: args.signals("--ignore")?,
            grandchild: args.switch("--grandchild"),
        },
        "child" => Step::Child {
            ignore: args.signals("--ignore")?,
        },
        "burst" => {
            let [count, code] = args.positional()?;
            Step::Burst {
                count: args.check(number(count))?,
                code: args.check(exit_code(code))?,
            }
        }
        "append" => {
            let [path, text] = args.positional()?;
            Step::Append {
                path: PathBuf::from(path),
                text: text.to_owned(),
            }
        }
        "send-udp" => {
            let [to, text] = args.positional()?;
            Step::SendUdp {
                to: args.check(socket_addr(to))?,
                text: text.to_owned(),
            }
        }
        "serve-http" => {
            let [addr] = args.positional()?;
            Step::ServeHttp(args.check(socket_addr(addr))?)
        }
        "serve-files" => {
            let statsd = match args.last_value("--statsd") {
                Some(to) => Some(args.check(socket_addr(to))?),
                None => None,
            };
            let app = AppOptions {
                log: args.last_value("--log").map(PathBuf::from),
                statsd,
                config: args.last_value("--config").map(PathBuf::from),
            };
            let [dir, addr] = args.positional()?;
            Step::ServeFiles {
                dir: PathBuf::from(dir),
                addr: args.check(socket_addr(addr))?,
                app,
            }
        }
        "serve-echo" => {
            let [addr] = args.positional()?;
            Step::ServeEcho(args.check(socket_addr(addr))?)
        }
        "wait-signal" => {
            let [text] = args.positional()?;
            Step::WaitSignal(args.check(catchable(text))?)
        }
        "wait-reaped" => Step::WaitReaped,
        "tty" => Step::Tty,
        "pid" => Step::Pid,
        _ => unreachable!("every name in SYNTAX has an arm"),
    };
    args.finish()?;
    Ok(step)
}

/// One step's words, sorted into positional arguments and flags. Each step takes the flags it
/// knows; [`StepArgs::finish`] refuses whatever is left.
struct StepArgs<'a> {
    name: &'a str,
    syntax: &'a str,
    positional: Vec<&'a str>,
    /// `(flag, value)` in command-line order; switches have no value.
    flags: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> StepArgs<'a> {
    fn split(name: &'a str, syntax: &'a str, words: &'a [String]) -> Result<Self, String> {
        let mut args = StepArgs {
            name,
            syntax,
            positional: Vec::new(),
            flags: Vec::new(),
        };
        let mut words = words.iter().map(String::as_str);
        while let Some(word) = words.next() {
            if !word.starts_with("--") {
                args.positional.push(word);
            } else if SWITCHES.contains(&word) {
                args.flags.push((word, None));
            } else {
                let value = words
                    .next()
                    .ok_or_else(|| args.fail(&format!("`{word}` needs a value")))?;
                args.flags.push((word, Some(value)));
            }
        }
        Ok(args)
    }

    /// Removes and returns every value given to `flag`, in order.
    fn values(&mut self, flag: &str) -> Vec<&'a str> {
        let mut values = Vec::new();
        self.flags.retain(|&(name, value)| match value {
            Some(value) if name == flag => {
                values.push(value);
                false
            }
            _ => true,
        });
        values
    }

    /// The value of a flag that may be given once; given more often, the last one wins.
    fn last_value(&mut self, flag: &str) -> Option<&'a str> {
        self.values(flag).pop()
    }

    fn signals(&mut self, flag: &str) -> Result<Vec<Signal>, String> {
        self.values(flag)
            .into_iter()
            .map(|text| self.check(catchable(text)))
            .collect()
    }

    fn switch(&mut self, flag: &str) -> bool {
        let before = self.flags.len();
        self.flags.retain(|&(name, _)| name != flag);
        self.flags.len() != before
    }

    /// Takes the positional arguments, which must number exactly `N`.
    fn positional<const N: usize>(&mut self) -> Result<[&'a str; N], String> {
        let found = std::mem::take(&mut self.positional);
        let count = found.len();
        found
            .try_into()
            .map_err(|_| self.fail(&format!("expected {N} argument(s), got {count}")))
    }

    /// Refuses anything the step did not take.
    fn finish(self) -> Result<(), String> {
        if let Some(extra) = self.positional.first() {
            return Err(self.fail(&format!("unexpected argument `{extra}`")));
        }
        if let Some((flag, _)) = self.flags.first() {
            return Err(self.fail(&format!("unknown flag `{flag}`")));
        }
        Ok(())
    }

    /// Puts the step's name and syntax on a value's parse error.
    fn check<T>(&self, parsed: Result<T, String>) -> Result<T, String> {
        parsed.map_err(|problem| self.fail(&problem))
    }

    fn fail(&self, problem: &str) -> String {
        format!("{}: {problem} (usage: {})", self.name, self.syntax)
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("`{text}` is not a number of seconds (like 2 or 0.2)"))
}

fn number(text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

fn exit_code(text: &str) -> Result<u8, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an exit code (0..255)"))
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not IP:PORT (like 0.0.0.0:8080 or [::]:8080)"))
}

/// A signal a process can ignore or wait for: anything but KILL and STOP.
fn catchable(text: &str) -> Result<Signal, String> {
    let signal = text.parse::<Signal>().ok().ok_or_else(|| {
        format!("unknown signal `{text}` (use a name like TERM or SIGUSR1, or a number)")
    })?;
    if !signal.can_be_caught() {
        return Err(format!("{signal} can be neither caught nor ignored"));
    }
    Ok(signal)
}
