//! Flags and environment into a typed [`Config`], once, at the edge; and the `--help` text.
//!
//! Hand-written over lexopt rather than clap: clap alone would cost more than this binary's whole
//! 500 KB budget. It keeps podkit's conventions anyway: every flag has a `PODKIT_*` variable
//! (`--help` lists them), a flag beats its variable, a switch's variable takes only an explicit
//! `true`, `false`, `1` or `0`, and tini's and dumb-init's variables are honoured with the meaning
//! their own tools give them, so podkit-init drops into images written for them.

use std::ffi::OsString;
use std::time::Duration;

use podkit::cli::{env_name, switch_value, Blame, UsageError};
use podkit::duration;
use podkit::log::{Format, Level};
use podkit::signal::Signal;

use crate::signals::why_never_acted_on;

/// Everything podkit-init needs to know, already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main child's argv; empty in pause mode.
    pub command: Vec<OsString>,
    pub pause: bool,
    /// Forward signals to the child's whole process group rather than the child alone.
    pub group: bool,
    /// Insist on becoming a child subreaper (it is tried anyway when not PID 1).
    pub subreaper: bool,
    /// From the stop signal until SIGKILL for whatever is left of the tree.
    pub grace: Duration,
    /// Wait this long after the stop signal before running pre-stop and forwarding it.
    pub stop_delay: Duration,
    /// The signals that start the graceful stop (`--stop-signal`); any other is only forwarded.
    pub stop_signals: Vec<Signal>,
    pub pre_stop: Option<Vec<OsString>>,
    pub post_start: Option<Vec<OsString>>,
    pub post_start_required: bool,
    pub rewrites: Vec<Rewrite>,
    pub remaps: Vec<Remap>,
    pub pdeathsig: Option<Signal>,
    pub log_level: Level,
    pub log_format: Format,
}

/// `--rewrite FROM:TO`: forward `to` when `from` arrives; `to == None` drops the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub from: Signal,
    pub to: Option<Signal>,
}

/// `--remap-exit FROM:TO`: exit with `to` when the main child's status maps to `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remap {
    pub from: u8,
    pub to: u8,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Action {
    Run(Config),
    Help,
    Version,
}

/// A variable of tini or dumb-init that podkit-init honours, with that tool's own meaning, when
/// neither the flag nor its `PODKIT_*` variable is given.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// tini's rule: set at all, to any value (empty and `0` included), means on.
    SetMeansOn(&'static str),
    /// dumb-init's rule for `DUMB_INIT_SETSID`: exactly `0` means off, any other value on.
    ZeroMeansOff(&'static str),
}

const TINI_SUBREAPER: Peer = Peer::SetMeansOn("TINI_SUBREAPER");
const TINI_KILL_PROCESS_GROUP: Peer = Peer::SetMeansOn("TINI_KILL_PROCESS_GROUP");
const DUMB_INIT_SETSID: Peer = Peer::ZeroMeansOff("DUMB_INIT_SETSID");

const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// SIGQUIT is not one: the JVM and Go print their threads' stacks on it and go on running.
const DEFAULT_STOP_SIGNALS: [Signal; 2] = [Signal::TERM, Signal::INT];

/// tini's verbosity, read as tini reads it (`atoi`), for when no podkit flag or variable sets the
/// level: 0 errors only, 1 warnings (tini's default and podkit-init's), 2 info, 3 and up debug.
const TINI_VERBOSITY: &str = "TINI_VERBOSITY";

/// Reads the command line, falling back to the environment (looked up through `env`, so tests
/// need not touch the process's own) for every flag the command line does not give.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Action, UsageError> {
    let mut flags = Flags::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(UsageError::new)? {
        use lexopt::Arg::{Long, Short, Value};
        match arg {
            Short('h') | Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            Short('g') | Long("group") => flags.group = Some(true),
            Short('s') | Long("subreaper") => flags.subreaper = Some(true),
            Short('P') | Long("pause") => flags.pause = Some(true),
            Long("post-start-required") => flags.post_start_required = Some(true),
            Short('v') | Long("verbose") => flags.verbosity += 1,
            Long("grace") => flags.grace = Some(text(value(&mut parser)?, "--grace")?),
            Long("stop-delay") => {
                flags.stop_delay = Some(text(value(&mut parser)?, "--stop-delay")?)
            }
            Long("stop-signal") => flags
                .stop_signal
                .push(text(value(&mut parser)?, "--stop-signal")?),
            Long("pre-stop") => flags.pre_stop = Some(text(value(&mut parser)?, "--pre-stop")?),
            Long("post-start") => {
                flags.post_start = Some(text(value(&mut parser)?, "--post-start")?)
            }
            Short('r') | Long("rewrite") => {
                flags.rewrite.push(text(value(&mut parser)?, "--rewrite")?)
            }
            Long("remap-exit") => flags
                .remap_exit
                .push(text(value(&mut parser)?, "--remap-exit")?),
            Short('e') => flags
                .remap_exit
                .push(format!("{}:0", text(value(&mut parser)?, "-e")?)),
            Short('p') | Long("pdeathsig") => {
                flags.pdeathsig = Some(text(value(&mut parser)?, "--pdeathsig")?)
            }
            Long("log-level") => flags.log_level = Some(text(value(&mut parser)?, "--log-level")?),
            Long("log-format") => {
                flags.log_format = Some(text(value(&mut parser)?, "--log-format")?)
            }
            Value(program) => {
                flags.command.push(program);
                flags
                    .command
                    .extend(parser.raw_args().map_err(UsageError::new)?);
            }
            _ => return Err(UsageError::new(arg.unexpected())),
        }
    }
    flags.into_config(&env).map(Action::Run)
}

