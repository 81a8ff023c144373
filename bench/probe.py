#!/usr/bin/env python3
"""Benchmark podkit-probe side by side with curl, wget and nc.

Run from anywhere (it finds the repository from its own location):

    python3 bench/probe.py           # what `make bench` runs, after bench/init.py
    python3 bench/probe.py --help    # run counts, JSON path

The kubelet runs an exec probe every few seconds in every pod, so what a probe
costs is mostly the cost of starting a process. Against one local HTTP server
started by this script, in one run on the same machine, it measures:

  1. wall time of one HTTP probe: `podkit-probe http URL` vs
     `curl -fsS -o /dev/null URL` vs `wget -q -O /dev/null URL` (hyperfine);
  2. wall time of one TCP probe: `podkit-probe tcp 127.0.0.1:PORT` vs
     `nc -z 127.0.0.1 PORT` (same hyperfine run);
  3. peak memory (max RSS) of each of those commands (GNU time's %M);
  4. binary size and linkage, with the shared libraries a dynamic client would
     need in an image.

It prints figures, checks them against podkit-probe's goals (HTTP probe at
most half of curl's time; binary at most 3 MB), and writes everything to
bench/results/probe-latest.json. It never fails on a figure: it exits non-zero
only when a tool or binary is missing or podkit-probe itself cannot be measured.

Python 3.11, standard library only. Needs no root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import select
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from common import hyperfine, run_metadata, hyperfine_raw, info, ms, ratio, shared_libs, short_reason, table, stop_if_missing

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = REPO / "target" / "x86_64-unknown-linux-musl" / "release"
RESULTS = REPO / "bench" / "results" / "probe-latest.json"
BASELINE = "podkit-probe"  # every "vs" column is relative to podkit-probe of the same kind

GNU_TIME = "/usr/bin/time"  # not the shell keyword `time`: GNU time has -f %M
SPAWN_FLOOR = "/bin/true (spawn floor)"

# podkit-probe's goals (the issue): at most half of curl's time for one HTTP
# probe, and a binary of at most 3 MB (decimal, like the Makefile's budgets).
TIME_GOAL_VS_CURL = 0.5
SIZE_GOAL_BYTES = 3_000_000

# Each command gets this long for one run of the sanity checks, so a client
# that hangs is reported instead of stalling `make bench`.
CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Client:
    label: str  # row name
    kind: str  # "http" or "tcp": which table, and which podkit-probe row it is compared with
    binary: Path  # for size, linkage and hashes
    argv: tuple[str, ...]  # against the live server
    refused_argv: tuple[str, ...]  # the same probe against a port nobody listens on

    @property
    def is_podkit(self) -> bool:
        return self.label.startswith(BASELINE)


# --------------------------------------------------------------------------
# Output helpers (the same conventions as bench/init.py)


# --------------------------------------------------------------------------
# Pre-flight: fail early, with the fix, instead of half-way through the run.


def preflight(bin_dir: Path) -> tuple[Path, Path]:
    problems: list[str] = []
    packages: list[str] = []

    def need(ok: bool, what: str, package: str) -> None:
        if not ok:
            problems.append(f"{what}: apt-get install -y {package}")
            packages.append(package)

    need(shutil.which("curl") is not None, "missing tool `curl`", "curl")
    need(shutil.which("wget") is not None, "missing tool `wget`", "wget")
    need(shutil.which("hyperfine") is not None, "missing tool `hyperfine`", "hyperfine")
    need(shutil.which("file") is not None, "missing tool `file`", "file")
    # The OpenBSD netcat is the one whose `-z` only connects and closes;
    # netcat-traditional and busybox nc take other flags.
    nc = shutil.which("nc")
    if nc is None:
        need(False, "missing tool `nc`", "netcat-openbsd")
    else:
        usage = subprocess.run([nc, "-h"], capture_output=True, text=True)
        need("OpenBSD netcat" in usage.stdout + usage.stderr, f"`{nc}` is not OpenBSD netcat", "netcat-openbsd")
    # GNU time, at its own path: the shell's `time` keyword cannot report max RSS.
    gnu_time = False
    if os.access(GNU_TIME, os.X_OK):
        version = subprocess.run([GNU_TIME, "--version"], capture_output=True, text=True)
        gnu_time = "GNU" in version.stdout + version.stderr
    need(gnu_time, f"missing GNU time at {GNU_TIME}", "time")

    probe = bin_dir / "podkit-probe"
    helper = bin_dir / "podkit-testhelper"
    for p in (probe, helper):
        if not os.access(p, os.X_OK):
            problems.append(
                f"missing {p}: build it with `make build` "
                "(or `cargo build --release --target x86_64-unknown-linux-musl --workspace --bins`), "
                "or point PODKIT_BIN_DIR at a directory that has it"
            )

    stop_if_missing("probe.py", problems, packages)
    return probe, helper


# --------------------------------------------------------------------------
# The local server


class Server:
    """`podkit-testhelper serve-http 127.0.0.1:0`: a thread per connection,
    `200 OK` with body `ok\\n` and `Connection: close` for every request.

    The same server answers every client, HTTP and TCP alike (a TCP probe
    connects and closes, which the helper takes as a request-less connection).
    Only the process this class started is ever killed.
    """

    def __init__(self, helper: Path):
        self.argv = [str(helper), "serve-http", "127.0.0.1:0"]
        self._err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._err, text=True)
        self.addr = self._await_listening()
        self.port = int(self.addr.rsplit(":", 1)[1])

    def _await_listening(self) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], 5.0)
        line = self.proc.stdout.readline().strip() if ready else ""
        m = re.fullmatch(r"listening (\S+:\d+)", line)
        if not m:
            self.stop()
            self._err.seek(0)
            sys.exit(f"bench/probe.py: the server did not start ({shlex.join(self.argv)}): "
                     f"{line or short_reason(self._err.read())}")
        return m.group(1)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self._err.close()


def refused_port() -> tuple[socket.socket, int]:
    """A port on 127.0.0.1 that refuses connections: bound, so nothing else can
    take it during the run, but never listening. The caller keeps the socket open."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def clients(probe: Path, server: Server, closed_port: int) -> list[Client]:
    url = f"http://{server.addr}/healthz"
    closed_url = f"http://127.0.0.1:{closed_port}/healthz"
    curl, wget, nc = (Path(shutil.which(t)) for t in ("curl", "wget", "nc"))

    def http(label: str, binary: Path, *args: str) -> Client:
        return Client(label, "http", binary, (str(binary), *args, url), (str(binary), *args, closed_url))

    return [
        http("podkit-probe http", probe, "http"),
        http("curl", curl, "-fsS", "-o", "/dev/null"),
        http("wget", wget, "-q", "-O", "/dev/null"),
        Client("podkit-probe tcp", "tcp", probe,
               (str(probe), "tcp", f"127.0.0.1:{server.port}"), (str(probe), "tcp", f"127.0.0.1:{closed_port}")),
        Client("nc -z", "tcp", nc,
               (str(nc), "-z", "127.0.0.1", str(server.port)), (str(nc), "-z", "127.0.0.1", str(closed_port))),
    ]


