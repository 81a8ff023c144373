//! The arm64 builds of the tools (`make build` cross-compiles them), run on this machine through
//! the kernel's binfmt_misc handler for aarch64: Debian's qemu-user-static, which `.ci/run`
//! registers. Where they are, and whether this machine can run them.

use std::path::{Path, PathBuf};

use crate::bins;

/// The directory of the arm64 release binaries: `PODKIT_ARM64_BIN_DIR`, else the workspace's.
pub fn dir() -> PathBuf {
    bins::release_dir(
        "PODKIT_ARM64_BIN_DIR",
        "arm64/aarch64-unknown-linux-musl/release",
    )
}

/// The path of the arm64 `podkit-<tool>`; panics with the fix when it has not been built.
pub fn path(tool: &str) -> PathBuf {
    bins::binary_in(&dir(), &format!("podkit-{tool}"))
}

/// The arm64 `podkit`, the multi-call binary of every tool; panics with the fix when it has not
/// been built.
pub fn toolbox() -> PathBuf {
    bins::binary_in(&dir(), "podkit")
}

/// The tools `make` built for arm64 on their own: `PODKIT_ARM64_TOOLS` (the Makefile's
/// `ARM64_TOOLS`: all six for `make build`, podkit-init alone for `make test`), else all six.
pub fn tools_built_alone() -> Vec<String> {
    match std::env::var("PODKIT_ARM64_TOOLS") {
        Ok(tools) => tools.split_whitespace().map(str::to_owned).collect(),
        Err(_) => bins::TOOLS.map(str::to_owned).to_vec(),
    }
}

/// The arm64 program that runs as `podkit-<tool>`: its own build when `make` made one, else the
/// arm64 toolbox under that name (a link to it, as the toolbox image holds one per tool), which
/// runs the same code.
pub fn tool(tool: &str) -> PathBuf {
    if tools_built_alone().iter().any(|built| built == tool) {
        return path(tool);
    }
    let links = dir().join("toolbox-links");
    let link = links.join(format!("podkit-{tool}"));
    std::fs::create_dir_all(&links).unwrap_or_else(|e| panic!("mkdir {}: {e}", links.display()));
    // Tests run side by side: another may have made the same link first.
    match std::os::unix::fs::symlink(toolbox(), &link) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            panic!("link {} to the toolbox: {e}", link.display())
        }
        _ => link,
    }
}

/// The arm64 images `make images` built: those of the tools built alone, and the toolbox's.
pub fn images() -> Vec<String> {
    let mut images = tools_built_alone();
    images.push("toolbox".to_owned());
    images
}

/// Whether arm64 programs run here: a binfmt_misc handler for aarch64 ELF files is registered
/// and enabled. Reports the skip, with the fix, when not. Asking the kernel is the only sure
/// way: without a handler, execve fails with ENOEXEC, and the C library's fallback then runs the
/// binary as a shell script, which fails in ways that say nothing of the cause.
pub fn runs_here(test: &str) -> bool {
    match handler() {
        Ok(()) => true,
        Err(why) => {
            crate::skip(
                test,
                &format!(
                    "{why} (Debian: apt-get install qemu-user-static, then register \
                     /usr/lib/binfmt.d/qemu-aarch64.conf as .ci/run does)"
                ),
            );
            false
        }
    }
}

/// The start of the magic (the ELF header: 64-bit, little-endian, version 1, then e_type and
/// e_machine = 183) that a handler for aarch64 executables registers, as binfmt_misc shows it.
const AARCH64_MAGIC: &str = "magic 7f454c460201010000000000000000000200b700";

/// Ok when binfmt_misc is mounted and enabled, and an enabled handler matches aarch64 ELF
/// executables; else why not.
fn handler() -> Result<(), String> {
    let root = Path::new("/proc/sys/fs/binfmt_misc");
    match std::fs::read_to_string(root.join("status")) {
        Err(_) => return Err(format!("binfmt_misc is not mounted on {}", root.display())),
        Ok(status) if status.trim() != "enabled" => {
            return Err("binfmt_misc is disabled".to_owned())
        }
        Ok(_) => {}
    }
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
    let found = entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path()).is_ok_and(|text| {
            text.lines().next() == Some("enabled") && text.lines().any(|l| l == AARCH64_MAGIC)
        })
    });
    match found {
        true => Ok(()),
        false => Err("no enabled binfmt_misc handler runs aarch64 programs here".to_owned()),
    }
}

/// The machine an ELF file is built for, from its header (`e_machine`): 183 is aarch64, 62
/// x86-64.
pub fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x7fELF\x02\x01"),
        "{} is not a 64-bit little-endian ELF file",
        path.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// `e_machine` of aarch64.
pub const EM_AARCH64: u16 = 183;