/// The value of the option just read: `--grace 5s` or `--grace=5s`.
fn value(parser: &mut lexopt::Parser) -> Result<OsString, UsageError> {
    parser.value().map_err(UsageError::new)
}

/// The command line as given, still text; [`Flags::into_config`] types it with the environment.
#[derive(Default)]
struct Flags {
    command: Vec<OsString>,
    pause: Option<bool>,
    group: Option<bool>,
    subreaper: Option<bool>,
    post_start_required: Option<bool>,
    verbosity: u8,
    grace: Option<String>,
    stop_delay: Option<String>,
    stop_signal: Vec<String>,
    pre_stop: Option<String>,
    post_start: Option<String>,
    rewrite: Vec<String>,
    remap_exit: Vec<String>,
    pdeathsig: Option<String>,
    log_level: Option<String>,
    log_format: Option<String>,
}

impl Flags {
    fn into_config(self, env: &impl Fn(&str) -> Option<OsString>) -> Result<Config, UsageError> {
        let sources = Sources { env };
        let pause = sources.switch(self.pause, "pause", &[])?;
        if pause && !self.command.is_empty() {
            return Err(UsageError::new("--pause takes no command"));
        }
        if !pause && self.command.is_empty() {
            return Err(UsageError::new(
                "missing command: usage is podkit-init [OPTIONS] -- CMD [ARGS...]",
            ));
        }
        let grace = sources
            .value("grace", self.grace, duration::parse)?
            .unwrap_or(DEFAULT_GRACE);
        let stop_delay = sources
            .value("stop-delay", self.stop_delay, duration::parse)?
            .unwrap_or(Duration::ZERO);
        if !stop_delay.is_zero() && stop_delay >= grace {
            return Err(UsageError::new(format!(
                "--stop-delay {} must be shorter than --grace {}: the grace bounds the whole stop",
                duration::format(stop_delay),
                duration::format(grace)
            )));
        }
        let chosen_level = sources.value("log-level", self.log_level, str::parse)?;
        let verbosity = sources.verbosity(self.verbosity)?;
        let mut level = match (chosen_level, verbosity) {
            (None, None) => sources.tini_level(),
            (chosen, _) => chosen.unwrap_or(Level::Warn),
        };
        for _ in 0..verbosity.unwrap_or(0) {
            level = level.louder();
        }
        let mut stop_signals = sources.list("stop-signal", self.stop_signal, parse_stop_signal)?;
        if stop_signals.is_empty() {
            stop_signals = DEFAULT_STOP_SIGNALS.to_vec();
        }
        Ok(Config {
            command: self.command,
            pause,
            group: sources.switch(
                self.group,
                "group",
                &[TINI_KILL_PROCESS_GROUP, DUMB_INIT_SETSID],
            )?,
            subreaper: sources.switch(self.subreaper, "subreaper", &[TINI_SUBREAPER])?,
            grace,
            stop_delay,
            stop_signals,
            pre_stop: sources.command("pre-stop", self.pre_stop)?,
            post_start: sources.command("post-start", self.post_start)?,
            post_start_required: sources.switch(
                self.post_start_required,
                "post-start-required",
                &[],
            )?,
            rewrites: sources.list("rewrite", self.rewrite, parse_rewrite)?,
            remaps: sources.list("remap-exit", self.remap_exit, parse_remap)?,
            pdeathsig: sources.value("pdeathsig", self.pdeathsig, str::parse)?,
            log_level: level,
            log_format: sources
                .value("log-format", self.log_format, str::parse)?
                .unwrap_or(Format::Text),
        })
    }
}

