#!/usr/bin/env python3
"""Benchmark podkit-ambassador side by side with stunnel, haproxy and hitch.

Run from anywhere (it finds the repository from its own location):

    python3 bench/ambassador.py          # what `make bench` runs, after bench/probe.py
    python3 bench/ambassador.py --help   # durations, sizes, connection counts, JSON path

All on loopback, in one run, with the same certificates (a CA, a server and a client
certificate, ECDSA P-256, made with openssl in a temporary directory) and the same backend
(podkit-tlsload, a Rust program that sinks and answers at memory speed). mTLS everywhere
unless said otherwise: the server side requires a client certificate from the CA, the client
side verifies the server's chain and name, as podkit-ambassador's server mode does by default.

  1. bulk throughput: 1 GiB through a client+server pair of the same proxy (plain -> TLS ->
     plain; stunnel, haproxy, podkit-ambassador), and through the server side alone from a TLS
     client (termination; hitch too);
  2. new TLS connections per second through the server side: full handshakes (no resumption),
     2x cores concurrent clients, each sending a small request and reading the backend's reply;
     with a client certificate (mTLS) and without (TLS);
  3. added latency: wrk (keep-alive; 1 connection, then 16) against nginx serving a small
     file, direct, through each pair, and through each terminator over https;
  4. memory per idle open connection: RSS of the terminator before and after opening N
     connections (handshake and one exchange done, then idle).

It prints one table per measurement with podkit-ambassador's ratio to each peer, the issue's
goals with MET / NOT MET, and writes everything to bench/results/ambassador-latest.json. It
never fails on a figure: it exits non-zero only when a tool or binary is missing, or when
podkit-ambassador itself cannot be measured.

Python 3.11, standard library only. Needs no root (as root, hitch's workers run as nobody).
Peers: Debian's stunnel4, haproxy and hitch; nginx-light and wrk for 3; openssl for the
certificates. podkit-ambassador and podkit-tlsload come from the release build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from common import info, ratio, run_metadata, short_reason, table, stop_if_missing

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = REPO / "target" / "x86_64-unknown-linux-musl" / "release"
RESULTS = REPO / "bench" / "results" / "ambassador-latest.json"
BASELINE = "podkit-ambassador"  # every ratio is podkit-ambassador's figure over the peer's

# The goals for podkit-ambassador.
GOAL_THROUGHPUT_VS_STUNNEL = 2.0
GOAL_THROUGHPUT_VS_HAPROXY = 1.0
GOAL_HANDSHAKES_VS_STUNNEL = 1.5
GOAL_IDLE_KB = 32.0

# Hang guards, not assertions: a proxy that takes this long to listen, or a measurement that
# takes this long, is reported with the reason instead of a figure.
START_GUARD_S = 10.0
RUN_GUARD_S = 120.0

PACKAGES = ("stunnel4", "haproxy", "hitch", "nginx-light", "wrk", "openssl")
CORES = os.cpu_count() or 1


# --------------------------------------------------------------------------
# Pre-flight: fail early, with the fix, instead of half-way through the run.


@dataclass(frozen=True)
class Tools:
    ambassador: Path
    tlsload: Path
    stunnel: str = "/usr/bin/stunnel4"
    haproxy: str = "/usr/sbin/haproxy"
    hitch: str = "/usr/sbin/hitch"
    nginx: str = "/usr/sbin/nginx"
    wrk: str = "/usr/bin/wrk"
    openssl: str = "/usr/bin/openssl"


def preflight(bin_dir: Path) -> Tools:
    tools = Tools(bin_dir / "podkit-ambassador", bin_dir / "podkit-tlsload")
    problems = []
    for path, package in ((tools.stunnel, "stunnel4"), (tools.haproxy, "haproxy"), (tools.hitch, "hitch"),
                          (tools.nginx, "nginx-light"), (tools.wrk, "wrk"), (tools.openssl, "openssl")):
        if not os.access(path, os.X_OK):
            problems.append(f"missing {path}: apt-get install -y {package}")
    for path in (tools.ambassador, tools.tlsload):
        if not os.access(path, os.X_OK):
            problems.append(f"missing {path}: build it with `cargo build --release --locked "
                            "--target x86_64-unknown-linux-musl --workspace --bins`, or point "
                            "PODKIT_BIN_DIR at a directory that has it")
    stop_if_missing("ambassador.py", problems)
    return tools


def versions(tools: Tools) -> dict[str, str]:
    def first_line(*argv: str, pattern: str = "") -> str:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unknown ({e})"
        lines = [l.strip() for l in (p.stdout + p.stderr).splitlines() if l.strip()]
        lines = [l for l in lines if re.search(pattern, l)] or lines
        return lines[0] if lines else "unknown"

    return {
        BASELINE: first_line(str(tools.ambassador), "--version"),
        "stunnel": first_line(tools.stunnel, "-version", pattern=r"^stunnel "),
        "haproxy": first_line(tools.haproxy, "-v"),
        "hitch": first_line(tools.hitch, "--version"),
        "nginx": first_line(tools.nginx, "-v"),
        "wrk": first_line(tools.wrk, "-v", pattern=r"^wrk "),
        "openssl": first_line(tools.openssl, "version"),
    }


# --------------------------------------------------------------------------
# Certificates: one CA, one server and one client certificate, shared by every proxy.


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_crt: Path
    server_key: Path
    server_pem: Path  # certificate then key, for haproxy and hitch
    client_crt: Path
    client_key: Path
    client_pem: Path


def make_pki(openssl: str, d: Path) -> Pki:
    def run(*argv: str) -> None:
        p = subprocess.run([openssl, *argv], capture_output=True, text=True, cwd=d)
        if p.returncode != 0:
            sys.exit(f"bench/ambassador.py: openssl {argv[0]} failed: {short_reason(p.stderr)}")

    def key(name: str) -> None:
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")

    key("ca")
    run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=podkit bench CA", "-days", "2", "-out", "ca.crt",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = {
        "server": ("/CN=localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth"),
        "client": ("/CN=client", "DNS:client.bench,URI:spiffe://bench/ns/default/sa/client", "clientAuth"),
    }
    for name, (subject, san, eku) in leaves.items():
        key(name)
        run("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr")
        (d / f"{name}.ext").write_text(
            f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            f"extendedKeyUsage={eku}\nsubjectAltName={san}\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
        (d / f"{name}.pem").write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "server.pem",
               d / "client.crt", d / "client.key", d / "client.pem")


# --------------------------------------------------------------------------
# Processes: start, wait until listening, read their RSS and CPU time, stop.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class StartError(Exception):
    pass


def descendants(pid: int) -> list[int]:
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for c in children:
        out.append(int(c))
        out += descendants(int(c))
    return out


class Proc:
    """A proxy (or nginx, or the backend) this script started, with its output in a file."""

    def __init__(self, name: str, argv: list[str], port: int, logs: Path):
        self.name, self.argv, self.port = name, argv, port
        self.log = logs / f"{re.sub(r'[^a-zA-Z0-9.-]+', '_', name)}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=logs)
        deadline = time.monotonic() + START_GUARD_S
        while not accepts(port):
            if self.proc.poll() is not None:
                raise StartError(f"exited {self.proc.returncode}: {short_reason(self.log.read_text())}")
            if time.monotonic() > deadline:
                self.stop()
                raise StartError(f"not listening on port {port} within {START_GUARD_S:.0f} s")
            time.sleep(0.02)

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _status_sum(self, key: str) -> int:
        total = 0
        for pid in self.pids():
            try:
                m = re.search(rf"^{key}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
            except OSError:
                continue
            total += int(m.group(1)) if m else 0
        return total

    def rss_kb(self) -> int:
        """VmRSS summed over the process and its children (hitch's workers)."""
        return self._status_sum("VmRSS")

    def threads(self) -> int:
        return self._status_sum("Threads")

    def cpu_s(self) -> float:
        """User + system CPU time of the process and its children, all threads."""
        ticks = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        # Only this process and the children it forked (hitch's workers), by their ids.
        if self.proc.poll() is None:
            kids = descendants(self.proc.pid)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            # A child still running after its parent ended (it should not be): killed only if it
            # is still the same program, not a process that reused its id since.
            exe = os.path.realpath(self.argv[0])
            for pid in kids:
                try:
                    if os.readlink(f"/proc/{pid}/exe") == exe:
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


class Fleet:
    """Every process of one section; all stopped together when the section ends."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], port: int) -> Proc:
        p = Proc(name, argv, port, self.logs)  # raises StartError
        self.procs.append(p)
        return p

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_exc) -> None:
        for p in self.procs:
            p.stop()


# --------------------------------------------------------------------------
# The peers: how each one runs as the server side (TLS in) and the client side (TLS out).


@dataclass
class Peer:
    name: str
    # (listen port, target port, mtls) -> argv; writes its config file if it needs one
    server: Callable[[int, int, bool], list[str]]
    # (listen port, target port) -> argv, or None for a terminator only (hitch)
    client: Callable[[int, int], list[str]] | None = None


def peers(tools: Tools, pki: Pki, d: Path) -> list[Peer]:
    def write(name: str, text: str) -> Path:
        path = d / name
        path.write_text(text)
        return path

    def podkit_server(listen: int, target: int, mtls: bool) -> list[str]:
        auth = ["--cacert", str(pki.ca), "--allow-all"] if mtls else ["--disable-authentication"]
        return [str(tools.ambassador), "server", "--listen", f"127.0.0.1:{listen}",
                "--target", f"127.0.0.1:{target}", "--cert", str(pki.server_crt), "--key", str(pki.server_key), *auth]

    def podkit_client(listen: int, target: int) -> list[str]:
        return [str(tools.ambassador), "client", "--listen", f"127.0.0.1:{listen}",
                "--target", f"127.0.0.1:{target}", "--cacert", str(pki.ca), "--server-name", "localhost",
                "--cert", str(pki.client_crt), "--key", str(pki.client_key)]

    # stunnel: per-connection notices off (podkit-ambassador logs a connection only at debug, haproxy
    # and hitch here not at all), so that what is compared is the proxying, not the logging.
    stunnel_global = "foreground = yes\npid =\ndebug = warning\n"

    def stunnel_server(listen: int, target: int, mtls: bool) -> list[str]:
        auth = f"CAfile = {pki.ca}\nverifyChain = yes\n" if mtls else ""
        conf = write(f"stunnel-server-{listen}.conf", stunnel_global + (
            f"[server]\naccept = 127.0.0.1:{listen}\nconnect = 127.0.0.1:{target}\n"
            f"cert = {pki.server_crt}\nkey = {pki.server_key}\n{auth}"))
        return [tools.stunnel, str(conf)]

    def stunnel_client(listen: int, target: int) -> list[str]:
        conf = write(f"stunnel-client-{listen}.conf", stunnel_global + (
            f"[client]\nclient = yes\naccept = 127.0.0.1:{listen}\nconnect = 127.0.0.1:{target}\n"
            f"CAfile = {pki.ca}\nverifyChain = yes\ncheckHost = localhost\nsni = localhost\n"
            f"cert = {pki.client_crt}\nkey = {pki.client_key}\n"))
        return [tools.stunnel, str(conf)]

    # haproxy: mode tcp, its default thread count (one per core), timeouts long enough that an
    # idle connection stays open for the memory measurement.
    haproxy_global = ("global\n    maxconn 8000\n\ndefaults\n    mode tcp\n    timeout connect 10s\n"
                      "    timeout client 1h\n    timeout server 1h\n\n")

    def haproxy_server(listen: int, target: int, mtls: bool) -> list[str]:
        auth = f" ca-file {pki.ca} verify required" if mtls else ""
        conf = write(f"haproxy-server-{listen}.cfg", haproxy_global + (
            f"listen server\n    bind 127.0.0.1:{listen} ssl crt {pki.server_pem}{auth}\n"
            f"    server backend 127.0.0.1:{target}\n"))
        return [tools.haproxy, "-db", "-f", str(conf)]

    def haproxy_client(listen: int, target: int) -> list[str]:
        conf = write(f"haproxy-client-{listen}.cfg", haproxy_global + (
            f"listen client\n    bind 127.0.0.1:{listen}\n"
            f"    server tls 127.0.0.1:{target} ssl verify required ca-file {pki.ca} crt {pki.client_pem}"
            f" sni str(localhost) verifyhost localhost\n"))
        return [tools.haproxy, "-db", "-f", str(conf)]

    # hitch: one worker process per core, as its manual recommends. It refuses to run its workers
    # as root: they drop to nobody, after the manager has read the certificates.
    def hitch_server(listen: int, target: int, mtls: bool) -> list[str]:
        auth = f'client-verify = required\nclient-verify-ca = "{pki.ca}"\n' if mtls else ""
        user = 'user = "nobody"\n' if os.geteuid() == 0 else ""
        conf = write(f"hitch-{listen}.conf", (
            f'frontend = "[127.0.0.1]:{listen}"\nbackend = "[127.0.0.1]:{target}"\n'
            f'pem-file = "{pki.server_pem}"\nworkers = {CORES}\ndaemon = off\nlog-level = 1\n{user}{auth}'))
        return [tools.hitch, f"--config={conf}"]

    return [
        Peer(BASELINE, podkit_server, podkit_client),
        Peer("stunnel", stunnel_server, stunnel_client),
        Peer("haproxy", haproxy_server, haproxy_client),
        Peer("hitch", hitch_server),
    ]


@dataclass
class Route:
    """Where a measurement connects for one peer, and the processes whose CPU time it accounts."""
    port: int
    procs: list[Proc] = field(default_factory=list)

    def cpu_s(self) -> float:
        return sum(p.cpu_s() for p in self.procs)


# A running route, or why it could not be started (printed in place of its figures).
Routes = dict[str, "Route | str"]


def start_terminators(fleet: Fleet, ps: list[Peer], target: int, mtls: bool, tag: str) -> Routes:
    """Each peer's server side (TLS in, plain out to `target`)."""
    out: Routes = {}
    for peer in ps:
        port = free_port()
        try:
            out[peer.name] = Route(port, [fleet.start(f"{peer.name} server {tag}", peer.server(port, target, mtls), port)])
        except StartError as e:
            out[peer.name] = f"server side: {e}"
    return out


def start_pairs(fleet: Fleet, ps: list[Peer], target: int, tag: str) -> Routes:
    """For each peer that has a client side: its server side (mTLS in, plain to `target`) and its
    client side in front of it."""
    out: Routes = {}
    for peer in ps:
        if peer.client is None:
            continue
        sport, cport = free_port(), free_port()
        try:
            server = fleet.start(f"{peer.name} server {tag}", peer.server(sport, target, True), sport)
        except StartError as e:
            out[peer.name] = f"server side: {e}"
            continue
        try:
            client = fleet.start(f"{peer.name} client {tag}", peer.client(cport, sport), cport)
        except StartError as e:
            out[peer.name] = f"client side: {e}"
            continue
        out[peer.name] = Route(cport, [client, server])
    return out


def start_backend(fleet: Fleet, tlsload: Path) -> Route:
    port = free_port()
    try:
        return Route(port, [fleet.start("backend", [str(tlsload), "backend", f"127.0.0.1:{port}"], port)])
    except StartError as e:
        sys.exit(f"bench/ambassador.py: the backend did not start: {e}")


def start_nginx(fleet: Fleet, nginx: str, d: Path, body_bytes: int) -> int:
    www = d / "www"
    www.mkdir(exist_ok=True)
    (www / "small.txt").write_bytes(b"x" * (body_bytes - 1) + b"\n")
    port = free_port()
    temp = "".join(f"    {k}_temp_path {d / ('nginx-' + k)};\n"
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # One process, so that its cost is the same small slice of the machine for every proxy;
    # master_process off also lets it run unprivileged or as root without a `user` to switch to.
    conf = d / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {d / 'nginx.pid'};\n"
        f"error_log {d / 'nginx-error.log'} warn;\nevents {{ worker_connections 4096; }}\n"
        f"http {{\n    access_log off;\n{temp}    keepalive_requests 1000000;\n"
        f"    server {{\n        listen 127.0.0.1:{port};\n        root {www};\n    }}\n}}\n")
    try:
        fleet.start("nginx", [nginx, "-p", str(d), "-c", str(conf)], port)
    except StartError as e:
        sys.exit(f"bench/ambassador.py: nginx did not start: {e}")
    return port


# --------------------------------------------------------------------------
# podkit-tlsload runs


def tlsload(tools: Tools, pki: Pki, command: str, port: int, *args: str, tls: bool = True,
            client_cert: bool = True) -> dict:
    """Runs one podkit-tlsload measurement and returns its JSON, or {"error": reason}."""
    argv = [str(tools.tlsload), command, "--connect", f"127.0.0.1:{port}", *args]
    if tls:
        argv += ["--cacert", str(pki.ca), "--server-name", "localhost"]
        if client_cert:
            argv += ["--cert", str(pki.client_crt), "--key", str(pki.client_key)]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_GUARD_S)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {RUN_GUARD_S:.0f} s"}
    if p.returncode != 0:
        return {"error": short_reason(p.stderr or p.stdout)}
    return json.loads(p.stdout)


