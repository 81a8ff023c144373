#!/usr/bin/env python3
"""Benchmark podkit-init side by side with tini, tini-static, dumb-init and catatonit.

Run from anywhere (it finds the repository from its own location):

    python3 bench/init.py            # what `make bench` runs
    python3 bench/init.py --help     # run counts, orphan count, JSON path

It measures, for every init, in one run on the same machine:

  1. start-up overhead: `INIT -- /bin/true` against bare `/bin/true` (hyperfine);
  2. reaping: wall time for the init, as PID 1 of a fresh PID namespace, to reap
     10,000 orphans handed to it by podkit-testhelper;
  3. binary size and linkage;
  4. resident memory (VmRSS, VmHWM, RssAnon) of the init as PID 1.

It prints figures and writes them to bench/results/init-latest.json. It never
passes or fails on a figure: it exits non-zero only when a tool or binary is
missing or a command errors in a way that stops the whole run. An init that
cannot run in some mode gets the reason printed in place of its number.

Python 3.11, standard library only. Needs root (or unprivileged user
namespaces, used as a fallback) for the PID-namespace measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import hyperfine, run_metadata, hyperfine_raw, info, ms, ratio, shared_libs, short_reason, table, stop_if_missing

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = REPO / "target" / "x86_64-unknown-linux-musl" / "release"
RESULTS = REPO / "bench" / "results" / "init-latest.json"
BASELINE = "podkit-init"  # every "vs" column is relative to this row

# A hang guard, not an assertion: a run that takes this long is reported as
# "did not finish" so one broken init cannot stall `make bench` forever.
HANG_GUARD_S = 60.0


@dataclass(frozen=True)
class Init:
    name: str
    path: Path

    def argv(self, *cmd: str) -> list[str]:
        # All five accept `--` to end their own options (tini, dumb-init and
        # catatonit parse with getopt), so one calling convention fits all.
        return [str(self.path), "--", *cmd]


# --------------------------------------------------------------------------
# Output helpers


# --------------------------------------------------------------------------
# Pre-flight: fail early, with the fix, instead of half-way through the run.


def preflight(bin_dir: Path) -> tuple[list[Init], Path]:
    problems: list[str] = []

    tools = {
        "hyperfine": "apt-get install -y hyperfine",
        "unshare": "apt-get install -y util-linux",
        "file": "apt-get install -y file",
    }
    for tool, fix in tools.items():
        if shutil.which(tool) is None:
            problems.append(f"missing tool `{tool}`: {fix}")

    podkit_init = bin_dir / "podkit-init"
    helper = bin_dir / "podkit-testhelper"
    for p in (podkit_init, helper):
        if not os.access(p, os.X_OK):
            problems.append(
                f"missing {p}: build it with "
                "`cargo build --release --target x86_64-unknown-linux-musl --workspace`, "
                "or point PODKIT_BIN_DIR at a directory that has it"
            )

    debian = [
        Init("tini", Path("/usr/bin/tini")),
        Init("tini-static", Path("/usr/bin/tini-static")),
        Init("dumb-init", Path("/usr/bin/dumb-init")),
        Init("catatonit", Path("/usr/bin/catatonit")),
    ]
    for init in debian:
        if not os.access(init.path, os.X_OK):
            problems.append(f"missing {init.path}: apt-get install -y tini dumb-init catatonit")

    stop_if_missing("init.py", problems)

    return [Init(BASELINE, podkit_init), *debian], helper


def unshare_prefix() -> list[str]:
    """The command that makes the init PID 1 of a fresh PID namespace.

    --mount-proc gives the namespace its own /proc, which the helper's
    wait-reaped polls. --kill-child ties the namespace's life to unshare, so
    killing unshare (on a hang) also kills the init and everything under it.
    Without root, a user namespace supplies the privilege unshare needs.
    """
    base = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        base.insert(1, "--map-root-user")
    return base


# --------------------------------------------------------------------------
# 1. Start-up overhead


def bench_startup(inits: list[Init], runs: int, warmup: int) -> dict:
    true = shutil.which("true", path="/bin:/usr/bin") or "/bin/true"

    # Probe each init once first: hyperfine aborts the whole batch on one
    # failing command, and we want the init's own words when it refuses. The
    # probe runs echo rather than true so that an init which exits 0 without
    # running its command (a stub, a parse bug) is caught, not timed as "fast".
    runnable: list[Init] = []
    refused: dict[str, str] = {}
    marker = "podkit-bench-probe"
    for init in inits:
        try:
            p = subprocess.run(init.argv("/bin/echo", marker), capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            refused[init.name] = "did not exit within 10 s"
            continue
        if p.returncode != 0:
            refused[init.name] = f"exit {p.returncode}: {short_reason(p.stderr)}"
        elif marker not in p.stdout:
            refused[init.name] = "exited 0 without running its command"
        else:
            runnable.append(init)

    commands = {"/bin/true (bare)": [true]}
    commands.update({i.name: i.argv(true) for i in runnable})

    info(f"[1/4] start-up: hyperfine, {warmup} warm-up + {runs} runs x {len(commands)} commands")
    by_name = hyperfine(commands, runs, warmup)
    bare = by_name["/bin/true (bare)"]["mean"]
    base = by_name.get(BASELINE, {}).get("mean")

    t = by_name["/bin/true (bare)"]
    rows = [["/bin/true (bare)", ms(bare), ms(t["stddev"]), ms(t["median"]), "1.00x", "-", "-"]]
    raw: dict[str, dict] = {"/bin/true (bare)": hyperfine_raw(by_name["/bin/true (bare)"])}
    for init in inits:
        if init.name in refused:
            rows.append([init.name, f"not measured: {refused[init.name]}"])
            raw[init.name] = {"error": refused[init.name]}
            continue
        r = by_name[init.name]
        rows.append([
            init.name, ms(r["mean"]), ms(r["stddev"]), ms(r["median"]), ratio(r["mean"], bare),
            f"{(r['mean'] - bare) * 1e3:+.3f} ms", ratio(r["mean"], base),
        ])
        raw[init.name] = hyperfine_raw(r)

    table(
        f"1. Start-up: `INIT -- /bin/true`, init as a plain process (not PID 1), {runs} runs",
        ["command", "mean", "stddev", "median", "vs true", "overhead", f"vs {BASELINE}"],
        rows,
        ["overhead = mean - bare /bin/true mean: the cost the init adds to every container start;",
         "ratios use the mean. On a small VM, gaps under ~0.2 ms between inits are within run-to-run noise:",
         "compare the median column too before reading much into them."],
    )
    return {"runs": runs, "warmup": warmup, "results": raw}


# --------------------------------------------------------------------------
# 2. Reaping orphans as PID 1


def bench_reaping(inits: list[Init], helper: Path, orphans: int, runs: int) -> dict:
    info(f"[2/4] reaping: {orphans} orphans, 1 warm-up + {runs} runs per init, as PID 1")

    def one_run(init: Init) -> tuple[tuple[float, float] | None, str | None]:
        """One run: (total wall time, drain time) or (None, reason)."""
        argv = unshare_prefix() + init.argv(str(helper), "orphans", str(orphans), "then", "wait-reaped")
        marks: dict[str, float] = {}
        timed_out = threading.Event()
        # stderr goes to a file, not a pipe: nobody reads it until the end, and a
        # chatty init must not block on a full pipe while we read stdout.
        with tempfile.TemporaryFile(mode="w+") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
            guard = threading.Timer(HANG_GUARD_S, lambda: (timed_out.set(), proc.kill()))
            guard.start()
            out = []
            # Timestamp each line as it arrives: "orphans N" marks the end of
            # the fork storm, "reaped" the moment the namespace is clean.
            for line in proc.stdout:
                out.append(line)
                if line.split():
                    marks.setdefault(line.split()[0], time.perf_counter())
            proc.wait()
            total = time.perf_counter() - start
            guard.cancel()
            err.seek(0)
            stderr = err.read()
        if timed_out.is_set():
            return None, f"did not finish within {HANG_GUARD_S:.0f} s (not reaping?)"
        if proc.returncode != 0:
            return None, f"exit {proc.returncode}: {short_reason(stderr or ''.join(out))}"
        # The helper prints "reaped" only once /proc is empty of everything
        # but PID 1 and itself; without it the time would mean nothing.
        if "reaped" not in marks or "orphans" not in marks:
            return None, f"helper never printed 'orphans N' and 'reaped': {short_reason(''.join(out) + stderr)}"
        return (total, marks["reaped"] - marks["orphans"]), None

    totals: dict[str, list[float]] = {i.name: [] for i in inits}
    drains: dict[str, list[float]] = {i.name: [] for i in inits}
    errors: dict[str, str] = {}

    # Round-robin over the inits rather than all runs of one then the next, so
    # slow drift on the machine (thermal, background jobs) spreads evenly.
    for round_no in range(runs + 1):
        for init in inits:
            if init.name in errors:
                continue
            t, err = one_run(init)
            if err:
                errors[init.name] = err
            elif round_no > 0:  # round 0 is the warm-up (page cache, first fork)
                totals[init.name].append(t[0])
                drains[init.name].append(t[1])

    med_total = {n: statistics.median(ts) for n, ts in totals.items() if ts and n not in errors}
    med_drain = {n: statistics.median(ts) for n, ts in drains.items() if ts and n not in errors}
    rows = []
    for init in inits:
        if init.name in errors:
            rows.append([init.name, f"not measured: {errors[init.name]}"])
            continue
        n = init.name
        rows.append([
            n, ms(med_total[n], 1), ms(min(totals[n]), 1), ms(max(totals[n]), 1),
            ratio(med_total[n], med_total.get(BASELINE)),
            ms(med_drain[n], 1), ratio(med_drain[n], med_drain.get(BASELINE)),
        ])

    table(
        f"2. Reaping {orphans:,} orphans as PID 1 of a new PID namespace, median of {runs} runs",
        ["init", "total", "min", "max", f"vs {BASELINE}", "drain", f"vs {BASELINE}"],
        rows,
        ["total = wall time of `unshare ... INIT -- podkit-testhelper orphans N then wait-reaped`; it includes",
         "the helper forking N children, the same for every init, so its ratios understate the gap in reaping.",
         "drain = from the helper's `orphans N` line (all orphans handed over) to its `reaped` line: the backlog",
         "the init still had to reap once the fork storm ended, plus the helper's /proc polling."],
    )
    return {
        "orphans": orphans,
        "runs": runs,
        "results": {
            i.name: ({"error": errors[i.name]} if i.name in errors else {
                "median_total": med_total[i.name], "median_drain": med_drain[i.name],
                "totals": totals[i.name], "drains": drains[i.name],
            })
            for i in inits
        },
    }


# --------------------------------------------------------------------------
# 3. Size and linkage


def bench_size(inits: list[Init]) -> dict:
    info("[3/4] size and linkage")
    raw: dict[str, dict] = {}
    for init in inits:
        size = init.path.stat().st_size
        desc = subprocess.run(["file", "-bL", str(init.path)], capture_output=True, text=True, check=True).stdout
        if "static-pie" in desc:
            linkage = "static-pie"
        elif "statically linked" in desc:
            linkage = "static"
        elif "dynamically linked" in desc:
            linkage = "dynamic"
        else:
            linkage = "unknown"
        raw[init.name] = {"bytes": size, "linkage": linkage, "file": desc.strip(),
                          "libs": shared_libs(init.path) if linkage == "dynamic" else {}}

    base = raw[BASELINE]["bytes"]
    rows = []
    notes = []
    for init in inits:
        r = raw[init.name]
        rows.append([init.name, f"{r['bytes']:,}", f"{r['bytes'] / 1024:.1f}", r["linkage"], ratio(r["bytes"], base)])
        if r["libs"]:
            libs = ", ".join(f"{Path(p).name} {s / 1024:.0f} KB" for p, s in r["libs"].items())
            notes.append(f"{init.name} is dynamic: an image also needs {libs}")

    table("3. Binary size", ["init", "bytes", "KB", "linkage", f"vs {BASELINE}"], rows, notes)
    return raw


# --------------------------------------------------------------------------
# 4. Resident memory as PID 1


def bench_memory(inits: list[Init], helper: Path, samples: int) -> dict:
    info(f"[4/4] memory: {samples} sample(s) per init, as PID 1")
    results: dict[str, dict] = {}
    for init in inits:
        readings, err = [], None
        for _ in range(samples):
            reading, err = _sample_memory(init, helper)
            if err:
                break
            readings.append(reading)
        if err:
            results[init.name] = {"error": err}
        else:
            # Median per field damps a sample taken at an odd moment.
            results[init.name] = {k: statistics.median(r[k] for r in readings) for k in readings[0]}
            results[init.name]["samples"] = readings

    base = results[BASELINE].get("VmRSS")
    rows = []
    for init in inits:
        r = results[init.name]
        if "error" in r:
            rows.append([init.name, f"not measured: {r['error']}"])
            continue
        rows.append([init.name, f"{r['VmRSS']:.0f}", f"{r['VmHWM']:.0f}", f"{r['RssAnon']:.0f}", ratio(r["VmRSS"], base)])

    table(
        f"4. Resident memory of the init as PID 1, KB (median of {samples})",
        ["init", "VmRSS", "VmHWM", "RssAnon", f"vs {BASELINE} (RSS)"],
        rows,
        ["read from /proc/PID/status 0.5 s after the init started `podkit-testhelper sleep 2`;",
         "RssAnon is the part no other process shares (VmRSS also counts shared file pages such as libc)."],
    )
    return {"samples": samples, "results": results}


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        pass
    # Kernels without CONFIG_PROC_CHILDREN: find them by parent PID instead.
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The field after the ")" that closes the command name is the state, then the PPID.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    return kids


def _sample_memory(init: Init, helper: Path) -> tuple[dict | None, str | None]:
    argv = unshare_prefix() + init.argv(str(helper), "sleep", "2")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    init_pid = None
    try:
        # unshare forks once, and that child execs the init: wait until the
        # child's executable is the init, not the pre-exec copy of unshare.
        want = os.path.realpath(init.path)
        deadline = time.monotonic() + 5
        while init_pid is None and time.monotonic() < deadline and proc.poll() is None:
            for child in _children(proc.pid):
                try:
                    if os.readlink(f"/proc/{child}/exe") == want:
                        init_pid = child
                except OSError:
                    pass
            time.sleep(0.005)
        if init_pid is None:
            if proc.poll() is None:
                proc.kill()
                _, stderr = proc.communicate()
                return None, f"init did not start within 5 s: {short_reason(stderr)}"
            _, stderr = proc.communicate()
            return None, f"exited (exit {proc.returncode}) before it could be read: {short_reason(stderr)}"

        time.sleep(0.5)  # let the init settle into its steady state (child spawned, waiting)
        status = Path(f"/proc/{init_pid}/status").read_text()
        fields = dict(re.findall(r"^(VmRSS|VmHWM|RssAnon):\s+(\d+) kB", status, re.M))
        if len(fields) != 3:
            return None, "init exited before it could be read"
        return {k: int(v) for k, v in fields.items()}, None
    except (FileNotFoundError, ProcessLookupError):  # /proc/PID vanished under us
        return None, "init exited before it could be read"
    finally:
        # Killing PID 1 of the namespace kills everything in it; unshare then
        # exits. Only processes this script started are touched.
        if init_pid is not None:
            try:
                os.kill(init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()  # --kill-child takes the namespace down with it
            proc.wait()


# --------------------------------------------------------------------------


def metadata(inits: list[Init], bin_dir: Path) -> dict:
    return run_metadata(bin_dir, ("tini", "dumb-init", "catatonit"), {i.name: i.path for i in inits})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--startup-runs", type=int, default=300, help="hyperfine runs per command (default 300)")
    ap.add_argument("--startup-warmup", type=int, default=20, help="hyperfine warm-up runs (default 20)")
    ap.add_argument("--orphans", type=int, default=10_000, help="orphans to reap per run (default 10000)")
    ap.add_argument("--reap-runs", type=int, default=5, help="measured reaping runs per init (default 5)")
    ap.add_argument("--mem-samples", type=int, default=3, help="memory samples per init (default 3)")
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"where to write raw figures (default {RESULTS.relative_to(REPO)})")
    args = ap.parse_args()

    bin_dir = Path(os.environ.get("PODKIT_BIN_DIR", DEFAULT_BIN_DIR)).resolve()
    inits, helper = preflight(bin_dir)

    started = time.monotonic()
    print(f"# podkit-init vs tini / dumb-init / catatonit  ({platform.release()}, {os.cpu_count()} CPUs)")
    print(f"# podkit binaries from {bin_dir}")
    if os.geteuid() != 0:
        print("# not root: PID-namespace runs use an unprivileged user namespace (unshare --map-root-user)")

    report = {"meta": metadata(inits, bin_dir)}
    report["startup"] = bench_startup(inits, args.startup_runs, args.startup_warmup)
    report["reaping"] = bench_reaping(inits, helper, args.orphans, args.reap_runs)
    report["size"] = bench_size(inits)
    report["memory"] = bench_memory(inits, helper, args.mem_samples)
    report["meta"]["duration_s"] = round(time.monotonic() - started, 1)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    try:
        shown = args.json.resolve().relative_to(REPO)
    except ValueError:
        shown = args.json
    print(f"\nraw figures: {shown}  (took {report['meta']['duration_s']} s)")

    # One init failing is a figure (its reason is printed); every init failing
    # in a section means the helper or the machine is broken, which is an error.
    empty = [name for name in ("startup", "reaping", "memory")
             if all("error" in r for n, r in report[name]["results"].items() if n != "/bin/true (bare)")]
    if empty:
        sys.exit(f"bench/init.py: no init could be measured in: {', '.join(empty)} "
                 "(is podkit-testhelper built and working? are PID namespaces allowed here?)")


if __name__ == "__main__":
    main()