/// Where a flag's value came from, so an error can name it: `--grace` or `PODKIT_GRACE`.
struct Sources<'a, E> {
    env: &'a E,
}

impl<E: Fn(&str) -> Option<OsString>> Sources<'_, E> {
    /// The flag's text if given, else its `PODKIT_*` variable's, with the name to blame.
    fn text(
        &self,
        flag: &str,
        given: Option<String>,
    ) -> Result<Option<(String, String)>, UsageError> {
        if let Some(value) = given {
            return Ok(Some((value, format!("--{flag}"))));
        }
        let name = env_name(flag);
        match (self.env)(&name) {
            None => Ok(None),
            Some(value) => Ok(Some((text(value, &name)?, name))),
        }
    }

    /// The flag's (or variable's) value through `parse`, errors naming where it came from.
    fn value<T, Error: Into<Box<dyn std::error::Error + Send + Sync>>>(
        &self,
        flag: &str,
        given: Option<String>,
        parse: impl Fn(&str) -> Result<T, Error>,
    ) -> Result<Option<T>, UsageError> {
        match self.text(flag, given)? {
            None => Ok(None),
            Some((value, source)) => parse(&value).map(Some).blame(source),
        }
    }

    /// A hook command, split like a shell would split it, without running a shell.
    fn command(
        &self,
        flag: &str,
        given: Option<String>,
    ) -> Result<Option<Vec<OsString>>, UsageError> {
        self.value(flag, given, |value| match shlex::split(value) {
            Some(words) if !words.is_empty() => Ok(words.into_iter().map(OsString::from).collect()),
            Some(_) => Err("empty command".to_owned()),
            None => Err(format!(
                "unbalanced quotes or trailing backslash in {value:?}"
            )),
        })
    }

    /// A switch: the flag if given, else its `PODKIT_*` variable, which must say `true`, `false`,
    /// `1` or `0` (an empty or mistyped value is an error, never a guess), else the first of
    /// `peers` that is set, read by its own tool's rule. The environment is not read at all when
    /// the flag is given.
    fn switch(&self, given: Option<bool>, flag: &str, peers: &[Peer]) -> Result<bool, UsageError> {
        if let Some(given) = given {
            return Ok(given);
        }
        let name = env_name(flag);
        if let Some(value) = (self.env)(&name) {
            return switch_value(&text(value, &name)?).blame(name);
        }
        Ok(peers
            .iter()
            .find_map(|peer| self.peer(*peer))
            .unwrap_or(false))
    }

    /// A peer's variable by its tool's rule, `None` when it is not set. Its value need not be
    /// UTF-8: neither rule reads more than "is it exactly `0`".
    fn peer(&self, peer: Peer) -> Option<bool> {
        match peer {
            Peer::SetMeansOn(name) => (self.env)(name).map(|_| true),
            Peer::ZeroMeansOff(name) => (self.env)(name).map(|value| value != "0"),
        }
    }

    /// How many `-v`: the flags' count, else `PODKIT_VERBOSE`, which holds a count, or `true` or
    /// `false` standing for one or none.
    /// `None` when neither says anything.
    fn verbosity(&self, given: u8) -> Result<Option<u8>, UsageError> {
        if given > 0 {
            return Ok(Some(given));
        }
        let parse = |value: &str| match value.trim().parse::<u8>() {
            Ok(count) => Ok(count),
            Err(_) => switch_value(value)
                .map(u8::from)
                .map_err(|_| format!("expected a count (0 to 255), true or false, got {value:?}")),
        };
        self.value("verbose", None, parse)
    }

    /// The level tini's `TINI_VERBOSITY` asks for, read with C's `atoi` as tini reads it: leading
    /// blanks, a sign, digits, and anything else ends the number (`""` and `"x"` are 0). A
    /// negative value wraps round to tini's loudest, as in its unsigned variable.
    fn tini_level(&self) -> Level {
        let Some(value) = (self.env)(TINI_VERBOSITY) else {
            return Level::Warn;
        };
        let value = value.to_string_lossy();
        let text = value.trim_start();
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let digits = &digits[..digits.bytes().take_while(u8::is_ascii_digit).count()];
        // No digits is 0; more digits than a u64 holds is loud, whichever way atoi overflows.
        let magnitude = match digits {
            "" => 0,
            digits => digits.parse::<u64>().unwrap_or(u64::MAX),
        };
        let verbosity = if negative && magnitude != 0 {
            u64::MAX
        } else {
            magnitude
        };
        match verbosity {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// A repeatable flag: the command line's occurrences, else the variable's list, its values
    /// separated by commas, blanks or line breaks.
    fn list<T>(
        &self,
        flag: &str,
        given: Vec<String>,
        parse_one: fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, UsageError> {
        let (items, source) = if !given.is_empty() {
            (given, format!("--{flag}"))
        } else {
            let Some((value, source)) = self.text(flag, None)? else {
                return Ok(Vec::new());
            };
            let items = value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            (items, source)
        };
        items
            .iter()
            .map(|item| parse_one(item).blame(source.clone()))
            .collect()
    }
}

/// A flag's or variable's value as text; `source` names it in the error.
fn text(value: OsString, source: &str) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|v| format!("not valid UTF-8: {v:?}"))
        .blame(source.to_owned())
}

