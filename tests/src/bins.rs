//! Where the built binaries are.

use std::path::{Path, PathBuf};

/// Every shipped tool, by its short name: `podkit-<tool>`, bins/<tool>, podkit/<tool>.
pub const TOOLS: [&str; 6] = ["init", "probe", "ambassador", "reload", "metrics", "git"];

/// The directory of the static amd64 release binaries: `PODKIT_BIN_DIR`, else the workspace's.
pub fn dir() -> PathBuf {
    release_dir("PODKIT_BIN_DIR", "x86_64-unknown-linux-musl/release")
}

/// The path of `podkit-<tool>`; panics with the fix when it has not been built.
pub fn path(tool: &str) -> PathBuf {
    binary_in(&dir(), &format!("podkit-{tool}"))
}

/// `podkit`, the multi-call binary of every tool (bins/toolbox); panics with the fix when it has
/// not been built.
pub fn toolbox() -> PathBuf {
    binary_in(&dir(), "podkit")
}

/// A directory of release binaries: the one the environment variable `variable` names (the
/// Makefile sets it), else `in_target` in the workspace's target directory, where the Makefile
/// builds them.
pub fn release_dir(variable: &str, in_target: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(in_target),
    }
}

/// The binary `name` in `dir`; panics with the fix when it has not been built.
pub fn binary_in(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

/// `podkit-init`, as a string ready for a command line.
pub fn init() -> String {
    path("init").display().to_string()
}

/// The test helper binary (`tests/src/bin/podkit-testhelper`).
pub fn helper() -> String {
    path("testhelper").display().to_string()
}
