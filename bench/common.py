"""What the benchmark scripts share: progress lines, aligned tables, ratios, and the shared
libraries a dynamic binary would drag into an image."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import datetime as dt
import hashlib
import platform
from pathlib import Path


def stop_if_missing(script: str, problems: list[str], packages: list[str] = ()) -> None:
    """Before measuring anything: if a tool or binary is missing, say each one and how to get
    it (all missing Debian packages in one command when given), then exit 2."""
    if not problems:
        return
    print(f"bench/{script}: cannot run:", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    if packages:
        print(f"  all missing packages at once: apt-get install -y {' '.join(dict.fromkeys(packages))}",
              file=sys.stderr)
    sys.exit(2)


def info(msg: str) -> None:
    # Progress goes to stderr so stdout holds only the tables.
    print(msg, file=sys.stderr, flush=True)


def table(title: str, headers: list[str], rows: list[list[str]], notes: tuple[str, ...] | list[str] = ()) -> None:
    """Print an aligned table: names left-aligned, numbers right-aligned."""
    # A row of only [name, reason] stands for a command that was not measured:
    # it is printed as is and does not widen the number columns.
    def is_reason(row: list[str]) -> bool:
        return len(row) == 2 and len(headers) > 2

    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row if not is_reason(row) else row[:1]):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])]
        out += [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(out).rstrip()

    print(f"\n## {title}\n")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        if is_reason(row):
            print(f"{row[0].ljust(widths[0])}  {row[1]}")
        else:
            print(line(row))
    for n in notes:
        print(f"  note: {n}")


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value / base:.2f}x"


def ms(seconds: float, digits: int = 3) -> str:
    return f"{seconds * 1e3:.{digits}f} ms"


def short_reason(text: str) -> str:
    """Last non-empty line of an error output, which is where tools say why."""
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:100] if lines else "no output"


def hyperfine_raw(r: dict) -> dict:
    return {k: r[k] for k in ("mean", "stddev", "median", "min", "max", "user", "system", "times")}


def shared_libs(path: Path) -> dict[str, int]:
    """Shared libraries a dynamic binary loads, with their sizes: the real
    footprint of that program in a scratch/distroless image."""
    if shutil.which("ldd") is None:
        return {}
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
    libs = {}
    for m in re.finditer(r"(/\S+) \(0x", out):  # "libc.so.6 => /lib/.../libc.so.6 (0x..)" and the loader
        lib = os.path.realpath(m.group(1))
        libs[m.group(1)] = os.stat(lib).st_size
    return libs


def hyperfine(commands: dict[str, list[str]], runs: int, warmup: int) -> dict[str, dict]:
    """Times every command in ONE hyperfine call, so that all run under the same conditions,
    and returns hyperfine's result for each, by label. -N: no intermediate shell, so each figure
    is the command's own process."""
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "hyperfine.json"
        cmd = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
               "--export-json", str(export)]
        for label, argv in commands.items():
            cmd += ["--command-name", label, shlex.join(argv)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"hyperfine failed (exit {p.returncode}):\n{p.stderr}")
        return {r["command"]: r for r in json.loads(export.read_text())["results"]}


def run_metadata(bin_dir: Path, packages: tuple[str, ...], binaries: dict[str, Path]) -> dict:
    """Where and on what the figures were taken: date, commit, kernel, CPU, tool and package
    versions, and the hash of every binary measured, which pins the build the figures belong to."""

    def cmd_out(*argv: str) -> str | None:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    cpu = None
    try:
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    repo = Path(__file__).resolve().parent.parent
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": cmd_out("git", "-C", str(repo), "rev-parse", "HEAD"),
        "kernel": platform.release(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "euid": os.geteuid(),
        "hyperfine": cmd_out("hyperfine", "--version"),
        "bin_dir": str(bin_dir),
        "debian_packages": {pkg: cmd_out("dpkg-query", "-W", "-f", "${Version}", pkg) for pkg in packages},
        "sha256": {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in binaries.items()},
    }