/// A signal that must be one podkit-init acts on when it arrives; `role` says what it would do.
fn acted_on(text: &str, role: &str) -> Result<Signal, String> {
    let signal: Signal = text.parse().map_err(|e| format!("{e}"))?;
    match why_never_acted_on(signal) {
        None => Ok(signal),
        Some(why) => Err(format!("{signal} {why}, so it can never {role}")),
    }
}

fn parse_stop_signal(text: &str) -> Result<Signal, String> {
    acted_on(text, "start the stop")
}

fn parse_rewrite(text: &str) -> Result<Rewrite, String> {
    let (from, to) = text
        .split_once(':')
        .ok_or_else(|| format!("expected FROM:TO, got {text:?}"))?;
    let from = acted_on(from, "be rewritten")?;
    let to = match to.trim() {
        "0" => None,
        to => Some(to.parse::<Signal>().map_err(|e| format!("{e}"))?),
    };
    Ok(Rewrite { from, to })
}

fn parse_remap(text: &str) -> Result<Remap, String> {
    let code = |part: &str| {
        part.trim()
            .parse::<u8>()
            .map_err(|_| format!("exit code {part:?} in {text:?} is not a number from 0 to 255"))
    };
    let (from, to) = text
        .split_once(':')
        .ok_or_else(|| format!("expected FROM:TO, got {text:?}"))?;
    Ok(Remap {
        from: code(from)?,
        to: code(to)?,
    })
}