def sanity_check(cs: list[Client]) -> dict[str, str]:
    """Run each probe once against the server (must exit 0) and once against a
    refused port (must not): a client that exits 0 without probing would
    otherwise be timed as fast. Returns the reason for each one that fails."""
    refused = {}
    for c in cs:
        try:
            good = subprocess.run(c.argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
            bad = subprocess.run(c.refused_argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            refused[c.label] = f"did not exit within {CHECK_TIMEOUT_S:.0f} s"
            continue
        if good.returncode != 0:
            refused[c.label] = f"exit {good.returncode} against the server: {short_reason(good.stderr + good.stdout)}"
        elif bad.returncode == 0:
            refused[c.label] = "exited 0 against a closed port: it does not really probe"
    return refused


# --------------------------------------------------------------------------
# 1 + 2. Wall time (hyperfine)


def bench_time(cs: list[Client], refused: dict[str, str], runs: int, warmup: int) -> dict:
    true = shutil.which("true", path="/bin:/usr/bin") or "/bin/true"
    commands = {SPAWN_FLOOR: [true]}
    commands.update({c.label: list(c.argv) for c in cs if c.label not in refused})

    info(f"[1-2/4] wall time: hyperfine, {warmup} warm-up + {runs} runs x {len(commands)} commands")
    by_name = hyperfine(commands, runs, warmup)

    floor = by_name[SPAWN_FLOOR]
    raw: dict[str, dict] = {SPAWN_FLOOR: hyperfine_raw(floor)}
    for kind, number, what in (("http", 1, "HTTP probe: one GET of /healthz"),
                               ("tcp", 2, "TCP probe: one connect to 127.0.0.1:PORT")):
        base = by_name.get(f"{BASELINE} {kind}", {})
        rows = [[SPAWN_FLOOR, ms(floor["mean"]), ms(floor["stddev"]), ms(floor["median"]), ms(floor["min"]),
                 "-", ratio(floor["mean"], base.get("mean"))]]
        for c in cs:
            if c.kind != kind:
                continue
            if c.label in refused:
                rows.append([c.label, f"not measured: {refused[c.label]}"])
                raw[c.label] = {"error": refused[c.label], "argv": list(c.argv)}
                continue
            r = by_name[c.label]
            rows.append([c.label, ms(r["mean"]), ms(r["stddev"]), ms(r["median"]), ms(r["min"]),
                         f"{(r['mean'] - floor['mean']) * 1e3:+.3f} ms", ratio(r["mean"], base.get("mean"))])
            raw[c.label] = {"argv": list(c.argv), **hyperfine_raw(r)}
        table(
            f"{number}. {what}, whole process, {runs} runs",
            ["command", "mean", "stddev", "median", "min", "over true", f"vs {BASELINE} {kind}"],
            rows,
            [f"{c.label}: {shlex.join(_short_argv(c.argv))}" for c in cs if c.kind == kind]
            + (["over true = mean - the mean of bare /bin/true: what the probe costs beyond starting any process;",
                "every figure includes the local server's answer, the same for every client. Ratios use the mean;",
                "on a small VM compare the median column too before reading much into gaps under ~0.3 ms."]
               if kind == "http" else ["columns as in 1; nc and podkit-probe connect and close, sending nothing."]),
        )
    return {"runs": runs, "warmup": warmup, "results": raw}


def _short_argv(argv: tuple[str, ...]) -> list[str]:
    # Show `podkit-probe` rather than its full target/... path in the notes.
    return [Path(argv[0]).name, *argv[1:]]


# --------------------------------------------------------------------------
# 3. Peak memory (GNU time %M)


def bench_memory(cs: list[Client], refused: dict[str, str], runs: int) -> dict:
    info(f"[3/4] peak memory: GNU time %M, 1 warm-up + {runs} runs per command")
    samples: dict[str, list[int]] = {c.label: [] for c in cs if c.label not in refused}
    errors: dict[str, str] = dict(refused)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "maxrss"
        # Round-robin over the commands rather than all runs of one then the
        # next, so slow drift on the machine spreads evenly.
        for round_no in range(runs + 1):
            for c in cs:
                if c.label in errors:
                    continue
                try:
                    p = subprocess.run([GNU_TIME, "-f", "%M", "-o", str(out), *c.argv],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                       timeout=CHECK_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    errors[c.label] = f"did not exit within {CHECK_TIMEOUT_S:.0f} s"
                    continue
                if p.returncode != 0:
                    errors[c.label] = f"exit {p.returncode}: {short_reason(p.stderr)}"
                    continue
                kb = int(out.read_text().split()[-1])  # the last line is %M; earlier ones would be time's notes
                if round_no > 0:  # round 0 is the warm-up (page cache)
                    samples[c.label].append(kb)

    med = {n: statistics.median(s) for n, s in samples.items() if s and n not in errors}
    rows = []
    for c in cs:
        if c.label in errors:
            rows.append([c.label, f"not measured: {errors[c.label]}"])
            continue
        s = samples[c.label]
        rows.append([c.label, f"{med[c.label]:.0f}", f"{min(s)}", f"{max(s)}",
                     ratio(med[c.label], med.get(f"{BASELINE} {c.kind}"))])
    table(
        f"3. Peak memory: max RSS of the whole process, KB (median of {runs} runs)",
        ["command", "max RSS", "min", "max", f"vs {BASELINE} (same kind)"],
        rows,
        ["`/usr/bin/time -f %M COMMAND` (GNU time: the child's ru_maxrss); the same commands as in 1 and 2;",
         "it counts the pages of the shared libraries a dynamic client maps (4 lists them)."],
    )
    return {"runs": runs, "results": {
        c.label: ({"error": errors[c.label]} if c.label in errors
                  else {"median_kb": med[c.label], "samples_kb": samples[c.label]})
        for c in cs
    }}


# --------------------------------------------------------------------------
# 4. Size and linkage


def bench_size(cs: list[Client]) -> dict:
    info("[4/4] size and linkage")
    raw: dict[str, dict] = {}
    names: dict[str, Path] = {}
    for c in cs:  # one row per binary: podkit-probe serves both kinds
        names.setdefault(BASELINE if c.is_podkit else c.binary.name, c.binary)
    for name, path in names.items():
        size = path.stat().st_size
        desc = subprocess.run(["file", "-bL", str(path)], capture_output=True, text=True, check=True).stdout
        if "static-pie" in desc:
            linkage = "static-pie"
        elif "statically linked" in desc:
            linkage = "static"
        elif "dynamically linked" in desc:
            linkage = "dynamic"
        else:
            linkage = "unknown"
        libs = shared_libs(path) if linkage == "dynamic" else {}
        raw[name] = {"path": str(path), "bytes": size, "linkage": linkage, "file": desc.strip(), "libs": libs,
                     "with_libs_bytes": size + sum(libs.values())}

    base = raw[BASELINE]
    rows, notes = [], []
    for name, r in raw.items():
        rows.append([name, f"{r['bytes']:,}", f"{r['bytes'] / 1024:.1f}", r["linkage"],
                     ratio(r["bytes"], base["bytes"]), str(len(r["libs"])), f"{r['with_libs_bytes'] / 1024:.1f}",
                     ratio(r["with_libs_bytes"], base["with_libs_bytes"])])
        if r["libs"]:
            # Wrapped between libraries, never inside "NAME SIZE KB": curl alone needs ~30.
            libs = [f"{Path(p).name}\0{s / 1024:.0f}\0KB" for p, s in r["libs"].items()]
            wrapped = textwrap.wrap(f"{name} is dynamic: an image also needs " + ", ".join(libs), 100,
                                    break_on_hyphens=False)
            notes += [w.replace("\0", " ") if i == 0 else "  " + w.replace("\0", " ") for i, w in enumerate(wrapped)]
    table("4. Binary size",
          ["binary", "bytes", "KB", "linkage", f"vs {BASELINE}", "shared libs", "KB with libs", f"vs {BASELINE}"],
          rows, notes + ["KB with libs = the binary plus every shared library `ldd` lists (loader included, vDSO not):",
                         "what a scratch or distroless image must carry to run it."])
    return raw


# --------------------------------------------------------------------------
# Goals


def goals(report: dict) -> dict:
    """Check podkit-probe against its goals, from the figures of this run."""
    t = report["time"]["results"]
    probe, curl = t.get(f"{BASELINE} http", {}), t.get("curl", {})
    time_goal: dict = {"goal": f"{BASELINE} http mean <= {TIME_GOAL_VS_CURL} x curl mean"}
    if "mean" in probe and "mean" in curl:
        time_goal.update(
            ratio_mean=probe["mean"] / curl["mean"], ratio_median=probe["median"] / curl["median"],
            met=probe["mean"] <= TIME_GOAL_VS_CURL * curl["mean"],
            met_on_median=probe["median"] <= TIME_GOAL_VS_CURL * curl["median"],
        )
    else:
        time_goal.update(met=None, reason="podkit-probe http or curl was not measured")

    size = report["size"][BASELINE]["bytes"]
    size_goal = {"goal": f"{BASELINE} <= {SIZE_GOAL_BYTES} bytes", "bytes": size, "met": size <= SIZE_GOAL_BYTES}

    def verdict(met: bool | None) -> str:
        return "n/a" if met is None else ("MET" if met else "NOT MET")

    lines = []
    if time_goal["met"] is None:
        lines.append(f"time: n/a ({time_goal['reason']})")
    else:
        median_note = "" if time_goal["met_on_median"] == time_goal["met"] else \
            f"; but on the median {verdict(time_goal['met_on_median'])}"
        lines.append(f"time: {verdict(time_goal['met'])}: {BASELINE} http takes "
                     f"{time_goal['ratio_mean']:.2f}x curl's mean time ({time_goal['ratio_median']:.2f}x its median), "
                     f"goal <= {TIME_GOAL_VS_CURL:.2f}x{median_note}")
    curl_size = report["size"].get("curl")
    curl_part = (f"; curl is {curl_size['bytes']:,} bytes, {curl_size['with_libs_bytes']:,} with its shared libraries"
                 if curl_size else "")
    lines.append(f"size: {verdict(size_goal['met'])}: {BASELINE} is {size:,} bytes, "
                 f"goal <= {SIZE_GOAL_BYTES:,}{curl_part}")
    all_met = time_goal["met"] is True and size_goal["met"]
    print(f"\n## Goals: {'all met' if all_met else 'NOT all met'}\n")
    for l in lines:
        print(f"  {l}")
    return {"time": time_goal, "size": size_goal, "all_met": all_met}


# --------------------------------------------------------------------------


def metadata(cs: list[Client], bin_dir: Path, helper: Path, server: Server) -> dict:
    binaries = {BASELINE: cs[0].binary, "podkit-testhelper": helper}
    binaries.update({c.binary.name: c.binary for c in cs if not c.is_podkit})
    packages = ("curl", "wget", "netcat-openbsd", "hyperfine", "time")
    return {
        **run_metadata(bin_dir, packages, binaries),
        "server": {"argv": server.argv, "addr": server.addr,
                   "what": "thread per connection, 200 OK, body 'ok\\n', Connection: close"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=300, help="hyperfine runs per command (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="hyperfine warm-up runs (default 20)")
    ap.add_argument("--mem-runs", type=int, default=15, help="GNU time runs per command for peak memory (default 15)")
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"where to write raw figures (default {RESULTS.relative_to(REPO)})")
    args = ap.parse_args()

    bin_dir = Path(os.environ.get("PODKIT_BIN_DIR", DEFAULT_BIN_DIR)).resolve()
    probe, helper = preflight(bin_dir)

    started = time.monotonic()
    closed_sock, closed_port = refused_port()
    server = Server(helper)
    try:
        cs = clients(probe, server, closed_port)
        print(f"# podkit-probe vs curl / wget / nc  ({platform.release()}, {os.cpu_count()} CPUs)")
        print(f"# podkit binaries from {bin_dir}")
        print(f"# server: podkit-testhelper serve-http on {server.addr} "
              "(thread per connection, 200 OK, body `ok\\n`, Connection: close), same for every client")

        refused = sanity_check(cs)
        report = {"meta": metadata(cs, bin_dir, helper, server)}
        report["time"] = bench_time(cs, refused, args.runs, args.warmup)
        report["memory"] = bench_memory(cs, refused, args.mem_runs)
        if not server.alive():
            sys.exit("bench/probe.py: the server died during the run; the figures are not trustworthy")
    finally:
        server.stop()
        closed_sock.close()
    report["size"] = bench_size(cs)
    report["goals"] = goals(report)
    report["meta"]["duration_s"] = round(time.monotonic() - started, 1)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    try:
        shown = args.json.resolve().relative_to(REPO)
    except ValueError:
        shown = args.json
    print(f"\nraw figures: {shown}  (took {report['meta']['duration_s']} s)")

    # A peer failing is a figure (its reason is printed); podkit-probe itself
    # failing means the build or the machine is broken, which is an error.
    broken = [c.label for c in cs if c.is_podkit and c.label in refused]
    if broken:
        sys.exit(f"bench/probe.py: could not measure {', '.join(broken)}: {'; '.join(refused[b] for b in broken)}")


if __name__ == "__main__":
    main()
