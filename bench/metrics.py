#!/usr/bin/env python3
"""Benchmark podkit-metrics: StatsD lines per second over UDP with a realistic mapping and the
loss at each rate, memory per series at 100,000 series, and the time of one scrape of them.

Run from anywhere (it finds the repository from its own location):

    python3 bench/metrics.py           # what `make bench` runs
    python3 bench/metrics.py --help    # rates, seconds per rate, series count, JSON path

podkit-metrics runs with a mapping of the kind a real deployment has (four globs with
captures, a histogram rule, a drop rule, two regexes) on a loopback UDP port. A sender process
(this script, forked) builds its datagrams before the clock starts, packs lines up to 1,400
bytes per datagram as buffering StatsD clients do, and mixes mapped, regex-mapped, dropped and
unmapped names, with and without DogStatsD tags, over about 1,000 series.

  1. lines per second and loss: for each rate (lines/s), the sender sends for a few seconds
     at that rate (paced per millisecond); the adapter's own `podkit_metrics_statsd_lines_total`
     before and after, compared to the lines sent, is the loss. The adapter's CPU time over the
     same interval (utime + stime from /proc/PID/stat, all its threads) gives lines per CPU
     second: the rate one core would sustain. The last row sends as fast as one Python process
     can, unpaced;
  2. memory per series: RSS (VmRSS) before and after 100,000 distinct counter series, divided;
  3. scrape time: GET /metrics of those 100,000 series, median of 5, with the body's size;
  2 and 3 again with 100,000 unmapped names, a family each (an id in the StatsD name).

It prints one table per measurement and the issue's goals (1 M lines/s on one core without
loss below that rate, under 1 KB per series, a scrape of 100,000 series under 100 ms) as MET /
NOT MET, and writes everything to bench/results/metrics-latest.json. It never fails on a
figure: it exits non-zero only when a binary is missing or podkit-metrics cannot be started.

There is no side by side with statsd_exporter: it is not in Debian and this machine cannot pull
it, and figures from another machine or another day would not be a comparison. Its users
report about 10 KB per series (statsd_exporter issue 76), which is the only number quoted.

The sender and the adapter share the machine: on 2 cores the sender takes one, so the unpaced
row measures the sender as much as the adapter. Lines per CPU second is the figure that does
not depend on that.

Python 3.11, standard library only. Needs no root.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
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

from common import info, ms, run_metadata, stop_if_missing, table

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = REPO / "target" / "x86_64-unknown-linux-musl" / "release"
RESULTS = REPO / "bench" / "results" / "metrics-latest.json"
BASELINE = "podkit-metrics"

GOAL_LINES_PER_CORE = 1_000_000
GOAL_BYTES_PER_SERIES = 1024
GOAL_SCRAPE_S = 0.100
DATAGRAM_BYTES = 1400
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_GUARD_S = 10.0
# How long the adapter is given to read what is already in its socket after the sender stops.
DRAIN_GUARD_S = 5.0

MAPPING = r"""
defaults:
  observer_type: histogram
mappings:
- match: "api.*.*.requests"
  name: "api_requests_total"
  labels: {service: "$1", endpoint: "$2"}
- match: "api.*.*.latency"
  name: "api_latency_seconds"
  histogram_options:
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5]
  labels: {service: "$1", endpoint: "$2"}
- match: "worker.*.jobs.*"
  name: "worker_jobs_total"
  labels: {worker: "$1", outcome: "$2"}
- match: "cache.*.size"
  name: "cache_size_bytes"
  labels: {cache: "$1"}
- match: "debug.*"
  action: drop
  name: "dropped"
- match: '^db\.([a-z]+)\.([a-z_]+)\.query_time$'
  match_type: regex
  name: "db_query_seconds"
  labels: {db: "$1", op: "$2"}
- match: '^queue\.(.+)\.depth$'
  match_type: regex
  name: "queue_depth"
  labels: {queue: "$1"}
