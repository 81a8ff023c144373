#!/usr/bin/env python3
"""Benchmark podkit-git's shallow clone side by side with git's (`git clone --depth 1`,
Debian's /usr/bin/git), one after the other in one run, from the same local `git daemon`
serving a real, sizeable repository: wall time, CPU time, peak memory, what each leaves on disk.

Run from anywhere (it finds the repository from its own location):

    python3 bench/git.py           # what `make bench` runs
    python3 bench/git.py --help    # runs, depth, JSON path

The repository served is PODKIT_BENCH_GIT_REPO, by default the gitoxide repository mirrored at
/work/.mirror/GitoxideLabs+gitoxide/repo (a bare repository). Any bare repository or mirror
works; without one, `git clone --mirror https://github.com/GitoxideLabs/gitoxide.git DIR` makes
one (about 115 MB), then `PODKIT_BENCH_GIT_REPO=DIR python3 bench/git.py`.

  - podkit-git: `podkit-git --one-time --repo git://127.0.0.1:PORT/NAME --root DIR --depth 1`
    (fetch into DIR/.git, checkout into DIR/.worktrees/<sha>, the link swapped);
  - git: `git clone --depth 1 git://127.0.0.1:PORT/NAME DIR` (fetch, index-pack in a child
    process, checkout).
Both start with an empty HOME and GIT_CONFIG_NOSYSTEM=1, so that no user or system
configuration changes what either does. One warm-up clone each (the served repository into the
page cache), then --runs clones each, taking turns, the order swapped every round; medians.

Peak memory is ru_maxrss from wait4(2) on the client's process: the largest resident set of it
and of every child it waited for (git's index-pack), not their sum. The server's side
(git-upload-pack under git daemon) is the same for both and counted for neither.

It also prints the podkit/git image's size (when Docker answers and the image exists), beside
git-sync's published compressed size, which cannot be measured here (no registry to pull from).

It prints one table per measurement and writes bench/results/git-latest.json. It exits non-zero
only when a tool, the binary or the repository is missing, or a clone fails.

Python 3.11, standard library only. Needs no root.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import info, ratio, run_metadata, short_reason, stop_if_missing, table

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = REPO / "target" / "x86_64-unknown-linux-musl" / "release"
DEFAULT_SOURCE = Path("/work/.mirror/GitoxideLabs+gitoxide/repo")
RESULTS = REPO / "bench" / "results" / "git-latest.json"
BASELINE = "podkit-git"
IMAGE = "podkit/git:latest"
# Debian's git, the peer, whatever else is on PATH (a newer one in /usr/local/bin, say): the
# client, the server and the snapshot are all its.
GIT = "/usr/bin/git"

# git-sync's image cannot be pulled where these figures are taken. Its compressed size
# (linux/amd64), as Docker Hub shows it for a mirror of registry.k8s.io/git-sync/git-sync: a
# third party's copy, not the official registry's own figure.
GIT_SYNC_IMAGE = {
    "image": "registry.k8s.io/git-sync/git-sync:v4.6.0 (linux/amd64)",
    "compressed_bytes": 26_670_000,
    "shown": "26.67 MB compressed",
    "source": "https://hub.docker.com/r/davidst2017/git-sync-mirror/tags "
              "(\"Mirrors git-sync from registry.k8s.io\"; v4.6.0, linux/amd64)",
}

# Hang guards, not assertions.
CLONE_GUARD_S = 600
DAEMON_GUARD_S = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(args: list[str], env: dict, **kwargs) -> str:
    """Runs git to its end and returns its stdout; a failure ends the bench with git's reason."""
    done = subprocess.run([GIT, *args], capture_output=True, text=True, env=env, **kwargs)
    if done.returncode != 0:
        sys.exit(f"bench/git.py: git {' '.join(args[:3])} failed: {short_reason(done.stderr)}")
    return done.stdout


