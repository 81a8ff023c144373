#!/usr/bin/env bash
# podkit-probe demo: run the Compose "pod" next to this script (a backend that comes up late, an
# init container that waits for it, an app with a podkit-probe health check), show the order
# things happened in, the app turning healthy, a probe's JSON output, and what the probes say once
# the backend is gone. Cleans up after itself.
#
#   make demo                          # from the repository root: builds the images first
#   examples/compose/probe/demo.sh     # from anywhere, once `make images` has run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="$repo/target/x86_64-unknown-linux-musl/release"
project=podkit-probe-demo

compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# A container's start or finish time (from docker inspect) as seconds since the epoch.
epoch() { date -d "$(docker inspect -f "{{.State.$2}}" "$1")" +%s.%N; }
# The health check runs Docker keeps (the last 5), one a line: start time, exit code.
health_runs() {
  docker inspect -f '{{range .State.Health.Log}}{{.Start.Format "2006-01-02T15:04:05.999999999Z07:00"}} {{.ExitCode}}{{"\n"}}{{end}}' "$1" \
    | sed '/^$/d'
}
# Seconds from $1 to $2 (epoch seconds), with a sign.
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", b - a }'; }

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
for image in podkit/init:latest podkit/probe:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: run 'make images' first"
done
for binary in podkit-testhelper podkit-probe; do
  [[ -x "$bin/$binary" ]] || die "$bin/$binary is missing: run 'make build' first"
done

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
say "Starting the pod: backend (sleeps 2 s, then serves :8080), wait-for-backend (podkit/probe, the"
echo "    init container), and app, which Compose creates only once wait-for-backend exited 0."
if ! compose up -d 2>&1 | indent; then
  # Most likely the wait timed out (exit 3) and Compose refused to start the app: show why.
  compose logs --no-color wait-for-backend 2>&1 | tail -n 5 | indent
  die "the pod did not start"
fi
backend="$(compose ps -q backend)"
waiter="$(compose ps -q wait-for-backend)"
app="$(compose ps -q app)"
[[ -n "$backend" && -n "$waiter" && -n "$app" ]] || die "a container of the pod is missing"

say "wait-for-backend's log: failed attempts (debug level, backing off from 50 ms), then one line"
echo "    per target as it passed. Both targets are tried in parallel."
wait_log="$(docker logs "$waiter" 2>&1)"
printf '%s\n' "$wait_log" | awk '
  / not ready yet / { if (++retries <= 2) print; next }
  { if (retries > 2) { print "... " retries - 2 " more failed attempts"; retries = 2 } print }' | indent
wait_code="$(docker inspect -f '{{.State.ExitCode}}' "$waiter")"
echo "    exit code: $wait_code"

say "The order, from docker inspect and the backend's log (seconds after the backend started):"
t0="$(epoch "$backend" StartedAt)"
listening="$(docker logs -t "$backend" 2>&1 | awk '/listening/ { print $1; exit }')"
t_listening="$(date -d "$listening" +%s.%N)"
t_wait_start="$(epoch "$waiter" StartedAt)" t_wait_end="$(epoch "$waiter" FinishedAt)"
t_app="$(epoch "$app" StartedAt)"
printf '    %s  backend started\n' "$(delta "$t0" "$t0")"
printf '    %s  wait-for-backend started\n' "$(delta "$t0" "$t_wait_start")"
printf '    %s  backend listening on :8080\n' "$(delta "$t0" "$t_listening")"
printf '    %s  wait-for-backend exited %s\n' "$(delta "$t0" "$t_wait_end")" "$wait_code"
printf '    %s  app started\n' "$(delta "$t0" "$t_app")"

say "Waiting (at most 15 s) for the app's health check (podkit-probe, exec form) to say healthy."
health=""
for _ in $(seq 75); do
  health="$(docker inspect -f '{{.State.Health.Status}}' "$app")"
  [[ "$health" == starting ]] || break
  sleep 0.2
done
echo "    docker inspect -f '{{.State.Health.Status}}' app -> $health"
echo "    the probe's line, as Docker recorded it in .State.Health.Log:"
docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$app" | sed '/^$/d' | tail -n 1 | indent

