//! podkit: every podkit tool in one static binary, for users who want one image for many
//! sidecars. Run as `podkit TOOL ARGS...`, or under the tool's own name (`podkit-probe ARGS...`,
//! a link to it): [`dispatch`] decides which, and the tool's `main` runs as in its own binary.
//!
//! podkit-init shares the binary but not the runtime: nothing here starts a thread or a runtime
//! before the tool's `main`, and podkit-init's starts none, so `podkit init` is PID 1 as
//! podkit-init is.

mod dispatch;

use std::ffi::OsString;
use std::io::Write;

use dispatch::Choice;

// podkit-ambassador's allocator (its main.rs says why), for the binary that holds it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A tool's `main`: its command line in, the process's end out.
type Main = fn(Vec<OsString>) -> !;

/// Every tool: its short name and its `main`.
const TOOLS: [(&str, Main); 6] = [
    ("init", podkit_init::main::<Vec<OsString>>),
    ("probe", podkit_probe::main),
    ("ambassador", podkit_ambassador::main),
    ("reload", podkit_reload::main),
    ("metrics", podkit_metrics::main),
    ("git", podkit_git::main),
];

const HELP: &str = "\
Every podkit tool in one binary.

Usage: podkit TOOL [ARGS...]
       podkit-TOOL [ARGS...]    (this binary under that name: a link to it)

Tools: init, probe, ambassador, reload, metrics, git. `podkit TOOL --help` shows each one's
flags; each behaves exactly as its own binary, podkit-TOOL.

Options:
  -h, --help     Print help
  -V, --version  Print version

Exit codes: those of the tool; 2 when no tool or an unknown one is named.
";

fn main() {
    let names = TOOLS.map(|(name, _)| name);
    let code = match dispatch::choose(std::env::args_os().collect(), &names) {
        Choice::Tool { index, args } => (TOOLS[index].1)(args),
        Choice::Help => print(HELP),
        Choice::Version => print(&format!("podkit {}\n", env!("CARGO_PKG_VERSION"))),
        Choice::Refused(line) => {
            let _ = writeln!(
                std::io::stderr(),
                "podkit: error: {line} (see podkit --help)"
            );
            2
        }
    };
    std::process::exit(code)
}

/// Prints `text` to stdout: 0, or 1 when it cannot be written.
fn print(text: &str) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
