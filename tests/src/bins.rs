//! Where the built binaries are.

use std::path::PathBuf;

/// The directory of the static release binaries: `PODKIT_BIN_DIR`, else the workspace's musl
/// release directory.
pub fn dir() -> PathBuf {
    match std::env::var_os("PODKIT_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/x86_64-unknown-linux-musl/release"),
    }
}

/// The path of `podkit-<tool>`; panics with the fix when it has not been built.
pub fn path(tool: &str) -> PathBuf {
    let path = dir().join(format!("podkit-{tool}"));
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
