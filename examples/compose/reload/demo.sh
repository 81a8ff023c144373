#!/usr/bin/env bash
# podkit-reload demo: run the Compose "pod" next to this script (an app with a reload endpoint on
# its loopback, and podkit-reload watching a configuration directory written here the way the
# kubelet writes a ConfigMap volume). Show an update firing the webhook once, a rewrite of the
# same content firing nothing, the counters on /metrics, and podkit-reload exiting 0 on SIGTERM.
# Cleans up after itself.
#
#   make demo                             # from the repository root: builds the images first
#   examples/compose/reload/demo.sh       # from anywhere, once `make images` has run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
helper="$repo/target/x86_64-unknown-linux-musl/release/podkit-testhelper"
project=podkit-reload-demo
# Longer than podkit-reload's --debounce (500ms): a spurious firing would have happened by then.
settle=2

compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# podkit-reload's /metrics, from the port Compose published on the host's loopback.
metrics() { curl --silent --show-error --fail --max-time 5 "http://$metrics_addr/metrics"; }
# One sample's value from metrics text on stdin: metric() NAME{LABELS} (0 when absent).
metric() { awk -v name="$1" '$1 == name { value = $2 } END { print value + 0 }'; }
webhook_ok='podkit_reload_reloads_total{action="webhook",result="success"}'
webhook_failed='podkit_reload_reloads_total{action="webhook",result="failure"}'
# Waits (at most 15 s) until the webhook's success counter reaches $1.
wait_for_webhooks() {
  for _ in $(seq 75); do
    (($(metrics | metric "$webhook_ok") >= $1)) && return 0
    sleep 0.2
  done
  return 1
}
reload_log() { docker logs "$reload" 2>&1; }
# The volume's entries, as `ls -la` would show them: directories and where each symlink points.
show_volume() {
  find "$config" -mindepth 1 -maxdepth 1 \( -type l -printf '%P -> %l\n' \) -o \( -type d -printf '%P/\n' \) \
    | sort | indent
}

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
command -v curl >/dev/null || die "curl is not installed (it reads podkit-reload's /metrics)"
for image in podkit/init:latest podkit/reload:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: run 'make images' first"
done
[[ -x "$helper" ]] || die "$helper is missing: run 'make build' first"