def served_repository(source: Path, workdir: Path, env: dict) -> tuple[Path, str, list[str]]:
    """The repository to serve: `source` itself when every blob of its HEAD's tree is there.
    A mirror copied without its largest files (as the default one is) cannot serve HEAD, and
    git and podkit-git alike fail on it; then a repository of its own in `workdir`, borrowing
    `source`'s objects (objects/info/alternates, nothing copied), whose HEAD is one commit, with
    no parent, of HEAD's tree less the missing blobs. Returns it and the paths left out."""
    entries = git(["--git-dir", str(source), "ls-tree", "-r", "-z", "HEAD"], env).split("\0")
    blobs = {}
    for entry in filter(None, entries):
        meta, path = entry.split("\t", 1)
        _, kind, oid = meta.split()
        if kind == "blob":
            blobs.setdefault(oid, []).append(path)
    checked = git(["--git-dir", str(source), "cat-file", "--batch-check"], env, input="\n".join(blobs) + "\n")
    missing = sorted(path for line in checked.splitlines() if line.endswith(" missing")
                     for path in blobs[line.split()[0]])
    if not missing:
        return source, source.name, []
    served = workdir / "served" / f"{source.name}-snapshot.git"
    git(["init", "--quiet", "--bare", str(served)], env)
    (served / "objects" / "info" / "alternates").write_text(f"{source / 'objects'}\n")
    index_env = {**env, "GIT_INDEX_FILE": str(workdir / "snapshot.index")}
    empty = workdir / "empty-worktree"
    empty.mkdir()
    git(["--git-dir", str(served), "read-tree", git(["--git-dir", str(source), "rev-parse", "HEAD"], env).strip()],
        index_env)
    git(["--git-dir", str(served), "--work-tree", str(empty), "update-index", "--force-remove", "-z", "--stdin"],
        index_env, input="\0".join(missing) + "\0")
    tree_id = git(["--git-dir", str(served), "write-tree"], index_env).strip()
    author = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
              "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    commit = git(["--git-dir", str(served), "commit-tree", tree_id, "-m", f"HEAD of {source} less missing blobs"],
                 {**env, **author}).strip()
    git(["--git-dir", str(served), "update-ref", "refs/heads/main", commit], env)
    git(["--git-dir", str(served), "symbolic-ref", "HEAD", "refs/heads/main"], env)
    return served, served.name, missing


