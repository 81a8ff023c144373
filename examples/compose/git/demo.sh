#!/usr/bin/env bash
# podkit-git demo: run the Compose "pod" next to this script. A site's repository, made here with
# the host's git as a bare repository, is cloned by podkit-git as an init container into a volume;
# the test helper serves that volume over HTTP; podkit-git as a sidecar picks up a commit pushed
# to the repository, and the served page changes. Shows each step, the sidecar's /metrics, and
# the sidecar exiting 0 on SIGTERM. Cleans up after itself.
#
#   make demo                             # from the repository root: builds the images first
#   examples/compose/git/demo.sh          # from anywhere, once `make images` has run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
helper="$repo/target/x86_64-unknown-linux-musl/release/podkit-testhelper"
project=podkit-git-demo

compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# The host's git, on the demo's repositories only: no system or user configuration (a signing
# key, hooks, another default branch) changes what it does.
hostgit() {
  GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=demo -c user.email=demo@example.com \
    -c init.defaultBranch=main "$@"
}
# The served page, from the port Compose published on the host's loopback.
page() { curl --silent --show-error --fail --max-time 5 "http://$web_addr/index.html"; }
metrics() { curl --silent --show-error --fail --max-time 5 "http://$metrics_addr/metrics"; }
# One sample's value from metrics text on stdin: metric() NAME{LABELS} (0 when absent).
metric() { awk -v name="$1" '$1 == name { value = $2 } END { print value + 0 }'; }
container_log() { docker logs "$1" 2>&1; }

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
command -v curl >/dev/null || die "curl is not installed (it reads the served page and /metrics)"
command -v git >/dev/null || die "git is not installed (it makes the site's repository on the host)"
for image in podkit/git:latest podkit/init:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: run 'make images' first"
done
[[ -x "$helper" ]] || die "$helper is missing: run 'make build' first"

# Readable by the containers' user 65532: the directories 0755, the files 0644 (git's objects
# 0444), whatever the caller's umask.
umask 022
work="$(mktemp -d "${TMPDIR:-/tmp}/podkit-git-demo.XXXXXX")"
chmod 0755 "$work"
export PODKIT_DEMO_SRC="$work/src"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # -v: the site volume too, the pod's emptyDir.
  compose down -v --timeout 1 --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- The site's repository -----------------------------------------------------------------------
say "The site's repository, made with the host's git ($(git --version)): a working copy in"
echo "    $work/site, pushing to the bare repository $PODKIT_DEMO_SRC/site.git (the \"server\")."
mkdir "$work/site" "$PODKIT_DEMO_SRC"
hostgit init --quiet --bare "$PODKIT_DEMO_SRC/site.git"
hostgit -C "$work/site" init --quiet
printf '<h1>Hello from the first commit</h1>\n' >"$work/site/index.html"
printf 'User-agent: *\n' >"$work/site/robots.txt"
hostgit -C "$work/site" add index.html robots.txt
hostgit -C "$work/site" commit --quiet -m "The first page"
hostgit -C "$work/site" remote add origin "$PODKIT_DEMO_SRC/site.git"
hostgit -C "$work/site" push --quiet origin main
first="$(hostgit -C "$work/site" rev-parse HEAD)"
hostgit -C "$work/site" log --format='commit %H %s' | indent

# --- Up ------------------------------------------------------------------------------------------
compose down -v --timeout 1 --remove-orphans >/dev/null 2>&1 || true # leftovers of an aborted run
say "Starting the pod: clone (podkit-git --one-time, the init container) first; web (the test"
echo "    helper serving /git/site) and sync (podkit-git --period 1s, the sidecar) once it exited 0."
if ! compose up -d 2>&1 | indent; then
  clone="$(compose ps -q clone || true)"
  [[ -n "$clone" ]] && container_log "$clone" | sed 's/^/    clone: /'
  die "the pod did not start"