"""


def workload_lines() -> list[bytes]:
    """About 1,000 series' worth of lines, in the mix described in the module's docstring."""
    lines: list[bytes] = []
    services = [f"svc{i}" for i in range(10)]
    endpoints = ["users", "orders", "cart", "search", "login"]
    for s in services:
        for e in endpoints:
            lines.append(f"api.{s}.{e}.requests:1|c|#code:200,method:get".encode())
            lines.append(f"api.{s}.{e}.requests:1|c|#code:500,method:post".encode())
            lines.append(f"api.{s}.{e}.latency:{(len(s) * 7 + len(e)) % 300}|ms".encode())
    for w in range(20):
        for outcome in ("done", "failed", "retried"):
            lines.append(f"worker.w{w}.jobs.{outcome}:1|c".encode())
    for c in range(20):
        lines.append(f"cache.c{c}.size:{c * 1024}|g".encode())
    for db in ("users", "orders", "stock"):
        for op in ("select", "insert", "update", "delete"):
            lines.append(f"db.{db}.{op}.query_time:{db.__len__() + len(op)}|ms|@0.5".encode())
    for q in range(30):
        lines.append(f"queue.jobs-{q}.depth:{q}|g".encode())
    for d in range(20):
        lines.append(f"debug.trace{d}:1|c".encode())
    for u in range(100):
        lines.append(f"legacy.app-{u}.hits:1|c".encode())
        lines.append(f"legacy.app-{u}.users:user{u % 7}|s".encode())
    return lines


def pack(lines: list[bytes], limit: int = DATAGRAM_BYTES) -> list[tuple[bytes, int]]:
    """Lines packed into datagrams of at most `limit` bytes: `(datagram, lines in it)`."""
    out: list[tuple[bytes, int]] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and size + 1 + len(line) > limit:
            out.append((b"\n".join(current), len(current)))
            current, size = [], 0
        size += len(line) + (1 if current else 0)
        current.append(line)
    if current:
        out.append((b"\n".join(current), len(current)))
    return out


def sender(address: tuple[str, int], datagrams: list[tuple[bytes, int]], rate: float | None,
           seconds: float, result) -> None:
    """Sends `datagrams` round and round for `seconds` at `rate` lines/s (None: unpaced), then
    puts `(lines sent, datagrams sent, seconds)` in `result`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(address)
    send = sock.send
    n = len(datagrams)
    per_datagram = sum(c for _, c in datagrams) / n
    lines = sent = i = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if rate is None:
            due = sent + 256
        else:
            due = int((now - start) * rate / per_datagram) + 1
        while sent < due:
            payload, count = datagrams[i]
            try:
                send(payload)
            except OSError:
                # ENOBUFS/ECONNREFUSED: not sent, so not counted as sent.
                pass
            else:
                lines += count
                sent += 1
            i = (i + 1) % n
        if rate is not None:
            # Pace per millisecond: sleep what is left of it.
            pause = 0.001 - (time.perf_counter() - now)
            if pause > 0:
                time.sleep(pause)
    result.put((lines, sent, time.perf_counter() - start))