def start_daemon(served: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """`git daemon` serving `served` (read-only: upload-pack only) on a free loopback port;
    returns it with the repository's git:// URL once `git ls-remote` answers."""
    port = free_port()
    daemon = subprocess.Popen(
        [GIT, "daemon", "--reuseaddr", "--export-all", "--informative-errors",
         f"--base-path={served.parent}", "--listen=127.0.0.1", f"--port={port}", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    url = f"git://127.0.0.1:{port}/{served.name}"
    deadline = time.monotonic() + DAEMON_GUARD_S
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            sys.exit(f"bench/git.py: git daemon exited {daemon.returncode}: {daemon.stderr.read().decode()[-500:]}")
        probe = subprocess.run([GIT, "ls-remote", url, "HEAD"], capture_output=True, text=True, env=env)
        if probe.returncode == 0 and probe.stdout.strip():
            return daemon, url
        time.sleep(0.1)
    daemon.kill()
    sys.exit(f"bench/git.py: git daemon did not serve {url} within {DAEMON_GUARD_S} s")


def run_measured(argv: list[str], env: dict) -> dict:
    """Runs argv to its end; wall time, CPU time and ru_maxrss of it and its waited-for children."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        raise
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    return {"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss, "code": proc.returncode, "stderr": stderr[-2000:]}


def disk_bytes(path: Path) -> int:
    """Bytes allocated under path (st_blocks), symlinks not followed: what `du -s` counts."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def tree(path: Path) -> dict[str, tuple[str, int]]:
    """Every entry under path but .git: kind and size (a symlink's target length), to compare
    two checkouts of the same commit."""
    entries = {}
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not (root == str(path) and d == ".git")]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            st = os.lstat(full)
            kind = "link" if os.path.islink(full) else ("exec" if st.st_mode & 0o111 else "file")
            entries[os.path.relpath(full, path)] = (kind, st.st_size)
    return entries


def podkit_clone(binary: Path, url: str, dest: Path, depth: int, env: dict) -> dict:
    r = run_measured([str(binary), "--one-time", "--repo", url, "--root", str(dest), "--link", "site",
                      "--depth", str(depth), "--sync-timeout", f"{CLONE_GUARD_S}s"], env)
    link = dest / "site"
    r["commit"] = os.path.basename(os.readlink(link)) if link.is_symlink() else None
    r["checkout"] = link
    return r


def git_clone(url: str, dest: Path, depth: int, env: dict) -> dict:
    r = run_measured([GIT, "clone", "--quiet", "--depth", str(depth), url, str(dest)], env)
    head = subprocess.run([GIT, "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True, env=env)
    r["commit"] = head.stdout.strip() if head.returncode == 0 else None
    r["checkout"] = dest
    return r


def image_sizes() -> dict | None:
    """podkit/git's size as Docker reports it, and the sum of its layers gzipped (level 6), what
    a registry stores and shows as compressed; None without a Docker engine or the image."""
    if shutil.which("docker") is None:
        return None
    inspect = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE], capture_output=True, text=True)
    if inspect.returncode != 0:
        return None
    with tempfile.TemporaryDirectory(prefix="podkit-bench-git-image-") as tmp:
        archive = Path(tmp) / "image.tar"
        saved = subprocess.run(["docker", "save", "-o", str(archive), IMAGE], capture_output=True, text=True)
        if saved.returncode != 0:
            return {"bytes": int(inspect.stdout.strip()), "compressed_bytes": None}
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
            compressed = 0
            for layer in manifest[0]["Layers"]:
                data = tar.extractfile(layer).read()
                compressed += len(gzip.compress(data, compresslevel=6))
    return {"bytes": int(inspect.stdout.strip()), "compressed_bytes": compressed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="clones of each tool, taking turns (default 5)")
    ap.add_argument("--depth", type=int, default=1, help="history to fetch (default 1)")
    ap.add_argument("--json", type=Path, default=RESULTS,
                    help=f"where to write raw figures (default {RESULTS.relative_to(REPO)})")
    args = ap.parse_args()

    bin_dir = Path(os.environ.get("PODKIT_BIN_DIR", DEFAULT_BIN_DIR)).resolve()
    source = Path(os.environ.get("PODKIT_BENCH_GIT_REPO", DEFAULT_SOURCE)).resolve()
    binary_source = bin_dir / BASELINE
    problems, packages = [], []
    if not binary_source.is_file():
        problems.append(f"{binary_source} is missing: build it first (make build)")
    if not os.access(GIT, os.X_OK):
        problems.append(f"{GIT} is missing: apt-get install -y git")
        packages.append("git")
    if not (source / "objects").is_dir() or not (source / "HEAD").is_file():
        problems.append(
            f"{source} is not a bare git repository: make one with "
            f"`git clone --mirror https://github.com/GitoxideLabs/gitoxide.git DIR` (any public "
            f"project will do) and set PODKIT_BENCH_GIT_REPO=DIR")
    stop_if_missing("git.py", problems, packages)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/git.py: terminated"))

    workdir = Path(tempfile.mkdtemp(prefix="podkit-bench-git-"))
    daemon = None
    try:
        binary = workdir / BASELINE
        shutil.copy2(binary_source, binary)
        home = workdir / "home"
        home.mkdir()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home),
               "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C"}
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        git_version = subprocess.run([GIT, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"# {version} vs {git_version}: a --depth {args.depth} clone over git:// from a local git daemon "
              f"({os.cpu_count()} cores)")
        print(f"# load average at start: {os.getloadavg()[0]:.2f} (anything else busy on the machine skews every figure)")
        served, _, left_out = served_repository(source, workdir, env)
        daemon, url = start_daemon(served, env)
        head = git(["--git-dir", str(served), "rev-parse", "HEAD"], env).strip()
        files = git(["--git-dir", str(served), "ls-tree", "-r", "--name-only", "HEAD"], env).count("\n")
        pack_bytes = sum(p.stat().st_size for p in (source / "objects" / "pack").glob("*.pack"))
        print(f"# repository: {source} (packs {pack_bytes / 1e6:.0f} MB), served as {url}: "
              f"HEAD {head[:12]}, {files} files")
        if left_out:
            print(f"# {len(left_out)} blobs of its HEAD are missing from it (a copy without its largest files): "
                  f"served one commit of HEAD's tree without them, borrowing its objects: {', '.join(left_out)}")
        report: dict = {"meta": {**run_metadata(bin_dir, ("git",), {BASELINE: binary}), "version": version,
                                 "git": git_version},
                        "source": str(source), "served": str(served), "left_out": left_out, "url": url,
                        "head": head, "files": files,
                        "pack_bytes": pack_bytes, "depth": args.depth, "runs": []}

        tools = {
            "podkit-git": lambda dest: podkit_clone(binary, url, dest, args.depth, env),
            "git clone": lambda dest: git_clone(url, dest, args.depth, env),
        }
        results: dict[str, list[dict]] = {name: [] for name in tools}
        checked = None
        for round_ in range(args.runs + 1):
            order = list(tools) if round_ % 2 == 0 else list(reversed(tools))
            done = {}
            for name in order:
                dest = workdir / f"clone-{round_}-{name.replace(' ', '-')}"
                label = "warm-up" if round_ == 0 else f"run {round_} of {args.runs}"
                info(f"{label}: {name}")
                r = tools[name](dest)
                if r["code"] != 0:
                    sys.exit(f"bench/git.py: {name} failed (exit {r['code']}): {short_reason(r['stderr'])}")
                r["disk_bytes"] = disk_bytes(dest)
                info(f"  {r['seconds']:.2f} s, {r['maxrss_kb'] / 1024:.1f} MiB peak")
                done[name] = (r, dest)
                if round_ > 0:
                    results[name].append({k: v for k, v in r.items() if k not in ("checkout", "stderr")})
            if checked is None:
                # Once: both published the served HEAD, with the same files.
                (p, _), (g, _) = done["podkit-git"], done["git clone"]
                same_commit = p["commit"] == g["commit"] == head
                same_tree = tree(p["checkout"]) == tree(g["checkout"])
                checked = {"same_commit": same_commit, "same_tree": same_tree, "entries": len(tree(g["checkout"]))}
                report["checked"] = checked
                if not (same_commit and same_tree):
                    sys.exit(f"bench/git.py: the two clones differ: {checked}")
            for _, dest in done.values():
                shutil.rmtree(dest)
            report["runs"].append({name: {k: v for k, v in r.items() if k not in ("checkout", "stderr")}
                                   for name, (r, _) in done.items()})

        def figures(runs: list[dict]) -> dict:
            return {"seconds": statistics.median(r["seconds"] for r in runs),
                    "min_s": min(r["seconds"] for r in runs), "max_s": max(r["seconds"] for r in runs),
                    "cpu_s": statistics.median(r["cpu_s"] for r in runs),
                    "maxrss_kb": statistics.median(r["maxrss_kb"] for r in runs),
                    "disk_bytes": statistics.median(r["disk_bytes"] for r in runs)}

        fig = {name: figures(runs) for name, runs in results.items()}
        report["figures"] = fig
        base = fig["git clone"]
        rows = []
        for name, f in fig.items():
            rows.append([name, f"{f['seconds']:.3f} s", f"{f['min_s']:.3f}-{f['max_s']:.3f} s",
                         ratio(f["seconds"], base["seconds"]), f"{f['cpu_s']:.3f} s", ratio(f["cpu_s"], base["cpu_s"]),
                         f"{f['maxrss_kb'] / 1024:.1f} MiB", ratio(f["maxrss_kb"], base["maxrss_kb"]),
                         f"{f['disk_bytes'] / 1e6:.1f} MB"])
        table(f"--depth {args.depth} clone of {source.name} ({files} files at HEAD), median of {args.runs}, taking turns",
              ["tool", "wall", "range", "vs git", "CPU", "vs git", "peak RSS", "vs git", "on disk"], rows,
              notes=["wall: from the start of the client to its exit, fetch and checkout; the server (git daemon, "
                     "git-upload-pack) is the same for both",
                     "CPU: user + system of the client and the children it waited for (git's index-pack)",
                     "peak RSS: ru_maxrss from wait4(2), the largest process of the client's tree, not their sum",
                     "on disk: podkit-git's --root (.git and the worktree) against git's clone directory (.git and "
                     "the checkout)",
                     f"checked once: both checked out {head[:12]}, with the same {checked['entries']} "
                     "entries (path, kind, size)"])

        sizes = image_sizes()
        report["image"] = {"podkit": sizes, "git_sync": GIT_SYNC_IMAGE}
        if sizes is None:
            image_rows = [["podkit/git", "not measured: no Docker engine answers or the image is missing (make images)"]]
        else:
            image_rows = [["podkit/git", f"{sizes['bytes']:,}",
                           "n/a" if sizes["compressed_bytes"] is None else f"{sizes['compressed_bytes']:,}",
                           ratio(sizes["compressed_bytes"], GIT_SYNC_IMAGE["compressed_bytes"])]]
        image_rows.append(["git-sync v4.6.0", "not published", f"{GIT_SYNC_IMAGE['compressed_bytes']:,}", "1.00x"])
        table("Image size", ["image", "bytes (docker inspect)", "compressed", "vs git-sync"], image_rows,
              notes=["podkit/git compressed: its layers gzipped at level 6, as a registry stores them",
                     f"git-sync: not pullable here; {GIT_SYNC_IMAGE['shown']} ({GIT_SYNC_IMAGE['image']}) as shown at "
                     f"{GIT_SYNC_IMAGE['source']}"])

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        info(f"raw figures: {args.json}")
    finally:
        if daemon is not None:
            # git daemon forks upload-pack per connection: stop its whole session.
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
