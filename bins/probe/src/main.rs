//! podkit-probe: liveness, readiness and startup probes, and waits for dependencies, in one small
//! static binary. Parses its flags, runs one check, prints one line, exits 0, 1, 2 or 3.

mod cli;
mod connect;
mod exec;
mod file;
mod grpc;
mod http;
mod outcome;
mod status_range;
mod target;
mod wait;

use std::future::Future;
use std::time::{Duration, Instant};

use podkit::cli::EXIT_USAGE;

use crate::cli::{CheckCommand, Cli, Output, WaitArgs};
use crate::connect::Endpoint;
use crate::outcome::{Outcome, Verdict};
use crate::target::Target;

fn main() {
    let result = Cli::parse_or_explain().and_then(|cli| {
        podkit::log::init("podkit-probe", cli.log_level, cli.log_format);
        run(cli.check, cli.output)
    });
    let code = result.unwrap_or_else(|error| {
        eprintln!("podkit-probe: error: {error}");
        EXIT_USAGE
    });
    std::process::exit(code);
}

/// `wait`: every target in parallel, then CMD. Returns the exit code (or execs CMD).
fn wait_for(args: WaitArgs, output: Output) -> Result<i32, String> {
    let targets = args
        .targets
        .iter()
        .map(|text| Target::parse(text, &args.tls).map(|target| (text.clone(), target)))
        .collect::<Result<Vec<_>, _>>()?;
    let verdict = runtime()?.block_on(wait::wait_all(targets, args.timeout, args.interval, output));
    if verdict == Verdict::Healthy && !args.command.is_empty() {
        return Ok(wait::exec(&args.command));
    }
    Ok(verdict.exit_code())
}

/// Runs the command and returns the exit code; `Err` is a configuration error, found before
/// anything was tried.
fn run(check: CheckCommand, output: Output) -> Result<i32, String> {
    let started = Instant::now();
    let outcome = |target: String, verdict, status: Option<String>, detail| Outcome {
        target,
        verdict,
        status,
        detail,
        latency: started.elapsed(),
    };
    let outcome = match check {
        // Many targets, each printed as it passes, then perhaps exec: not one outcome.
        CheckCommand::Wait(args) => return wait_for(args, output),
        CheckCommand::Http(args) => {
            let (target, timeout) = (args.url.clone(), args.timeout);
            let check = http::HttpCheck::new(*args)?;
            let result = with_timeout(timeout, check.run(), |why| http::HttpResult {
                verdict: Verdict::Unreachable,
                status: None,
                detail: Some(why),
            })?;
            outcome(
                target,
                result.verdict,
                result.status.map(|s| s.to_string()),
                result.detail,
            )
        }
        CheckCommand::Tcp(args) => {
            let endpoint = Endpoint::parse_host_port(&args.address)?;
            let reached = with_timeout(args.timeout, connect::connect(&endpoint, None), |why| {
                Err(connect::ConnectError(why))
            })?;
            let (verdict, detail) = match reached {
                Ok(_) => (Verdict::Healthy, None),
                Err(e) => (Verdict::Unreachable, Some(e.0)),
            };
            outcome(endpoint.to_string(), verdict, None, detail)
        }
        CheckCommand::Exec(args) => {
            let result = exec::run(&args.command, args.timeout)?;
            let target = args.command[0].to_string_lossy().into_owned();
            outcome(target, result.verdict, result.status, result.detail)
        }
        CheckCommand::File(args) => {
            let (verdict, detail) = file::check(&args.path, args.max_age);
            outcome(args.path.display().to_string(), verdict, None, detail)
        }
        CheckCommand::Grpc(args) => {
            let endpoint = Endpoint::parse_host_port(&args.address)?;
            let tls = grpc::GrpcTls::from_flags(&args.tls)?;
            let check = grpc::GrpcCheck::new(endpoint, args.service, tls)?;
            let result = with_timeout(args.timeout, check.run(), |why| grpc::GrpcResult {
                verdict: Verdict::Unreachable,
                status: None,
                detail: Some(why),
            })?;
            outcome(check.target(), result.verdict, result.status, result.detail)
        }
    };
    outcome.print(output);
    Ok(outcome.verdict.exit_code())
}

/// Runs `work` on a single-threaded runtime (a probe starts no threads it does not need), and
/// gives `on_timeout("timed out after ...")` if it takes longer than `timeout`.
fn with_timeout<T>(
    timeout: Duration,
    work: impl Future<Output = T>,
    on_timeout: impl FnOnce(String) -> T,
) -> Result<T, String> {
    let result = runtime()?.block_on(async { tokio::time::timeout(timeout, work).await });
    Ok(result.unwrap_or_else(|_| {
        on_timeout(format!(
            "timed out after {}",
            podkit::duration::format(timeout)
        ))
    }))
}

/// A single-threaded runtime: a probe starts no threads it does not need.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))
}