pub const HELP: &str = "\
podkit-init: PID 1 for containers. Runs CMD, forwards signals to it, reaps zombies, stops the
whole process tree gracefully, and runs lifecycle hooks without a shell.

Usage: podkit-init [OPTIONS] [--] CMD [ARGS...]
       podkit-init --pause

Options (each also read from the environment variable shown):
  -g, --group                  Forward signals to CMD's whole process group, not CMD alone
                               [env: PODKIT_GROUP, TINI_KILL_PROCESS_GROUP, DUMB_INIT_SETSID]
  -s, --subreaper              Fail unless podkit-init can be a child subreaper (it tries anyway
                               whenever it is not PID 1)   [env: PODKIT_SUBREAPER, TINI_SUBREAPER]
      --grace DURATION         Time from a stop signal (or CMD's exit) until SIGKILL for every
                               remaining descendant [default: 10s]       [env: PODKIT_GRACE]
      --stop-delay DURATION    On a stop signal, wait this long before pre-stop and forwarding,
                               so endpoints stop sending traffic first    [env: PODKIT_STOP_DELAY]
      --stop-signal SIG        A signal that starts the stop (the grace); any other is only
                               forwarded. Repeatable [default: TERM and INT]
                                             [env: PODKIT_STOP_SIGNAL, comma-separated]
      --pre-stop CMD           Run before the stop signal is forwarded, bounded by the grace
                                                                          [env: PODKIT_PRE_STOP]
      --post-start CMD         Run once CMD has started; a failure is logged [env: PODKIT_POST_START]
      --post-start-required    A failed post-start hook stops the container and podkit-init exits
                               with the hook's code                [env: PODKIT_POST_START_REQUIRED]
  -r, --rewrite FROM:TO        Forward signal TO when FROM arrives; TO=0 drops FROM. Repeatable
                               (TERM:QUIT for nginx)       [env: PODKIT_REWRITE, comma-separated]
      --remap-exit FROM:TO     Exit with TO when CMD's status is FROM. Repeatable (143:0 for the
                               JVM); -e CODE is tini's CODE:0  [env: PODKIT_REMAP_EXIT, comma-sep.]
  -p, --pdeathsig SIG          Have SIG sent to podkit-init when its parent dies [env: PODKIT_PDEATHSIG]
  -P, --pause                  No command: reap orphans, exit 0 on a stop signal (SIGTERM or
                               SIGINT by default): the Kubernetes pause container
                                                                          [env: PODKIT_PAUSE]
  -v, --verbose                More logs: -v says why podkit-init exited, -vv every signal
                               [env: PODKIT_VERBOSE, a count, true or false; TINI_VERBOSITY]
      --log-level LEVEL        error, warn, info or debug [default: warn] [env: PODKIT_LOG_LEVEL]
      --log-format FORMAT      text or json [default: text]              [env: PODKIT_LOG_FORMAT]
  -h, --help                   Print this help
  -V, --version                Print the version

A switch (-g, -s, -P, --post-start-required) read from its PODKIT_* variable takes only true,
false, 1 or 0, in any case; any other value, an empty one included, is a usage error. tini's and
dumb-init's variables keep the meaning their own tools give them, and a PODKIT_* variable wins
over them: TINI_SUBREAPER and TINI_KILL_PROCESS_GROUP turn their switch on when set at all, to
any value, even 0 or nothing; DUMB_INIT_SETSID=0 leaves --group off, any other value turns it on.
TINI_VERBOSITY sets the level as tini reads it when no podkit flag or variable does: 0 errors,
1 warnings (the default), 2 info, 3 or more debug.