fi
clone="$(compose ps -q clone)"
web="$(compose ps -q web)"
sync="$(compose ps -q sync)"
[[ -n "$clone" && -n "$web" && -n "$sync" ]] || die "a container of the pod is missing"
clone_code="$(docker inspect -f '{{.State.ExitCode}}' "$clone")"
echo "    clone exited $clone_code; its log:"
container_log "$clone" | sed 's/^/    clone: /'
web_addr="$(compose port web 8080)" || true
metrics_addr="$(compose port web 9090)" || true
[[ -n "$web_addr" && -n "$metrics_addr" ]] || die "the pod's ports were not published"

say "Waiting (at most 15 s) for the web server to listen and the sidecar's /readyz:"
ready=""
for _ in $(seq 75); do
  if container_log "$web" | grep -q '^listening ' \
    && curl --silent --fail --max-time 1 "http://$metrics_addr/readyz" >/dev/null; then
    ready=yes
    break
  fi
  sleep 0.2
done
[[ -n "$ready" ]] || die "the pod did not turn ready; sync's log: $(container_log "$sync")"
container_log "$web" | grep '^listening ' | sed 's/^/    web:  /'
container_log "$sync" | sed 's/^/    sync: /'

say "The page, as served (curl http://$web_addr/index.html):"
before="$(page)" || die "the web server did not serve the page"
indent <<<"$before"

# --- A new commit --------------------------------------------------------------------------------
say "A new commit, pushed to the bare repository with the host's git:"
printf '<h1>Hello from the second commit</h1>\n' >"$work/site/index.html"
hostgit -C "$work/site" commit --quiet -am "A new page"
hostgit -C "$work/site" push --quiet origin main
second="$(hostgit -C "$work/site" rev-parse HEAD)"
echo "    commit $second A new page"

say "Waiting (at most 30 s) for the served page to change:"
after=""
for _ in $(seq 150); do
  after="$(page)" || die "the web server stopped serving the page"
  [[ "$after" != "$before" ]] && break
  sleep 0.2
done
[[ "$after" != "$before" ]] || die "the page did not change within 30 s; sync's log: $(container_log "$sync")"
indent <<<"$after"
echo "    the sidecar's log of it:"
container_log "$sync" | grep -F " published " | tail -n 1 | sed 's/^/    sync: /'

say "The sidecar's /metrics (curl http://$metrics_addr/metrics):"
final="$(metrics)" || die "could not read the sidecar's /metrics"
grep -E '^podkit_git_(syncs_total|commit_info|sync_duration_seconds_count)' <<<"$final" | indent

# --- Stop ----------------------------------------------------------------------------------------
say "Stopping the pod (docker-compose stop: SIGTERM, then SIGKILL after stop_grace_period)."
compose stop 2>&1 | indent
sync_code="$(docker inspect -f '{{.State.ExitCode}}' "$sync")"
echo "    sync exited $sync_code; its last line:"
container_log "$sync" | tail -n 1 | indent

# A quick self-check, so `make demo` fails loudly if any of this changes.
[[ "$clone_code" == 0 ]] || die "expected the init container to exit 0, got $clone_code"
container_log "$clone" | grep -qF "published commit=$first previous=none" \
  || die "expected the init container to publish $first"
[[ "$before" == "<h1>Hello from the first commit</h1>" ]] || die "expected the first page, got: $before"
[[ "$after" == "<h1>Hello from the second commit</h1>" ]] || die "expected the second page, got: $after"
container_log "$sync" | grep -qF "published commit=$second previous=$first" \
  || die "expected the sidecar to publish $second over $first"
[[ "$(metric "podkit_git_commit_info{sha=\"$second\"}" <<<"$final")" == 1 ]] \
  || die "expected podkit_git_commit_info to name $second"
[[ "$(grep -c '^podkit_git_commit_info{' <<<"$final")" == 1 ]] \
  || die "expected one podkit_git_commit_info series, the commit published now"
[[ "$(metric 'podkit_git_syncs_total{result="published"}' <<<"$final")" == 1 ]] \
  || die "expected the sidecar to count 1 publish (the first was the init container's)"
[[ "$sync_code" == 0 ]] || die "expected the sidecar to exit 0 after SIGTERM, got $sync_code"
container_log "$sync" | tail -n 1 | grep -qF 'stopping' || die "expected the sidecar's last line to say it is stopping"

say "Cleaning up (docker-compose down -v)."
compose down -v --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