config="$(mktemp -d "${TMPDIR:-/tmp}/podkit-reload-demo.XXXXXX")"
export PODKIT_DEMO_CONFIG="$config"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  compose down --timeout 1 --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$config"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- The ConfigMap volume ------------------------------------------------------------------------
# Writes the volume $config from KEY CONTENT pairs in the kubelet's order (its AtomicWriter): the
# files into a new timestamped directory named after the UTC time with a random suffix, a
# `..data_tmp` symlink to it renamed over `..data` (the commit: every key switches at once), a
# `KEY -> ..data/KEY` symlink for each new key, then the old directory removed. The kubelet skips
# all of it when the content is unchanged; this function always writes, which is what the kubelet
# does when only the files' mode changes: the harshest no-op for a watcher.
configmap() {
  local version old key
  version="..$(date -u +%Y_%m_%d_%H_%M_%S).$SRANDOM"
  old="$(readlink "$config/..data" || true)"
  mkdir -m 0755 "$config/$version"
  while (($# >= 2)); do
    printf '%s' "$2" >"$config/$version/$1" && chmod 0644 "$config/$version/$1"
    shift 2
  done
  ln -s "$version" "$config/..data_tmp" && mv -T "$config/..data_tmp" "$config/..data"
  for key in "$config/$version"/*; do
    key="${key##*/}"
    [[ -L "$config/$key" ]] || ln -s "..data/$key" "$config/$key"
  done
  # (Keys never vanish here; the kubelet would also remove the links of vanished ones.)
  if [[ -n "$old" ]]; then rm -rf "${config:?}/$old"; fi
}

say "The app's configuration, a ConfigMap volume written the kubelet's way into $config:"
chmod 0755 "$config"
configmap app.yaml $'greeting: hello\nworkers: 2\n'
show_volume
first_version="$(readlink "$config/..data")"

# --- Up ------------------------------------------------------------------------------------------
compose down --timeout 1 --remove-orphans >/dev/null 2>&1 || true # leftovers of an aborted run
say "Starting the pod: app (the test helper on 127.0.0.1:8080) and reload (podkit-reload,"
echo "    watching /etc/app/config, webhook http://127.0.0.1:8080/-/reload)."
compose up -d 2>&1 | indent || die "the pod did not start"
app="$(compose ps -q app)"
reload="$(compose ps -q reload)"
[[ -n "$app" && -n "$reload" ]] || die "a container of the pod is missing"
metrics_addr="$(compose port app 9090)" || true
[[ -n "$metrics_addr" ]] || die "podkit-reload's metrics port was not published"

say "Waiting (at most 15 s) for the app to listen and podkit-reload's /readyz:"
ready=""
for _ in $(seq 75); do
  if docker logs "$app" 2>&1 | grep -q '^listening ' \
    && curl --silent --fail --max-time 1 "http://$metrics_addr/readyz" >/dev/null; then
    ready=yes
    break
  fi
  sleep 0.2
done
[[ -n "$ready" ]] || die "the pod did not turn ready; podkit-reload's log: $(reload_log)"
docker logs "$app" 2>&1 | grep '^listening ' | sed 's/^/    app:    /'
reload_log | sed 's/^/    reload: /'

# --- A real change -------------------------------------------------------------------------------
say "Update 1: workers 2 -> 4. New files in a new directory, then one rename of ..data:"
configmap app.yaml $'greeting: hello\nworkers: 4\n'
show_volume
wait_for_webhooks 1 || die "the webhook was not called within 15 s; podkit-reload's log: $(reload_log)"
echo "    podkit-reload's log: the change, then the webhook answered 2xx by the app:"
reload_log | grep -E ' (changed|reloaded|reload failed)' | indent
sleep "$settle"
after_update="$(metrics)" || die "could not read podkit-reload's /metrics"
echo "    after ${settle} s more: $webhook_ok $(metric "$webhook_ok" <<<"$after_update")"

# --- A rewrite of the same content ---------------------------------------------------------------
say "Update 2: the same content again, every step of an update (a new timestamped directory, a"
echo "    ..data swap, the old directory removed) and not one byte different:"
configmap app.yaml $'greeting: hello\nworkers: 4\n'
show_volume
sleep "$settle"
after_rewrite="$(metrics)" || die "could not read podkit-reload's /metrics"
echo "    after ${settle} s: $webhook_ok $(metric "$webhook_ok" <<<"$after_rewrite")"
echo "    (podkit-reload compares content hashes: events alone never fire the webhook)"

say "Update 3: greeting hello -> bonjour, a real change again:"
configmap app.yaml $'greeting: bonjour\nworkers: 4\n'
wait_for_webhooks 2 || die "the webhook was not called for update 3; podkit-reload's log: $(reload_log)"
reload_log | grep -E ' (changed|reloaded|reload failed)' | tail -n 2 | indent

# --- Metrics -------------------------------------------------------------------------------------
say "podkit-reload's /metrics (curl http://$metrics_addr/metrics):"
final="$(metrics)" || die "could not read podkit-reload's /metrics"
grep -E '^podkit_reload_(reloads_total|last_success_timestamp_seconds|content_info|commit_to_reload_seconds_(count|sum))' \
  <<<"$final" | indent
echo "    (commit_to_reload: from the kubelet's commit, the timestamped directory's name, to the"
echo "    webhook's answer; that name has whole seconds only)"

# --- Stop ----------------------------------------------------------------------------------------
say "Stopping the pod (docker-compose stop: SIGTERM, then SIGKILL after stop_grace_period)."
compose stop 2>&1 | indent
reload_code="$(docker inspect -f '{{.State.ExitCode}}' "$reload")"
echo "    reload exited $reload_code; its last line:"
reload_log | tail -n 1 | indent

# A quick self-check, so `make demo` fails loudly if any of this changes.
changes="$(reload_log | grep -c ' changed ' || true)"
[[ "$(metric "$webhook_ok" <<<"$after_update")" == 1 ]] \
  || die "expected 1 successful webhook after update 1, got $(metric "$webhook_ok" <<<"$after_update")"
[[ "$(readlink "$config/..data")" != "$first_version" ]] || die "expected the rewrite to swap ..data"
[[ "$(metric "$webhook_ok" <<<"$after_rewrite")" == 1 ]] \
  || die "expected the rewrite of the same content to fire nothing, got $(metric "$webhook_ok" <<<"$after_rewrite") webhooks"
[[ "$(metric "$webhook_ok" <<<"$final")" == 2 ]] \
  || die "expected 2 successful webhooks at the end (updates 1 and 3), got $(metric "$webhook_ok" <<<"$final")"
[[ "$(metric "$webhook_failed" <<<"$final")" == 0 ]] || die "expected no failed webhook"
[[ "$changes" == 2 ]] || die "expected podkit-reload to log 2 changes, got $changes"
[[ "$(grep -c '^podkit_reload_content_info{' <<<"$final")" == 1 ]] \
  || die "expected one podkit_reload_content_info series, the content applied last"
[[ "$(metric podkit_reload_commit_to_reload_seconds_count <<<"$final")" == 2 ]] \
  || die "expected 2 commit-to-reload observations"
[[ "$reload_code" == 0 ]] || die "expected podkit-reload to exit 0 after SIGTERM, got $reload_code"
reload_log | tail -n 1 | grep -qF 'stopping' || die "expected podkit-reload's last line to say it is stopping"

say "Cleaning up (docker-compose down)."
compose down --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
