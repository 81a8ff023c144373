//! podkit-probe: liveness, readiness and startup probes, and waits for dependencies, in one small
//! static binary. Parses its flags, runs one check, prints one line, exits 0, 1, 2 or 3. A library
//! so that podkit's multi-call binary (bins/toolbox) can hold it; its own binary is `main.rs`.

mod cli;
mod connect;
mod exec;
mod file;
mod grpc;
mod http;
mod outcome;
mod target;
mod wait;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use podkit::cli::{Blame, UsageError};
use podkit::shutdown::Shutdown;

use crate::cli::{CheckCommand, Cli, Output, WaitArgs};
use crate::outcome::{Finding, Verdict};
use crate::target::Target;
use podkit::addr::Address;

/// podkit-probe run with the command line `args` (the program's name first), to its exit.
pub fn main(args: Vec<OsString>) -> ! {
    let result = Cli::parse(args).and_then(|cli| {
        cli.log.init("podkit-probe");
        run(cli.check, cli.output)
    });
    let code = result.unwrap_or_else(|error| {
        eprintln!("podkit-probe: error: {error}");
        error.exit_code()
    });
    std::process::exit(code);
}

/// `wait`: every target in parallel, then CMD. Returns the exit code (or execs CMD).
fn wait_for(args: WaitArgs, output: Output) -> Result<i32, UsageError> {
    let targets = args
        .targets
        .iter()
        .map(|text| Target::parse(text, &args.tls).map(|target| (target::shown(text), target)))
        .collect::<Result<Vec<_>, _>>()?;
    if !targets.iter().any(|(_, target)| target.uses_tls()) {
        let unused = if args.tls.tls {
            Some("--tls")
        } else {
            args.tls.given_without_tls()
        };
        if let Some(flag) = unused {
            return Err(UsageError::flag(
                flag,
                "no target uses TLS (https://, or tcp:// and grpc:// with --tls)",
            ));
        }
    }
    let waited = runtime()?.block_on(async {
        // As PID 1 of an init container (or of the image), nothing else would stop a wait: the
        // kernel ignores signals PID 1 has no handler for.
        let shutdown = Shutdown::install().blame("cannot handle SIGTERM")?;
        let waited = tokio::select! {
            verdict = wait::wait_all(targets, args.timeout, args.interval, output) => Ok(verdict),
            cause = shutdown.requested() => Err(128 + cause.signal().map_or(libc::SIGTERM, |s| s.number())),
        };
        Ok::<_, UsageError>(waited)
    })?;
    match waited {
        Ok(Verdict::Healthy) if !args.command.is_empty() => Ok(wait::exec(&args.command)),
        Ok(verdict) => Ok(verdict.exit_code()),
        Err(signal_code) => Ok(signal_code),
    }
}

/// Runs the command and returns the exit code; `Err` is a configuration error, found before
/// anything was tried.
fn run(check: CheckCommand, output: Output) -> Result<i32, UsageError> {
    let started = Instant::now();
    let (target, finding) = match check {
        // Many targets, each printed as it passes, then perhaps exec: not one outcome.
        CheckCommand::Wait(args) => return wait_for(args, output),
        CheckCommand::Http(args) => {
            let (name, timeout) = (target::shown(&args.url), args.timeout);
            let target = Target::Http(Box::new(http::HttpCheck::new(*args)?));
            (name, attempt(&target, timeout)?)
        }
        CheckCommand::Tcp(args) => {
            let endpoint = Address::parse_host_port(&args.address).map_err(UsageError::new)?;
            let name = endpoint.to_string();
            let target = Target::Tcp {
                endpoint,
                tls: None,
            };
            (name, attempt(&target, args.timeout)?)
        }
        CheckCommand::Grpc(args) => {
            let timeout = args.whole_timeout();
            // gRPC's target syntax for a socket, unix:///PATH, as well as unix:PATH.
            let address = match args.address.strip_prefix("unix://") {
                Some(path) if path.starts_with('/') => format!("unix:{path}"),
                _ => args.address,
            };
            let endpoint = Address::parse(&address).map_err(UsageError::new)?;
            let options = grpc::CallOptions {
                metadata: args
                    .rpc_headers
                    .into_iter()
                    .map(|header| (header.name, header.value))
                    .collect(),
                user_agent: Some(args.user_agent).filter(|agent| !agent.is_empty()),
                connect_timeout: args.connect_timeout,
                rpc_timeout: args.rpc_timeout,
            };
            let tls = grpc::GrpcTls::from_flags(&args.tls)?;
            let check = grpc::GrpcCheck::new(endpoint, args.service, tls, options)?;
            let name = check.target();
            (name, attempt(&Target::Grpc(Box::new(check)), timeout)?)
        }
        // No runtime for these two: nothing to wait on but a child or a file.
        CheckCommand::Exec(args) => {
            let name = args.command[0].to_string_lossy().into_owned();
            let ran = exec::run(&args.command, args.timeout)?;
            let outcome = ran.finding.into_outcome(name, started.elapsed());
            outcome.print(output);
            // Asked to stop, it stopped: 128+N, as `wait` and a shell say it.
            return Ok(ran
                .stopped_by
                .map_or(outcome.verdict.exit_code(), |signal| 128 + signal));
        }
        CheckCommand::File(args) => (
            args.path.display().to_string(),
            file::check(&args.path, args.max_age),
        ),
    };
    let outcome = finding.into_outcome(target, started.elapsed());
    outcome.print(output);
    Ok(outcome.verdict.exit_code())
}

/// One attempt at `target` on a single-threaded runtime, unreachable after `timeout`.
fn attempt(target: &Target, timeout: Duration) -> Result<Finding, UsageError> {
    let finding = runtime()?.block_on(target.attempt(timeout));
    Ok(finding.unwrap_or_else(|_| {
        Finding::unreachable(format!(
            "timed out after {}",
            podkit::duration::format(timeout)
        ))
    }))
}

/// A single-threaded runtime: a probe starts no threads it does not need.
fn runtime() -> Result<tokio::runtime::Runtime, UsageError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .blame("cannot start the I/O runtime")
}