The stop signals are SIGTERM and SIGINT unless --stop-signal says otherwise (SIGQUIT is only
forwarded: it asks the JVM for a thread dump). The grace starts when one arrives, then come the
stop delay, the pre-stop hook, and the (rewritten) signal to CMD; a process whose parent is gone
gets SIGTERM from podkit-init; whatever is left of the tree when the grace ends gets SIGKILL, and
podkit-init exits as soon as the tree is empty.
Signals are given by name or number: TERM, SIGTERM, 15, RTMIN+3 (RTMIN is 34, as for glibc and
kill(1)). Durations: 500ms, 30s, 5m.

Exit status:
  CMD's exit code, or 128+N when signal N killed it (then --remap-exit applies)
  the post-start hook's code when --post-start-required and the hook failed
  0    --pause ended by a stop signal
  1    podkit-init itself failed (could not fork, set up signals, or become a subreaper with -s)
  2    usage error: a bad flag, environment variable, signal, duration or hook command, or a
       rule on a signal podkit-init never acts on (-r SYS:HUP, --stop-signal CHLD)
  126  CMD could not be executed
  127  CMD was not found
";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Action, UsageError> {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let argv = std::iter::once("podkit-init")
            .chain(args.iter().copied())
            .map(OsString::from);
        parse(argv.skip(1), |name| env.get(name).cloned())
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match parse_with(args, env) {
            Ok(Action::Run(config)) => config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> String {
        match parse_with(args, env) {
            Err(error) => error.to_string(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn everything_after_the_first_word_belongs_to_the_command() {
        let c = config(&["-g", "--grace", "3s", "--", "app", "--grace", "-v"], &[]);
        assert_eq!(c.command, ["app", "--grace", "-v"]);
        assert!(c.group);
        assert_eq!(c.grace, Duration::from_secs(3));
        assert_eq!(config(&["app", "-x"], &[]).command, ["app", "-x"]);
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = config(&["app"], &[]);
        assert_eq!(c.grace, Duration::from_secs(10));
        assert_eq!(c.stop_delay, Duration::ZERO);
        assert_eq!((c.group, c.subreaper, c.pause), (false, false, false));
        assert_eq!(c.log_level, Level::Warn);
    }

    #[test]
    fn environment_fills_in_flags_and_the_command_line_wins() {
        let env = [
            ("PODKIT_GRACE", "20s"),
            ("PODKIT_REWRITE", "TERM:QUIT,USR1:0"),
            ("PODKIT_GROUP", "1"),
        ];
        let c = config(&["app"], &env);
        assert_eq!(c.grace, Duration::from_secs(20));
        assert!(c.group);
        assert_eq!(
            c.rewrites,
            [
                Rewrite {
                    from: Signal::TERM,
                    to: Some(Signal::QUIT)
                },
                Rewrite {
                    from: "USR1".parse().unwrap(),
                    to: None
                }
            ]
        );
        assert_eq!(
            config(&["--grace", "1s", "app"], &env).grace,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn a_flag_given_leaves_its_variable_unread() {
        use std::os::unix::ffi::OsStringExt;
        // Not UTF-8, so reading it would be an error.
        let given = ["PODKIT_GROUP", "PODKIT_SUBREAPER", "PODKIT_GRACE"];
        let env = |name: &str| {
            given
                .contains(&name)
                .then(|| OsString::from_vec(vec![0xff]))
        };
        let argv = ["--group", "--subreaper", "--grace", "1s", "app"].map(OsString::from);
        let Ok(Action::Run(config)) = parse(argv, env) else {
            panic!("the variables were read")
        };
        assert!(config.group && config.subreaper);
        let argv = ["app"].map(OsString::from);
        let error = parse(argv, env).unwrap_err().to_string();
        assert!(
            error.starts_with("PODKIT_GRACE: not valid UTF-8"),
            "{error}"
        );
    }

    #[test]
    fn tini_and_dumb_init_variables_keep_their_own_tools_meaning() {
        // tini: set at all means on, whatever the value.
        for value in ["", "1", "0", "anything"] {
            assert!(config(&["app"], &[("TINI_SUBREAPER", value)]).subreaper);
            assert!(config(&["app"], &[("TINI_KILL_PROCESS_GROUP", value)]).group);
        }
        // dumb-init: exactly 0 turns group signalling off, anything else leaves it on.
        assert!(!config(&["app"], &[("DUMB_INIT_SETSID", "0")]).group);
        for value in ["1", "", "yes"] {
            assert!(config(&["app"], &[("DUMB_INIT_SETSID", value)]).group);
        }
        // The PODKIT_* variable wins over a peer's.
        assert!(
            !config(
                &["app"],
                &[("PODKIT_GROUP", "0"), ("TINI_KILL_PROCESS_GROUP", "1")]
            )
            .group
        );
        assert!(!config(&["app"], &[]).group);
    }

    #[test]
    fn a_switch_variable_takes_only_true_false_1_or_0() {
        for (value, on) in [("1", true), ("TRUE", true), ("0", false), ("False", false)] {
            let c = config(
                &["app"],
                &[("PODKIT_GROUP", value), ("PODKIT_SUBREAPER", value)],
            );
            assert_eq!((c.group, c.subreaper), (on, on), "{value:?}");
        }
        for variable in [
            "PODKIT_GROUP",
            "PODKIT_SUBREAPER",
            "PODKIT_POST_START_REQUIRED",
        ] {
            for bad in ["", "garbage", "yes", "2"] {
                let error = error(&["app"], &[(variable, bad)]);
                assert!(
                    error.starts_with(&format!("{variable}: expected true, false, 1 or 0")),
                    "{variable}={bad:?}: {error}"
                );
            }
        }
        assert!(error(&[], &[("PODKIT_PAUSE", "on")]).starts_with("PODKIT_PAUSE: expected"));
    }

    #[test]
    fn hooks_are_split_like_a_shell_without_one() {
        let c = config(&["--pre-stop", "sleep 'a b' \"c d\" e\\ f", "app"], &[]);
        assert_eq!(c.pre_stop.unwrap(), ["sleep", "a b", "c d", "e f"]);
        assert!(
            error(&["--pre-stop", "echo 'x", "app"], &[]).contains("--pre-stop: unbalanced quotes")
        );
    }

    #[test]
    fn remap_rewrite_and_tini_e() {
        let c = config(
            &["--remap-exit", "143:0", "-e", "2", "-r", "15:3", "app"],
            &[],
        );
        assert_eq!(
            c.remaps,
            [Remap { from: 143, to: 0 }, Remap { from: 2, to: 0 }]
        );
        assert_eq!(
            c.rewrites,
            [Rewrite {
                from: Signal::TERM,
                to: Some(Signal::QUIT)
            }]
        );
    }

    #[test]
    fn bad_input_names_the_flag_or_variable() {
        assert!(
            error(&["--grace", "10", "app"], &[]).starts_with("--grace: invalid duration \"10\"")
        );
        assert!(error(&["app"], &[("PODKIT_GRACE", "soon")])
            .starts_with("PODKIT_GRACE: invalid duration"));
        assert!(error(&["-r", "TERM:BOGUS", "app"], &[]).contains("unknown signal \"BOGUS\""));
        assert!(error(&["--remap-exit", "143:999", "app"], &[]).contains("\"999\""));
        assert!(
            error(&["--pdeathsig", "NOPE", "app"], &[]).starts_with("--pdeathsig: unknown signal")
        );
        assert!(error(&["--bogus", "app"], &[]).contains("--bogus"));
        assert!(error(&[], &[]).starts_with("missing command"));
        assert!(error(&["--pause", "app"], &[]).contains("--pause takes no command"));
        assert!(error(&["--grace", "1s", "--stop-delay", "2s", "app"], &[])
            .contains("shorter than --grace"));
    }

    #[test]
    fn verbosity_raises_the_level() {
        assert_eq!(config(&["-v", "app"], &[]).log_level, Level::Info);
        assert_eq!(config(&["-vv", "app"], &[]).log_level, Level::Debug);
        assert_eq!(
            config(&["app"], &[("PODKIT_VERBOSE", "2")]).log_level,
            Level::Debug
        );
        assert_eq!(
            config(&["app"], &[("PODKIT_VERBOSE", "true")]).log_level,
            Level::Info
        );
        assert_eq!(
            config(&["-v", "app"], &[("PODKIT_VERBOSE", "2")]).log_level,
            Level::Info
        );
        assert_eq!(
            config(&["--log-level", "error", "app"], &[]).log_level,
            Level::Error
        );
        for bad in ["", "loud", "300"] {
            let error = error(&["app"], &[("PODKIT_VERBOSE", bad)]);
            assert!(
                error.starts_with("PODKIT_VERBOSE: expected a count (0 to 255), true or false"),
                "{bad:?}: {error}"
            );
        }
    }

    #[test]
    fn only_term_and_int_stop_by_default_and_the_flag_or_variable_says_otherwise() {
        assert_eq!(
            config(&["app"], &[]).stop_signals,
            [Signal::TERM, Signal::INT]
        );
        let usr2: Signal = "USR2".parse().unwrap();
        assert_eq!(
            config(
                &["--stop-signal", "QUIT", "--stop-signal", "USR2", "app"],
                &[]
            )
            .stop_signals,
            [Signal::QUIT, usr2]
        );
        assert_eq!(
            config(&["app"], &[("PODKIT_STOP_SIGNAL", "TERM,\nUSR2\n")]).stop_signals,
            [Signal::TERM, usr2]
        );
        assert!(error(&["--stop-signal", "KILL", "app"], &[])
            .starts_with("--stop-signal: SIGKILL cannot be caught"));
    }

    #[test]
    fn a_rewrite_from_a_signal_podkit_init_never_acts_on_is_refused() {
        for from in ["SYS", "SEGV", "TTIN", "TTOU", "CHLD", "KILL", "STOP", "BUS"] {
            let error = error(&["-r", &format!("{from}:HUP"), "app"], &[]);
            assert!(
                error.starts_with("--rewrite: SIG") && error.contains("can never be rewritten"),
                "{from}: {error}"
            );
        }
        // As a target any signal will do.
        assert_eq!(config(&["-r", "HUP:SEGV", "app"], &[]).rewrites.len(), 1);
    }

    #[test]
    fn tini_verbosity_sets_the_level_as_tini_reads_it_unless_podkit_says() {
        let level = |value: &str| config(&["app"], &[("TINI_VERBOSITY", value)]).log_level;
        for (value, wanted) in [
            ("0", Level::Error),
            ("", Level::Error),
            ("loud", Level::Error),
            ("1", Level::Warn),
            (" 2", Level::Info),
            ("2x", Level::Info),
            ("3", Level::Debug),
            ("4", Level::Debug),
            ("-1", Level::Debug),
            ("99999999999999999999999", Level::Debug),
        ] {
            assert_eq!(level(value), wanted, "TINI_VERBOSITY={value:?}");
        }
        let env = [("TINI_VERBOSITY", "0")];
        assert_eq!(config(&["-v", "app"], &env).log_level, Level::Info);
        assert_eq!(
            config(&["--log-level", "warn", "app"], &env).log_level,
            Level::Warn
        );
        let env = [("TINI_VERBOSITY", "3"), ("PODKIT_VERBOSE", "0")];
        assert_eq!(config(&["app"], &env).log_level, Level::Warn);
        let env = [("TINI_VERBOSITY", "3"), ("PODKIT_LOG_LEVEL", "error")];
        assert_eq!(config(&["app"], &env).log_level, Level::Error);
    }

    #[test]
    fn help_and_version_win_over_missing_command() {
        assert!(matches!(parse_with(&["--help"], &[]), Ok(Action::Help)));
        assert!(matches!(parse_with(&["-V"], &[]), Ok(Action::Version)));
        assert!(matches!(
            parse_with(&["--pause"], &[]),
            Ok(Action::Run(Config { pause: true, .. }))
        ));
    }
}