say "A probe from inside the app's container, with --output json (one object per check):"
json="$(docker exec "$app" /podkit-probe --output json http http://backend:8080/)" && json_code=0 || json_code=$?
echo "    /podkit-probe --output json http http://backend:8080/ -> exit $json_code"
printf '%s\n' "$json" | indent

# --- Backend gone --------------------------------------------------------------------------------
say "Stopping the backend (docker-compose stop backend)."
compose stop --timeout 2 backend 2>&1 | indent

say "The app's probe of its dependency now fails: exit 3, unreachable (its name no longer resolves)."
tcp_out="$(docker exec "$app" /podkit-probe tcp backend:8080)" && tcp_code=0 || tcp_code=$?
echo "    /podkit-probe tcp backend:8080 -> exit $tcp_code"
printf '%s\n' "$tcp_out" | indent

say "An init container started now would give up after its timeout, and never run its command:"
wait2_out="$(docker exec "$app" /podkit-probe wait --timeout 2s tcp://backend:8080 -- /app append /dev/stdout "CMD ran")" \
  && wait2_code=0 || wait2_code=$?
echo "    /podkit-probe wait --timeout 2s tcp://backend:8080 -- CMD -> exit $wait2_code"
printf '%s\n' "$wait2_out" | indent

# The app's health check runs every second: wait (at most 5 s) for a run that started after the
# backend had stopped, and look at its exit code.
t_stopped="$(epoch "$backend" FinishedAt)"
last_run="" after_code=""
for _ in $(seq 25); do
  last_run="$(health_runs "$app" | tail -n 1)"
  if [[ -n "$last_run" ]] && awk -v a="$t_stopped" -v b="$(date -d "${last_run% *}" +%s.%N)" 'BEGIN { exit !(b > a) }'; then
    after_code="${last_run##* }"
    break
  fi
  sleep 0.2
done
health_after="$(docker inspect -f '{{.State.Health.Status}}' "$app")"
say "The app's own health check probes only the app, so the backend's outage does not touch it:"
echo "    a run after the stop exited ${after_code:-?}, and the status is still $health_after."
echo "    (A liveness probe that followed the backend would get the app restarted, fixing nothing.)"

# A quick self-check, so `make demo` fails loudly if any of this changes.
grep -q '^healthy tcp://backend:8080 ' <<<"$wait_log" || die "expected wait-for-backend to log 'healthy tcp://backend:8080'"
grep -q '^healthy http://backend:8080/ status=200 ' <<<"$wait_log" || die "expected wait-for-backend to log 'healthy http://backend:8080/ status=200'"
[[ "$wait_code" == 0 ]] || die "expected wait-for-backend to exit 0, got $wait_code"
awk -v a="$t_listening" -v b="$t_wait_end" -v c="$t_app" 'BEGIN { exit !(a <= b && b <= c) }' \
  || die "expected backend listening <= wait-for-backend exited <= app started"
[[ "$health" == healthy ]] || die "expected the app to turn healthy, got '$health'"
[[ "$json_code" == 0 ]] || die "expected the JSON probe to exit 0, got $json_code"
grep -qF '"result":"healthy"' <<<"$json" || die "expected '\"result\":\"healthy\"' in the JSON output"
grep -qF '"status":200' <<<"$json" || die "expected '\"status\":200' in the JSON output"
[[ "$tcp_code" == 3 ]] || die "expected the tcp probe of the stopped backend to exit 3, got $tcp_code"
grep -q '^unreachable backend:8080 ' <<<"$tcp_out" || die "expected 'unreachable backend:8080' from the tcp probe"
[[ "$wait2_code" == 3 ]] || die "expected the wait for the stopped backend to exit 3, got $wait2_code"
! grep -qF 'CMD ran' <<<"$wait2_out" || die "the wait ran its command although the backend was gone"
[[ "$after_code" == 0 ]] || die "expected the app's health check after the backend stopped to exit 0, got '${after_code:-no run}'"
[[ "$health_after" == healthy ]] || die "expected the app to stay healthy, got '$health_after'"

say "Cleaning up (docker-compose down)."
compose down --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
