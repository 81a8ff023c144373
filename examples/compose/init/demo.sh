#!/usr/bin/env bash
# podkit-init demo: run the Compose "pod" next to this script, call its app, look at the process
# tree, stop it, and show podkit-init's stop sequence and exit code. Cleans up after itself.
#
#   make demo                          # from the repository root: builds the images first
#   examples/compose/init/demo.sh      # from anywhere, once `make images` has run
#
# Environment: PODKIT_DEMO_PORT (host port for the app, default 18080).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
helper="$repo/target/x86_64-unknown-linux-musl/release/podkit-testhelper"
project=podkit-demo
export PODKIT_DEMO_PORT="${PODKIT_DEMO_PORT:-18080}"
url="http://127.0.0.1:$PODKIT_DEMO_PORT/"

compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# The container's stdout and stderr in the order they were written: `docker logs` prints the two
# streams separately, so merge them on Docker's own timestamps (-t), then drop those.
container_log() { docker logs -t "$cid" 2>&1 | sort -s -k1,1 | cut -d' ' -f2-; }

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
command -v curl >/dev/null || die "curl is not installed"
docker image inspect podkit/init:latest >/dev/null 2>&1 \
  || die "image podkit/init:latest is missing: run 'make images' first"
[[ -x "$helper" ]] || die "$helper is missing: run 'make build' first"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  compose down --timeout 1 --remove-orphans >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Up ------------------------------------------------------------------------------------------
compose down --timeout 1 --remove-orphans >/dev/null 2>&1 || true # leftovers of an aborted run
say "Starting the pod: podkit/init as PID 1, the test helper as its app (serve-http :8080)."
compose up -d 2>&1 | indent || die "the pod did not start (is port $PODKIT_DEMO_PORT taken? set PODKIT_DEMO_PORT)"
cid="$(compose ps -q app)"
[[ -n "$cid" ]] || die "the app container did not start"

say "Waiting (at most 10 s) until the app answers on $url"
answer=""
for _ in $(seq 50); do
  if answer="$(curl -sS --max-time 1 "$url" 2>/dev/null)"; then break; fi
  answer=""
  sleep 0.2
done
[[ -n "$answer" ]] || { docker logs "$cid" 2>&1 | indent; die "the app never answered on $url"; }
echo "    curl $url -> $answer"

say "Startup log: the app's own lines, and the post-start hook podkit-init ran once it started."
sleep 0.2 # the hook's lines may trail the first answer
container_log | indent

say "The process tree (host PIDs): podkit-init, the app, its child, and a setsid() grandchild."
docker top "$cid" -o pid,ppid,pgid,sid,stat,comm | awk '
  NR == 1 { print; next }
  NR == 2 { root = $1; print $0 "   <- podkit-init, PID 1 in the container"; next }
  $2 == root { print $0 "   <- the app (serve-http), podkit-init'"'"'s child"; next }
  $1 == $4 { print $0 "   <- own session (setsid), ignores SIGTERM: forwarding cannot reach it"; next }
  { print $0 "   <- the app'"'"'s child, in its process group" }' | indent

# --- Stop ----------------------------------------------------------------------------------------
say "docker-compose stop: Docker sends SIGTERM to PID 1 and waits up to 10 s (stop_grace_period)."
start=$(date +%s.%N)
compose stop 2>&1 | indent
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if awk -v t="$took" 'BEGIN { exit !(t < 10) }'; then
  echo "    stopped after ${took}s: podkit-init exited by itself, before Docker's SIGKILL at 10 s"
else
  echo "    stopped after ${took}s: Docker had to SIGKILL podkit-init (unexpected)"
fi

say "Stop log: 1 s stop delay, pre-stop hook, SIGTERM to the app (which dies of it), SIGKILL of the"
echo "    setsid straggler when the 5 s grace ends (it ignored SIGTERM), then podkit-init's exit line."
logs="$(container_log)"
printf '%s\n' "$logs" | sed -n '/podkit-init: stopping /,$p' | indent

code="$(docker inspect -f '{{.State.ExitCode}}' "$cid")"
say "Exit code from docker inspect: $code."
if [[ "$code" == 143 ]]; then
  echo "    128+15: podkit-init exits with the app's status, and SIGTERM killed the app"
  echo "    (--remap-exit 143:0 would report it as 0)."
fi

# A quick self-check, so `make demo` fails loudly if the stop sequence changes.
for expected in 'podkit-init: stopping ' 'hook=pre-stop' 'grace period over' 'podkit-init: exiting '; do
  grep -qF "$expected" <<<"$logs" || die "expected a log line with '$expected'"
done
[[ "$code" == 143 ]] || die "expected exit code 143, got $code"

say "Cleaning up (docker-compose down)."
compose down --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
