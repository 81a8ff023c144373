#!/usr/bin/env python3
"""Benchmark podkit-metrics' log input side by side with mtail (Debian's), one after the other
in one run, on the same rules and the same log file: lines per second into counters.

Run from anywhere (it finds the repository from its own location):

    python3 bench/metrics_logs.py           # what `make bench` runs
    python3 bench/metrics_logs.py --help    # lines, runs, JSON path

The rules, written once for each tool (a podkit-metrics rules file and the equivalent mtail
program), are the usual three of a sidecar reading an access log:
  - a counter by method and status code, captured from a combined-format access line;
  - a histogram of the request's latency, captured from the end of the same line;
  - a counter with no labels, of the app's `level=error` lines.
The log (made before the clock starts, in the run's temporary directory) holds N lines: 85%
access lines, 10% `level=info` lines that match nothing, 5% `level=error` lines.

Each tool reads the whole file from its start:
  - mtail: `--logs FILE --progs DIR --one_shot`, which reads the logs to their end, prints its
    metrics and exits; the time is from its start to its exit;
  - podkit-metrics has no one-shot mode: `--log FILE --log-rules FILE --log-from-start`, and the
    time is from its start until its own `podkit_metrics_log_lines_total` reaches N (polling
    /metrics every 5 ms), the same start-to-done span as mtail's.
Each tool runs --runs times, taking turns; the median is shown, with each tool's CPU time
(user + system, all threads). After each run the metrics of both (counters, histogram buckets,
count and sum) are compared; a difference is printed loudly and recorded.

It prints the issue's goal (at least 3x mtail's lines per second on the same rules) as MET /
NOT MET and writes bench/results/metrics-logs-latest.json. It exits non-zero only when a tool or
binary is missing or one of them fails to run.

Python 3.11, standard library only. Needs no root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import info, ratio, run_metadata, stop_if_missing, table

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = REPO / "target" / "x86_64-unknown-linux-musl" / "release"
RESULTS = REPO / "bench" / "results" / "metrics-logs-latest.json"
BASELINE = "podkit-metrics"
GOAL_RATIO = 3.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_GUARD_S = 10.0
# Far above any run's time: a tool that has not finished by then has stopped counting.
RUN_GUARD_S = 600.0
POLL_S = 0.005

BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
ACCESS = r'^\S+ \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) \S+ \S+" (?P<code>\d{3}) '
LATENCY = r'^\S+ \S+ \S+ \[.*" (?P<seconds>\d+\.\d+)$'
ERROR = r' level=error '

RULES = f"""
rules:
  - match: '{ACCESS}'
    metric: http_requests_total
    type: counter
    labels: {{method: '$method', code: '$code'}}
  - match: '{LATENCY}'
    metric: http_request_seconds
    type: histogram
    value: seconds
    buckets: [{", ".join(str(b) for b in BUCKETS)}]
  - match: '{ERROR}'
    metric: app_errors_total
    type: counter
"""

MTAIL_PROGRAM = f"""
counter http_requests_total by method, code
histogram http_request_seconds buckets {", ".join(str(b) for b in BUCKETS)}
counter app_errors_total