class Adapter:
    """podkit-metrics on free loopback ports, with the bench's mapping."""

    def __init__(self, binary: Path, workdir: Path, extra: list[str] = ()):
        mapping = workdir / "mapping.yml"
        mapping.write_text(MAPPING)
        self.log = open(workdir / "adapter.log", "w+")
        self.proc = subprocess.Popen(
            [str(binary), "--statsd-udp", "127.0.0.1:0", "--mapping", str(mapping),
             "--metrics-addr", "127.0.0.1:0", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + START_GUARD_S
        while True:
            text = Path(self.log.name).read_text()
            udp = re.search(r"udp=(\S+):(\d+)", text)
            if udp and "listening" in text:
                self.udp = (udp.group(1), int(udp.group(2)))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench/metrics.py: podkit-metrics did not start:\n{text}")
            time.sleep(0.01)
        self.metrics = self._metrics_addr(text)

    def _metrics_addr(self, text: str) -> tuple[str, int]:
        # Port 0 was asked for and the log does not say which it got: the one TCP port the
        # process listens on (there is no --statsd-tcp) is the endpoint's.
        for port in listening_tcp_ports(self.proc.pid):
            return "127.0.0.1", port
        sys.exit(f"bench/metrics.py: cannot find podkit-metrics' /metrics port:\n{text}")

    def scrape(self) -> bytes:
        with socket.create_connection(self.metrics, timeout=30) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            chunks = []
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        response = b"".join(chunks)
        return response.split(b"\r\n\r\n", 1)[1]

    def value(self, series: str) -> float:
        body = self.scrape()
        found = re.search(rb"^" + re.escape(series.encode()) + rb" (\S+)$", body, re.M)
        return float(found.group(1)) if found else 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


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


def settle(adapter: Adapter, series: str, guard: float = DRAIN_GUARD_S) -> float:
    """The counter `series` once it has stopped moving (what was in the socket is read)."""
    last = adapter.value(series)
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = adapter.value(series)
        if now == last:
            return now
        last = now
    return last


def throughput(adapter: Adapter, rates: list[float | None], seconds: float) -> list[dict]:
    datagrams = pack(workload_lines())
    info(f"throughput: {len(datagrams)} distinct datagrams, "
         f"{sum(c for _, c in datagrams) / len(datagrams):.1f} lines each on average")
    rows = []
    for rate in rates:
        label = "unpaced" if rate is None else f"{rate:,.0f}"
        info(f"  sending at {label} lines/s for {seconds} s")
        before = settle(adapter, "podkit_metrics_statsd_lines_total")
        cpu_before = adapter.cpu_seconds()
        result = multiprocessing.Queue()
        proc = multiprocessing.Process(target=sender, args=(adapter.udp, datagrams, rate, seconds, result))
        proc.start()
        lines, sent, took = result.get()
        proc.join()
        after = settle(adapter, "podkit_metrics_statsd_lines_total")
        cpu = adapter.cpu_seconds() - cpu_before
        received = after - before
        rows.append({
            "rate": rate, "lines_sent": lines, "datagrams_sent": sent, "send_seconds": took,
            "sent_per_s": lines / took, "lines_received": received,
            "lost": lines - received, "loss": (lines - received) / lines if lines else 0.0,
            "adapter_cpu_s": cpu, "lines_per_cpu_s": received / cpu if cpu > 0 else None,
        })
    return rows


def memory(binary: Path, workdir: Path, series: int, mapped: bool = True) -> dict:
    """RSS before and after `series` distinct counter series, and the scrape of them. Mapped:
    one family, its series told apart by two labels from a glob's captures; unmapped: a family
    per name, as an app that puts ids in its StatsD names and has no mapping file gives."""
    adapter = Adapter(binary, workdir)
    try:
        time.sleep(0.5)
        before = adapter.rss_bytes()
        if mapped:
            # `api.sN.eN.requests` through the first glob: api_requests_total{service, endpoint}.
            lines = [f"api.s{i // 100}.e{i % 100}.requests:1|c".encode() for i in range(series)]
        else:
            lines = [f"app.user-{i}.logins:1|c".encode() for i in range(series)]
        datagrams = pack(lines)
        info(f"memory: {series:,} series in {len(datagrams):,} datagrams")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for attempt in range(5):
            for k, (payload, _) in enumerate(datagrams):
                sock.sendto(payload, adapter.udp)
                if k % 4 == 3:
                    # About 200,000 new series per second, slow enough that the socket's buffer
                    # never overflows while each is created: this measures memory, not speed.
                    time.sleep(0.001)
            have = settle(adapter, "podkit_metrics_series")
            if have >= series:
                break
            info(f"  {have:,.0f} of {series:,} series after pass {attempt + 1}; sending again")
        after = adapter.rss_bytes()
        scrapes = []
        size = 0
        for _ in range(5):
            start = time.perf_counter()
            body = adapter.scrape()
            scrapes.append(time.perf_counter() - start)
            size = len(body)
        rss_after_scrapes = adapter.rss_bytes()
        return {
            "series": have, "rss_before": before, "rss_after": after,
            "bytes_per_series": (after - before) / have if have else None,
            "rss_after_scrapes": rss_after_scrapes,
            "scrape_seconds": scrapes, "scrape_median_s": statistics.median(scrapes), "scrape_bytes": size,
        }
    finally:
        adapter.stop()


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="100000,250000,500000,1000000,2000000",
                    help="paced rates in lines/s, comma-separated; an unpaced row follows "
                         "(default 100000,250000,500000,1000000,2000000)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per rate (default 3)")
    ap.add_argument("--series", type=int, default=100_000, help="series for memory and scrape (default 100000)")
    ap.add_argument("--json", type=Path, default=RESULTS,
                    help=f"where to write raw figures (default {RESULTS.relative_to(REPO)})")
    args = ap.parse_args()

    bin_dir = Path(os.environ.get("PODKIT_BIN_DIR", DEFAULT_BIN_DIR)).resolve()
    source = bin_dir / BASELINE
    stop_if_missing("metrics.py", [] if source.is_file() else
                    [f"{source} is missing: build it first (make build)"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/metrics.py: terminated"))
    rates: list[float | None] = [float(r) for r in args.rates.split(",") if r] + [None]
    workdir = Path(tempfile.mkdtemp(prefix="podkit-bench-metrics-"))
    try:
        # A private copy: a rebuild during the run must not mix two builds in one set of figures.
        binary = workdir / BASELINE
        shutil.copy2(source, binary)
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        print(f"# {version}: StatsD over UDP, memory per series, scrape time  ({platform.release()}, "
              f"{os.cpu_count()} cores, {cpu.group(1) if cpu else 'unknown CPU'})")
        print(f"# load average at start: {os.getloadavg()[0]:.2f} (anything else busy on the machine skews every figure)")
        print("# statsd_exporter: not in Debian and not pullable here, so no side by side; its users report about")
        print("# 10 KB per series (its issue 76).")
        report: dict = {"meta": {**run_metadata(bin_dir, (), {BASELINE: binary}), "version": version}}

        adapter = Adapter(binary, workdir)
        try:
            rows = throughput(adapter, rates, args.seconds)
        finally:
            adapter.stop()
        report["throughput"] = rows
        table("StatsD over UDP: lines sent at a rate, lines the adapter counted, loss",
              ["rate (lines/s)", "sent/s", "sent", "received", "lost", "loss", "adapter CPU", "lines per CPU s"],
              [["unpaced" if r["rate"] is None else f"{r['rate']:,.0f}", f"{r['sent_per_s']:,.0f}",
                f"{r['lines_sent']:,}", f"{r['lines_received']:,.0f}", f"{r['lost']:,.0f}",
                f"{r['loss'] * 100:.2f}%", f"{r['adapter_cpu_s']:.2f} s",
                "n/a" if r["lines_per_cpu_s"] is None else f"{r['lines_per_cpu_s']:,.0f}"] for r in rows],
              notes=[f"datagrams of up to {DATAGRAM_BYTES} bytes, several lines each; mapping: 4 globs, "
                     "a drop, 2 regexes; ~1,000 series",
                     "lines per CPU s: lines counted / the adapter's CPU time (all threads) over the same interval"])

        mem = memory(binary, workdir, args.series)
        report["memory"] = mem
        families = memory(binary, workdir, args.series, mapped=False)
        report["memory_unmapped"] = families
        table(f"Memory and scrape at {mem['series']:,.0f} series",
              ["figure", "value"],
              [["RSS before", f"{mem['rss_before'] / 1e6:.1f} MB"],
               ["RSS after the series", f"{mem['rss_after'] / 1e6:.1f} MB"],
               ["per series", f"{mem['bytes_per_series']:,.0f} bytes" if mem["bytes_per_series"] else "n/a"],
               ["RSS after 5 scrapes", f"{mem['rss_after_scrapes'] / 1e6:.1f} MB"],
               ["scrape (median of 5)", ms(mem["scrape_median_s"], 1)],
               ["scrape body", f"{mem['scrape_bytes'] / 1e6:.1f} MB"],
               [f"unmapped: {families['series']:,.0f} names, a family each: per series",
                f"{families['bytes_per_series']:,.0f} bytes" if families["bytes_per_series"] else "n/a"],
               ["unmapped: scrape (median of 5)", ms(families["scrape_median_s"], 1)],
               ["unmapped: scrape body", f"{families['scrape_bytes'] / 1e6:.1f} MB"]],
              notes=["each series: a counter with two labels (service, endpoint) from a glob's captures",
                     "RSS after the series includes the scrapes that waited for them to arrive"])

        below_goal = [r for r in rows if r["rate"] is not None and r["rate"] <= GOAL_LINES_PER_CORE]
        best_per_cpu = max((r["lines_per_cpu_s"] or 0) for r in rows)
        no_loss = all(r["lost"] <= 0 for r in below_goal)
        goals = [
            ["1 M lines/s on one core", f"{best_per_cpu:,.0f} lines per CPU s",
             verdict(best_per_cpu >= GOAL_LINES_PER_CORE)],
            ["no loss at or below 1 M lines/s",
             "; ".join(f"{r['sent_per_s'] / 1e3:,.0f}k/s: {r['loss'] * 100:.2f}%" for r in below_goal),
             verdict(no_loss)],
            ["under 1 KB per series", f"{mem['bytes_per_series'] or 0:,.0f} bytes",
             verdict(bool(mem["bytes_per_series"]) and mem["bytes_per_series"] < GOAL_BYTES_PER_SERIES)],
            ["scrape of 100,000 series under 100 ms", ms(mem["scrape_median_s"], 1),
             verdict(mem["scrape_median_s"] < GOAL_SCRAPE_S and mem["series"] >= 100_000)],
        ]
        report["goals"] = goals
        table("Goals (issue 11)", ["goal", "measured", "verdict"], goals,
              notes=["a paced rate the sender could not reach shows its real rate in sent/s: "
                     "the loss goal is only shown for what was really sent"])
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        info(f"raw figures: {args.json}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