def mbs(x: float) -> str:
    return f"{x:,.0f}"


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("MET" if met else "NOT MET")


def goal_vs(figures: dict[str, float], peer: str, want: float) -> str:
    """`>= 2.0x stunnel: MET (2.19x)`, from podkit-ambassador's and the peer's figure."""
    mine, theirs = figures.get(BASELINE), figures.get(peer)
    if mine is None or not theirs:
        return f">= {want:.1f}x {peer}: n/a (not measured)"
    return f">= {want:.1f}x {peer}: {verdict(mine / theirs >= want)} ({mine / theirs:.2f}x)"


# --------------------------------------------------------------------------
# 1. Bulk throughput

DIRECT = "direct (no proxy)"


def bench_bulk(tools: Tools, pki: Pki, ps: list[Peer], logs: Path, size: int, runs: int) -> dict:
    info(f"[1/4] bulk: {size / 2**20:.0f} MiB x {runs} runs per path (after a warm-up), pairs then terminators")
    with Fleet(logs) as fleet:
        backend = start_backend(fleet, tools.tlsload)
        sections: dict[str, Routes] = {
            "pair": {DIRECT: Route(backend.port), **start_pairs(fleet, ps, backend.port, "bulk")},
            "termination": start_terminators(fleet, ps, backend.port, True, "bulk"),
        }
        samples: dict[str, dict[str, list[dict]]] = {s: {n: [] for n in routes} for s, routes in sections.items()}
        errors: dict[str, dict[str, str]] = {
            s: {n: r for n, r in routes.items() if isinstance(r, str)} for s, routes in sections.items()}

        # Round 0 is a warm-up of an eighth of the size; then the rounds take turns between the
        # paths, so slow drift on the machine spreads evenly over them.
        for round_no in range(runs + 1):
            for s, routes in sections.items():
                for name, route in routes.items():
                    if name in errors[s]:
                        continue
                    before = route.cpu_s()
                    r = tlsload(tools, pki, "bulk", route.port, "--bytes", str(size if round_no else size // 8),
                                tls=s == "termination")
                    if "error" in r:
                        errors[s][name] = r["error"]
                    elif round_no:
                        r["proxy_cpu_s"] = route.cpu_s() - before
                        samples[s][name].append(r)

    results = {}
    for s, title, what in (
            ("pair", "1a. Bulk throughput through a client+server pair: plain -> TLS -> plain",
             "podkit-tlsload bulk (plain TCP) -> CLIENT SIDE -> mTLS -> SERVER SIDE -> backend"),
            ("termination", "1b. Bulk throughput through the server side alone: TLS -> plain",
             "podkit-tlsload bulk (rustls, with a client certificate) -> SERVER SIDE -> backend")):
        med = {n: statistics.median(x["mb_per_s"] for x in got) for n, got in samples[s].items() if got}
        base = med.get(BASELINE)
        rows = []
        for name in samples[s]:
            if name in errors[s]:
                rows.append([name, f"not measured: {errors[s][name]}"])
                continue
            got = samples[s][name]
            mb = [x["mb_per_s"] for x in got]
            cpu = statistics.median(x["proxy_cpu_s"] / (x["bytes"] / 2**30) for x in got)
            plain = name == DIRECT
            rows.append([name, mbs(med[name]), mbs(min(mb)), mbs(max(mb)), "-" if plain else f"{cpu:.2f}",
                         "-" if plain or name == BASELINE else ratio(base, med[name])])
        seen = sorted({x["tls"] for got in samples[s].values() for x in got} - {"plain TCP"})
        table(f"{title}, MB/s (median of {runs} x {size / 2**20:.0f} MiB)",
              ["path", "MB/s", "min", "max", "proxy CPU s/GiB", f"{BASELINE} / peer"], rows,
              [what + ";",
               "proxy CPU s/GiB: user+system time of the proxy's processes (both sides of a pair) per GiB moved;",
               "load generator, proxies and backend share the same cores, the same way for every proxy;",
               "a ratio above 1.00x means podkit-ambassador moves more bytes per second than that peer."]
              + ([f"negotiated with the load generator: {', '.join(seen)}"] if seen else [])
              + [f"the issue's goal, {BASELINE}'s throughput {goal_vs(med, 'stunnel', GOAL_THROUGHPUT_VS_STUNNEL)}, "
                 f"{goal_vs(med, 'haproxy', GOAL_THROUGHPUT_VS_HAPROXY)}"])
        results[s] = {"bytes": size, "runs": runs, "results": {
            n: ({"error": errors[s][n]} if n in errors[s] else {"median_mb_per_s": med.get(n), "samples": samples[s][n]})
            for n in samples[s]}}
    return results


# --------------------------------------------------------------------------
# 2. New TLS connections per second


def bench_handshakes(tools: Tools, pki: Pki, ps: list[Peer], logs: Path, duration: float, warmup: float,
                     concurrency: int) -> dict:
    info(f"[2/4] handshakes: {concurrency} concurrent clients, {warmup:g} s warm-up + {duration:g} s per terminator, "
         "mTLS then TLS")
    results = {}
    for mtls in (True, False):
        tag, label = ("mtls", "mTLS") if mtls else ("tls", "TLS")
        got: dict[str, dict] = {}
        # A fleet per variant: the idle terminators of the other variant do not hold ports or memory.
        with Fleet(logs) as fleet:
            backend = start_backend(fleet, tools.tlsload)
            for name, route in start_terminators(fleet, ps, backend.port, mtls, f"handshakes-{tag}").items():
                if isinstance(route, str):
                    got[name] = {"error": route}
                    continue
                before = route.cpu_s()
                r = tlsload(tools, pki, "handshakes", route.port, "--concurrency", str(concurrency),
                            "--duration", str(duration), "--warmup", str(warmup), client_cert=mtls)
                if "error" not in r and r["connections"] == 0:
                    r = {"error": f"no connection completed: {r['first_error']}"}
                if "error" not in r:
                    r["proxy_cpu_us_per_conn"] = (route.cpu_s() - before) * 1e6 / (
                        r["connections"] + r["warmup_connections"])
                got[name] = r
        base = got.get(BASELINE, {}).get("per_second")
        rows = []
        for name, r in got.items():
            if "error" in r:
                rows.append([name, f"not measured: {r['error']}"])
                continue
            rows.append([name, f"{r['per_second']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                         str(r["errors"]), f"{r['proxy_cpu_us_per_conn']:,.0f}",
                         "-" if name == BASELINE else ratio(base, r["per_second"])])
        seen = sorted({r["tls"] for r in got.values() if r.get("tls")})
        auth = ("the client presents a certificate, the proxy verifies it against the CA" if mtls
                else "server certificate only, no client certificate")
        table(f"2{'a' if mtls else 'b'}. New {label} connections per second through the server side",
              ["terminator", "conns/s", "p50 ms", "p99 ms", "errors", "proxy CPU us/conn", f"{BASELINE} / peer"],
              rows,
              [f"{label}: {auth}; full handshakes (the client disables resumption: no session ID, no ticket);",
               f"{concurrency} concurrent clients (2x {CORES} cores) for {duration:g} s after a {warmup:g} s warm-up; "
               "each connection sends 32 bytes,",
               "reads the backend's 16-byte reply and waits for the end of the connection. p50/p99: per connection,",
               "connect to end. proxy CPU us/conn: the proxy's user+system time per connection (warm-up included).",
               "The load generator's handshakes cost about as much CPU as the proxy's, on the same cores.",
               f"negotiated: {', '.join(seen) or 'n/a'}",
               f"the issue's goal, {BASELINE}'s connections per second "
               + goal_vs({n: r["per_second"] for n, r in got.items() if "per_second" in r}, "stunnel",
                         GOAL_HANDSHAKES_VS_STUNNEL)])
        results[tag] = {"concurrency": concurrency, "duration_s": duration, "warmup_s": warmup, "results": got}
    return results


# --------------------------------------------------------------------------
# 3. Added latency with wrk


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, "
    .. "\\"p99_us\\": %d, \\"mean_us\\": %.1f, \\"errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk(tools: Tools, url: str, conns: int, threads: int, seconds: int, script: Path) -> dict:
    argv = [tools.wrk, "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "-s", str(script), url]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + RUN_GUARD_S)
    except subprocess.TimeoutExpired:
        return {"error": "wrk did not finish"}
    m = re.search(r"^WRKJSON (.*)$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        return {"error": f"wrk exit {p.returncode}: {short_reason(p.stderr + p.stdout)}"}
    r = json.loads(m.group(1))
    if r["requests"] == 0:
        return {"error": f"no request answered: {short_reason(p.stdout)}"}
    r["per_second"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def bench_latency(tools: Tools, ps: list[Peer], logs: Path, loads: list[tuple[int, int, int]],
                  body_bytes: int) -> dict:
    info(f"[3/4] latency: wrk against nginx, {', '.join(f'-c {c} -t {t} -d {d}s' for c, t, d in loads)} per path")
    script = logs / "wrk-report.lua"
    script.write_text(WRK_SCRIPT)
    results: dict[str, dict] = {"pair": {}, "termination": {}}
    with Fleet(logs) as fleet:
        nginx = start_nginx(fleet, tools.nginx, logs, body_bytes)
        direct = Route(nginx)
        sections: dict[str, tuple[str, Routes]] = {
            "pair": ("http", {DIRECT: direct, **start_pairs(fleet, ps, nginx, "latency")}),
            "termination": ("https", start_terminators(fleet, ps, nginx, False, "latency")),
        }
        for conns, threads, seconds in loads:
            key = f"c{conns}"
            for s, (scheme, routes) in sections.items():
                got = results[s].setdefault(key, {})
                if s == "termination":
                    got[DIRECT] = results["pair"][key][DIRECT]  # the same baseline: measured once
                for name, route in routes.items():
                    got[name] = {"error": route} if isinstance(route, str) else \
                        wrk(tools, f"{scheme}://127.0.0.1:{route.port}/small.txt", conns, threads, seconds, script)

    for s, title, what in (
            ("pair", "3a. Added latency through a client+server pair",
             "wrk (HTTP/1.1, keep-alive) -> CLIENT SIDE -> mTLS -> SERVER SIDE -> nginx"),
            ("termination", "3b. Added latency through the server side alone",
             "wrk (https with OpenSSL, keep-alive) -> SERVER SIDE (TLS, no client certificate) -> nginx")):
        for i, (conns, threads, seconds) in enumerate(loads):
            got = results[s][f"c{conns}"]
            d, base = got[DIRECT], got.get(BASELINE, {})
            rows = []
            for name, r in got.items():
                if "error" in r:
                    rows.append([name, f"not measured: {r['error']}"])
                    continue
                plain = name == DIRECT
                rows.append([
                    name, f"{r['per_second']:,.0f}", f"{r['p50_us'] / 1e3:.3f}", f"{r['p99_us'] / 1e3:.3f}",
                    "-" if plain or "error" in d else f"{(r['p50_us'] - d['p50_us']) / 1e3:+.3f}",
                    "-" if plain or "error" in d else f"{(r['p99_us'] - d['p99_us']) / 1e3:+.3f}",
                    "-" if plain or name == BASELINE else ratio(base.get("p50_us"), r["p50_us"]),
                    str(r["errors"]),
                ])
            notes = [what + f"; a {body_bytes}-byte static file."]
            if i == 0:
                notes += ["wrk is closed-loop (wrk2, with a fixed rate, is not in Debian): a connection sends its next",
                          "request when the answer to the last one arrives. With 1 connection the latency is the path's own;",
                          "with 16 the cores are saturated and it includes queueing. added = percentile minus the direct one;",
                          "a ratio below 1.00x means podkit-ambassador's p50 is lower (faster) than that peer's."]
            table(f"{title}, wrk -c {conns} -t {threads} -d {seconds}s, latency in ms",
                  ["path", "req/s", "p50", "p99", "added p50", "added p99", f"{BASELINE} / peer (p50)", "errors"],
                  rows, notes)
    return {"loads": [{"conns": c, "threads": t, "duration_s": d} for c, t, d in loads], "body_bytes": body_bytes,
            "results": results}


# --------------------------------------------------------------------------
# 4. Memory per idle connection


def bench_memory(tools: Tools, pki: Pki, ps: list[Peer], logs: Path, conns: int) -> dict:
    info(f"[4/4] memory: {conns} idle mTLS connections per terminator, in two halves, fresh processes")
    results: dict[str, dict] = {}
    with Fleet(logs) as fleet:
        backend = start_backend(fleet, tools.tlsload)
        for peer in ps:
            port = free_port()
            try:
                proc = fleet.start(f"{peer.name} server memory", peer.server(port, backend.port, True), port)
            except StartError as e:
                results[peer.name] = {"error": f"server side: {e}"}
                continue
            results[peer.name] = idle_rss(tools, pki, proc, port, conns)
            proc.stop()

    base = results.get(BASELINE, {}).get("kb_per_conn")
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, f"not measured: {r['error']}"])
            continue
        rows.append([name, f"{r['rss_kb'][0]:,}", f"{r['rss_kb'][1]:,}", f"{r['rss_kb'][2]:,}",
                     f"{r['kb_per_conn']:.1f}", f"{r['marginal_kb_per_conn']:.1f}",
                     " -> ".join(str(t) for t in r["threads"]),
                     "-" if name == BASELINE else ratio(base, r["kb_per_conn"])])
    half = conns // 2
    table(f"4. Memory per idle open connection through the server side, {conns:,} mTLS connections",
          ["terminator", f"RSS 0 KB", f"RSS {half:,}", f"RSS {conns:,}", "KB/conn", "marginal", "threads",
           f"{BASELINE} / peer"],
          rows,
          ["RSS: VmRSS summed over the proxy's processes (hitch: manager and workers), from /proc/PID/status,",
           f"of a fresh process (no connection yet), then with {half:,} and with {conns:,} connections open, each through",
           "its mTLS handshake and one small exchange with the backend, then idle (the proxy holds both sockets),",
           "read after 1 s of quiet. KB/conn = (RSS at N - RSS at 0) / N, one-time costs included;",
           "marginal = (RSS at N - RSS at N/2) / (N/2), the cost of one more connection. Kernel socket buffers",
           "are not in RSS. A ratio below 1.00x means podkit-ambassador uses less memory than that peer.",
           f"the issue's goal, {BASELINE} <= {GOAL_IDLE_KB:.0f} KB per idle connection: "
           + (f"{verdict(base <= GOAL_IDLE_KB)} ({base:.1f} KB)" if base is not None else "n/a (not measured)")])
    return {"conns": conns, "results": results}


def idle_rss(tools: Tools, pki: Pki, proc: Proc, port: int, conns: int) -> dict:
    """RSS and threads of `proc` with 0, conns/2 and conns idle connections through it."""
    argv = [str(tools.tlsload), "idle", "--connect", f"127.0.0.1:{port}", "--cacert", str(pki.ca),
            "--server-name", "localhost", "--cert", str(pki.client_crt), "--key", str(pki.client_key)]
    halves = (conns // 2, conns - conns // 2)
    holders: list[subprocess.Popen] = []
    time.sleep(1.0)
    rss, threads = [proc.rss_kb()], [proc.threads()]
    try:
        for n in halves:
            holder = subprocess.Popen([*argv, "--conns", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            holders.append(holder)
            line = read_line(holder, RUN_GUARD_S)
            if line != f"open {n}":
                if holder.poll() is None:
                    holder.kill()
                err = holder.stderr.read() if holder.poll() is not None else ""
                return {"error": f"could not open {n} connections: {short_reason(err or line or 'no output')}"}
            time.sleep(1.0)
            if not proc.alive():
                return {"error": "the proxy exited while holding the connections"}
            rss.append(proc.rss_kb())
            threads.append(proc.threads())
    finally:
        for holder in holders:
            if holder.poll() is None:
                holder.stdin.close()
                try:
                    holder.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    holder.kill()
                    holder.wait()
    return {"rss_kb": rss, "threads": threads, "kb_per_conn": (rss[2] - rss[0]) / conns,
            "marginal_kb_per_conn": (rss[2] - rss[1]) / halves[1]}


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first line of `proc`'s stdout, or "" if it exits or the hang guard passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline().strip()
        if proc.poll() is not None:
            return ""
    return ""


# --------------------------------------------------------------------------
# Goals


def goals(report: dict) -> dict:
    """podkit-ambassador against the issue's goals, from the figures of this run."""

    def fig(section: dict, name: str, key: str) -> float | None:
        return section.get("results", {}).get(name, {}).get(key)

    checks = []

    def check(what: str, goal: str, value: float | None, peer_value: float | None, want: float, detail: str) -> None:
        if value is None or not peer_value:
            checks.append({"what": what, "goal": goal, "met": None, "line": f"{what}: n/a (not measured)"})
            return
        r = value / peer_value
        met = r >= want
        checks.append({"what": what, "goal": goal, "ratio": r, "met": met,
                       "line": f"{what}: {'MET' if met else 'NOT MET'}: {r:.2f}x ({detail}), goal {goal}"})

    for s, label in (("pair", "pair"), ("termination", "termination")):
        sec = report["bulk"][s]
        pk = fig(sec, BASELINE, "median_mb_per_s")
        for peer, want in (("stunnel", GOAL_THROUGHPUT_VS_STUNNEL), ("haproxy", GOAL_THROUGHPUT_VS_HAPROXY)):
            pv = fig(sec, peer, "median_mb_per_s")
            check(f"throughput ({label}) vs {peer}", f">= {want:.1f}x {peer}", pk, pv, want,
                  f"{pk and mbs(pk)} vs {pv and mbs(pv)} MB/s")
    for tag in ("mtls", "tls"):
        sec = report["handshakes"][tag]
        pk, pv = fig(sec, BASELINE, "per_second"), fig(sec, "stunnel", "per_second")
        check(f"handshakes/s ({'mTLS' if tag == 'mtls' else 'TLS'}) vs stunnel",
              f">= {GOAL_HANDSHAKES_VS_STUNNEL:.1f}x stunnel", pk, pv, GOAL_HANDSHAKES_VS_STUNNEL,
              f"{pk and round(pk)} vs {pv and round(pv)} conns/s")
    kb = fig(report["memory"], BASELINE, "kb_per_conn")
    if kb is None:
        checks.append({"what": "memory", "goal": f"<= {GOAL_IDLE_KB:.0f} KB", "met": None,
                       "line": "memory per idle connection: n/a (not measured)"})
    else:
        met = kb <= GOAL_IDLE_KB
        checks.append({"what": "memory", "goal": f"<= {GOAL_IDLE_KB:.0f} KB", "kb": kb, "met": met,
                       "line": f"memory per idle connection: {'MET' if met else 'NOT MET'}: {kb:.1f} KB, "
                               f"goal <= {GOAL_IDLE_KB:.0f} KB"})
    all_met = all(c["met"] is True for c in checks)
    print(f"\n## Goals (the issue's): {'all met' if all_met else 'NOT all met'}\n")
    for c in checks:
        print(f"  {c['line']}")
    return {"checks": checks, "all_met": all_met}


# --------------------------------------------------------------------------


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def raise_fd_limit() -> None:
    # Thousands of idle connections need two descriptors each in the proxy, one in the load
    # generator and one in the backend; the children inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536,) * 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulk-mib", type=int, default=1024, help="MiB per bulk run (default 1024)")
    ap.add_argument("--bulk-runs", type=int, default=3, help="bulk runs per path, after a warm-up (default 3)")
    ap.add_argument("--handshake-seconds", type=float, default=5.0, help="per terminator and variant (default 5)")
    ap.add_argument("--concurrency", type=int, default=2 * CORES, help=f"handshake clients (default 2x cores = {2 * CORES})")
    ap.add_argument("--wrk-seconds", type=int, default=5,
                    help="wrk seconds per path at 16 connections; 60%% of it at 1 connection (default 5)")
    ap.add_argument("--idle-conns", type=int, default=2000, help="idle connections per terminator (default 2000)")
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"where to write raw figures (default {RESULTS.relative_to(REPO)})")
    args = ap.parse_args()

    bin_dir = Path(os.environ.get("PODKIT_BIN_DIR", DEFAULT_BIN_DIR)).resolve()
    tools = preflight(bin_dir)
    raise_fd_limit()
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="podkit-bench-ambassador-") as tmp:
        d = Path(tmp)
        pki = make_pki(tools.openssl, d)
        ps = peers(tools, pki, d)
        vs = versions(tools)
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        print(f"# {BASELINE} vs stunnel / haproxy / hitch  ({platform.release()}, {CORES} cores, "
              f"{cpu.group(1) if cpu else 'unknown CPU'})")
        print(f"# podkit binaries from {bin_dir}")
        for name, v in vs.items():
            print(f"#   {name}: {v}")
        print("# certificates: ECDSA P-256 CA, server (localhost, 127.0.0.1) and client certificates, shared by all;")
        print("# backend: podkit-tlsload backend (thread per connection, sinks and answers), the same for all;")
        print("# everything on 127.0.0.1, on the same cores as the load generator.")
        print(f"# load average at start: {loadavg()} (anything else busy on the machine skews every figure)")

        report: dict = {"meta": {**run_metadata(bin_dir, PACKAGES, {BASELINE: tools.ambassador,
                                                                    "podkit-tlsload": tools.tlsload}),
                                 "versions": vs}}
        report["bulk"] = bench_bulk(tools, pki, ps, d, args.bulk_mib * 2**20, args.bulk_runs)
        report["handshakes"] = bench_handshakes(tools, pki, ps, d, args.handshake_seconds, 1.0, args.concurrency)
        report["latency"] = bench_latency(tools, ps, d, [(1, 1, max(1, round(args.wrk_seconds * 0.6))),
                                                         (16, 2, args.wrk_seconds)], 1024)
        report["memory"] = bench_memory(tools, pki, ps, d, args.idle_conns)
        report["goals"] = goals(report)
    report["meta"]["duration_s"] = round(time.monotonic() - started, 1)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    try:
        shown = args.json.resolve().relative_to(REPO)
    except ValueError:
        shown = args.json
    print(f"\nload average at the end: {loadavg()} (this run's own load included)")
    print(f"raw figures: {shown}  (took {report['meta']['duration_s']} s)")

    # A peer failing is a figure (its reason is printed); podkit-ambassador failing means the build
    # or the machine is broken, which is an error.
    broken = [s for s, sec in (("bulk pair", report["bulk"]["pair"]), ("bulk termination", report["bulk"]["termination"]),
                               ("handshakes", report["handshakes"]["mtls"]), ("memory", report["memory"]))
              if "error" in sec["results"].get(BASELINE, {"error": "missing"})]
    if broken:
        sys.exit(f"bench/ambassador.py: could not measure {BASELINE} in: {', '.join(broken)}")


if __name__ == "__main__":
    main()