/{ACCESS}/ {{
  http_requests_total[$method][$code]++
}}
/{LATENCY}/ {{
  http_request_seconds = $seconds
}}
/{ERROR}/ {{
  app_errors_total++
}}
"""

COMPARED = ("http_requests_total", "http_request_seconds_bucket", "http_request_seconds_count",
            "http_request_seconds_sum", "app_errors_total")


def write_log(path: Path, lines: int) -> int:
    """`lines` lines of an access log with app lines mixed in, the same every run; its size."""
    rnd = random.Random(11)
    methods = ["GET"] * 8 + ["POST", "PUT", "DELETE"]
    codes = ["200"] * 14 + ["201", "204", "301", "304", "400", "401", "404", "500", "502", "503"]
    paths = ["/api/users/{}", "/api/orders/{}", "/api/cart", "/static/app.js", "/healthz", "/search?q={}"]
    agents = ['"Mozilla/5.0 (X11; Linux x86_64)"', '"curl/8.5.0"', '"kube-probe/1.30"']
    with open(path, "w") as out:
        batch = []
        for i in range(lines):
            roll = rnd.random()
            second = i // 5000
            stamp = f"06/Dec/2026:{(second // 3600) % 24:02d}:{(second // 60) % 60:02d}:{second % 60:02d} +0000"
            if roll < 0.85:
                url = rnd.choice(paths).format(rnd.randrange(100_000))
                # At least 1 ms: mtail leaves an observation of 0 out of every bucket (its count and sum
                # have it), which would show as a mismatch that is mtail's, not a difference in the rules.
                latency = max(0.001, rnd.expovariate(1 / 0.08))
                batch.append(f'10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)} - - [{stamp}] '
                             f'"{rnd.choice(methods)} {url} HTTP/1.1" {rnd.choice(codes)} {rnd.randrange(20, 50_000)} '
                             f'"-" {rnd.choice(agents)} {latency:.3f}\n')
            elif roll < 0.95:
                batch.append(f'2026-12-06T06:00:00Z level=info msg="job done" id={i}\n')
            else:
                batch.append(f'2026-12-06T06:00:00Z level=error msg="upstream timeout" id={i}\n')
            if len(batch) >= 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return path.stat().st_size


def samples(text: str) -> dict[tuple, float]:
    """The compared series of a Prometheus text body: (name, sorted labels) -> value; `le`
    normalised to a float so `1` and `1.0` are the same bucket."""
    out = {}
    for m in re.finditer(r"^([a-z_]+)(?:\{([^}]*)\})? (\S+)$", text, re.M):
        name, labels, value = m.groups()
        if name not in COMPARED:
            continue
        pairs = []
        for lm in re.finditer(r'([a-z_]+)="([^"]*)"', labels or ""):
            k, v = lm.groups()
            pairs.append((k, repr(float(v)) if k == "le" else v))
        out[(name, tuple(sorted(pairs)))] = float(value)
    return out


def differences(podkit: dict, mtail: dict) -> list[str]:
    diffs = []
    for key in sorted(set(podkit) | set(mtail)):
        a, b = podkit.get(key), mtail.get(key)
        same = a is not None and b is not None and (a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b)))
        if not same:
            labels = ",".join(f"{k}={v}" for k, v in key[1])
            diffs.append(f"{key[0]}{{{labels}}}: podkit-metrics {a}, mtail {b}")
    return diffs


def scrape(address: tuple[str, int]) -> str:
    with socket.create_connection(address, timeout=30) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks).split(b"\r\n\r\n", 1)[1].decode()


def listening_tcp_ports(pid: int) -> list[int]:
    """TCP ports a process listens on: its socket inodes matched against /proc/net/tcp."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table_file in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table_file).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:
                ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_podkit(binary: Path, log: Path, rules: Path, lines: int, workdir: Path) -> dict:
    """podkit-metrics from its start until its own line counter reaches `lines`."""
    stderr = open(workdir / "podkit.log", "w+")
    start = time.perf_counter()
    proc = subprocess.Popen([str(binary), "--log", str(log), "--log-rules", str(rules), "--log-from-start",
                             "--metrics-addr", "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        address = None
        series = f'podkit_metrics_log_lines_total{{log="{log}"}} '
        count = 0.0
        while True:
            if proc.poll() is not None:
                sys.exit(f"bench/metrics_logs.py: podkit-metrics exited:\n{Path(stderr.name).read_text()}")
            elapsed = time.perf_counter() - start
            if address is None:
                ports = listening_tcp_ports(proc.pid)
                if ports:
                    address = ("127.0.0.1", ports[0])
                elif elapsed > START_GUARD_S:
                    sys.exit(f"bench/metrics_logs.py: podkit-metrics did not listen:\n{Path(stderr.name).read_text()}")
            if address is not None:
                body = scrape(address)
                at = body.find(series)
                if at >= 0:
                    count = float(body[at + len(series):].split("\n", 1)[0])
                if count >= lines:
                    took = time.perf_counter() - start
                    cpu = cpu_seconds(proc.pid)
                    return {"seconds": took, "cpu_s": cpu, "lines": count, "body": body,
                            "rss_kb": int(re.search(r"^VmHWM:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text(),
                                                    re.M).group(1))}
            if elapsed > RUN_GUARD_S:
                sys.exit(f"bench/metrics_logs.py: podkit-metrics counted {count:,.0f} of {lines:,} lines "
                         f"in {RUN_GUARD_S:.0f} s")
            time.sleep(POLL_S)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr.close()


def run_mtail(log: Path, progs: Path) -> dict:
    """mtail --one_shot: reads the log to its end, prints its metrics, exits."""
    start = time.perf_counter()
    proc = subprocess.Popen(["mtail", "--progs", str(progs), "--logs", str(log), "--one_shot",
                             "--one_shot_format", "prometheus", "--emit_prog_label=false",
                             "--address", "127.0.0.1", "--port", "0", "--logtostderr"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=RUN_GUARD_S)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench/metrics_logs.py: mtail failed (exit {proc.returncode}):\n{err[-2000:]}")
    # communicate() reaped it; its CPU is in this process's children's usage.
    return {"seconds": took, "body": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=2_000_000, help="lines in the log (default 2000000)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each tool, taking turns (default 5)")
    ap.add_argument("--json", type=Path, default=RESULTS,
                    help=f"where to write raw figures (default {RESULTS.relative_to(REPO)})")
    args = ap.parse_args()

    bin_dir = Path(os.environ.get("PODKIT_BIN_DIR", DEFAULT_BIN_DIR)).resolve()
    source = bin_dir / BASELINE
    problems, packages = [], []
    if not source.is_file():
        problems.append(f"{source} is missing: build it first (make build)")
    if shutil.which("mtail") is None:
        problems.append("mtail is missing: apt-get install -y mtail")
        packages.append("mtail")
    stop_if_missing("metrics_logs.py", problems, packages)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/metrics_logs.py: terminated"))
    workdir = Path(tempfile.mkdtemp(prefix="podkit-bench-metrics-logs-"))
    try:
        binary = workdir / BASELINE
        shutil.copy2(source, binary)
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        mtail_version = subprocess.run(["mtail", "--version"], capture_output=True, text=True).stdout.split(" git")[0]
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        print(f"# {version} vs {mtail_version}: log lines per second, same rules  ({platform.release()}, "
              f"{os.cpu_count()} cores, {cpu.group(1) if cpu else 'unknown CPU'})")
        print(f"# load average at start: {os.getloadavg()[0]:.2f} (anything else busy on the machine skews every figure)")
        rules = workdir / "rules.yml"
        rules.write_text(RULES)
        progs = workdir / "progs"
        progs.mkdir()
        (progs / "rules.mtail").write_text(MTAIL_PROGRAM)
        log = workdir / "app.log"
        info(f"writing {args.lines:,} lines to {log}")
        size = write_log(log, args.lines)
        info(f"  {size / 1e6:.1f} MB")
        report: dict = {"meta": {**run_metadata(bin_dir, ("mtail",), {BASELINE: binary}),
                                 "version": version, "mtail": mtail_version},
                        "lines": args.lines, "bytes": size, "runs": []}

        podkit_runs, mtail_runs, mismatches = [], [], []
        for run in range(args.runs):
            info(f"run {run + 1} of {args.runs}: podkit-metrics")
            p = run_podkit(binary, log, rules, args.lines, workdir)
            info(f"  {p['seconds']:.2f} s; mtail")
            before = os.times()
            m = run_mtail(log, progs)
            after = os.times()
            m["cpu_s"] = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            info(f"  {m['seconds']:.2f} s")
            diffs = differences(samples(p["body"]), samples(m["body"]))
            compared = len(samples(m["body"]))
            if diffs or compared == 0:
                print(f"\n!!! MISMATCH in run {run + 1}: podkit-metrics and mtail did not count the same "
                      f"({len(diffs)} series differ, {compared} compared):", flush=True)
                for d in diffs[:20]:
                    print(f"!!!   {d}")
                mismatches.append({"run": run + 1, "differences": diffs, "compared": compared})
            podkit_runs.append(p)
            mtail_runs.append(m)
            report["runs"].append({
                "podkit": {k: v for k, v in p.items() if k != "body"},
                "mtail": {k: v for k, v in m.items() if k != "body"},
                "series_compared": compared, "differences": len(diffs),
            })
        report["podkit_metrics_body"] = podkit_runs[-1]["body"]
        report["mtail_body"] = mtail_runs[-1]["body"]

        def figures(runs: list[dict]) -> dict:
            secs = statistics.median(r["seconds"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            return {"seconds": secs, "lines_per_s": args.lines / secs, "cpu_s": cpu,
                    "lines_per_cpu_s": args.lines / cpu if cpu > 0 else None,
                    "min_s": min(r["seconds"] for r in runs), "max_s": max(r["seconds"] for r in runs)}

        pf, mf = figures(podkit_runs), figures(mtail_runs)
        report["podkit_metrics"], report["mtail"], report["mismatches"] = pf, mf, mismatches
        rows = []
        for name, f in (("podkit-metrics", pf), ("mtail", mf)):
            rows.append([name, f"{f['seconds']:.3f} s", f"{f['min_s']:.3f}-{f['max_s']:.3f} s",
                         f"{f['lines_per_s']:,.0f}", f"{f['cpu_s']:.2f} s",
                         "n/a" if f["lines_per_cpu_s"] is None else f"{f['lines_per_cpu_s']:,.0f}",
                         ratio(pf["lines_per_s"], f["lines_per_s"])])
        n_series = report["runs"][-1]["series_compared"]
        table(f"{args.lines:,} log lines ({size / 1e6:.0f} MB) from the start, 3 rules, median of {args.runs}",
              ["tool", "time", "range", "lines/s", "CPU", "lines per CPU s", "podkit-metrics / it"], rows,
              notes=["time: from the start of the process to mtail's exit (--one_shot) or to podkit-metrics' "
                     "own podkit_metrics_log_lines_total reaching N (polled every 5 ms)",
                     "CPU: user + system of every thread of the tool over that time",
                     f"totals: {n_series} series compared after each run (counters, buckets, count, sum): "
                     + ("SAME in every run" if not mismatches else f"MISMATCH in {len(mismatches)} run(s), see above")])
        achieved = pf["lines_per_s"] / mf["lines_per_s"]
        goals = [["at least 3x mtail's lines per second, same rules", f"{achieved:.2f}x",
                  "MET" if achieved >= GOAL_RATIO and not mismatches else "NOT MET"]]
        report["goals"] = goals
        table("Goals (issue 11)", ["goal", "measured", "verdict"], goals,
              notes=["not met either when the two tools did not count the same"] if mismatches else [])
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        info(f"raw figures: {args.json}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
