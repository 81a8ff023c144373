#!/usr/bin/env bash
# podkit-metrics demo: run the Compose "pod" next to this script (an app that sends StatsD to its
# pod's loopback and writes an access log to a shared volume, and podkit-metrics adapting both for
# Prometheus). Have the app serve a few requests, show what /metrics says about them, what the
# mapping file did to each StatsD line and what bad input becomes, and podkit-metrics exiting 0 on
# SIGTERM. Cleans up after itself.
#
#   make demo                             # from the repository root: builds the images first
#   examples/compose/metrics/demo.sh      # from anywhere, once `make images` has run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
helper="$repo/target/x86_64-unknown-linux-musl/release/podkit-testhelper"
project=podkit-metrics-demo
log=/var/log/app/app.log

compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# podkit-metrics' /metrics, from the port Compose published on the host's loopback.
metrics() { curl --silent --show-error --fail --max-time 5 "http://$metrics_addr/metrics"; }
# One sample's value from metrics text on stdin: metric() NAME{LABELS} (0 when absent).
metric() { awk -v name="$1" '$1 == name { value = $2 } END { print value + 0 }'; }
metrics_log() { docker logs "$sidecar" 2>&1; }

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
command -v curl >/dev/null || die "curl is not installed (it reads podkit-metrics' /metrics)"
for image in podkit/init:latest podkit/metrics:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: run 'make images' first"
done
[[ -x "$helper" ]] || die "$helper is missing: run 'make build' first"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # -v: the `logs` volume too, the pod's emptyDir.
  compose down -v --timeout 1 --remove-orphans >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Up ------------------------------------------------------------------------------------------
compose down -v --timeout 1 --remove-orphans >/dev/null 2>&1 || true # leftovers of an aborted run
say "Starting the pod: app (the test helper, on the pod's loopback) and metrics (podkit-metrics:"
echo "    StatsD on udp 127.0.0.1:9125, the app's log $log, /metrics on :9102)."
compose up -d 2>&1 | indent || die "the pod did not start"
app="$(compose ps -q app)"
sidecar="$(compose ps -q metrics)"
[[ -n "$app" && -n "$sidecar" ]] || die "a container of the pod is missing"
metrics_addr="$(compose port app 9102)" || true
[[ -n "$metrics_addr" ]] || die "podkit-metrics' port was not published"

say "Waiting (at most 15 s) for the app to listen and podkit-metrics' /readyz:"
ready=""
for _ in $(seq 75); do
  if docker logs "$app" 2>&1 | grep -q '^listening ' \
    && curl --silent --fail --max-time 1 "http://$metrics_addr/readyz" >/dev/null; then
    ready=yes
    break
  fi
  sleep 0.2
done
[[ -n "$ready" ]] || die "the pod did not turn ready; podkit-metrics' log: $(metrics_log)"
docker logs "$app" 2>&1 | grep '^listening ' | sed 's/^/    app:     /'
metrics_log | sed 's/^/    metrics: /'

# --- The app at work -----------------------------------------------------------------------------
# One request served, as the app reports it: an access-log line appended to its log (one write),
# then the request's StatsD lines in one datagram to the sidecar, as a client library batches
# them. Run in the app's container, so 127.0.0.1 is the pod's loopback and the log is its volume.
serve() { # serve METHOD PATH STATUS SECONDS STATSD-LINES...
  local access="$1 $2 $3 $4" batch
  batch="$(printf '%s\n' "${@:5}")"
  docker exec "$app" /app append "$log" "$access" then send-udp 127.0.0.1:9125 "$batch" >/dev/null \
    || die "the app could not report a request"
  printf '    %-24s StatsD: %s\n' "$access" "${*:5}"
}
say "The app serves 4 requests; for each, an access-log line and a StatsD datagram:"
serve GET /cart 200 0.042 'shop.cart.items:3|g'
serve POST /checkout 200 0.120 'shop.orders.card:1|c|#region:eu' 'shop.checkout.duration:120|ms'
serve POST /checkout 200 0.350 'shop.orders.card:1|c|#region:eu' 'shop.checkout.duration:350|ms' \
  'shop.debug.cache_miss:1|c'
serve POST /checkout 503 1.300 'shop.orders.paypal:1|c|#region:us' 'shop.checkout.duration:1300|ms' \
  'shop.cart.items:0|g'
say "And one datagram that is not StatsD, from a client with a bug:"
docker exec "$app" /app send-udp 127.0.0.1:9125 'shop.orders.card=1 count' >/dev/null \
  || die "the app could not send"
echo "    shop.orders.card=1 count"

# What the requests above must add up to, once podkit-metrics has read all of it.
orders_card='shop_orders_total{payment="card",region="eu"}'
orders_paypal='shop_orders_total{payment="paypal",region="us"}'
requests_ok='shop_http_requests_total{code="2xx",method="POST"}'
requests_failed='shop_http_requests_total{code="5xx",method="POST"}'
parse_errors='podkit_metrics_statsd_parse_errors_total{reason="malformed_line"}'
say "Waiting (at most 15 s) for /metrics to count every request and the bad datagram:"
final=""
for _ in $(seq 75); do
  scraped="$(metrics)" || die "could not read podkit-metrics' /metrics"
  if [[ "$(metric "$orders_card" <<<"$scraped")" == 2 \
    && "$(metric shop_checkout_seconds_count <<<"$scraped")" == 3 \
    && "$(metric shop_http_request_seconds_count <<<"$scraped")" == 4 \
    && "$(metric "$parse_errors" <<<"$scraped")" == 1 ]]; then
    final="$scraped"
    break
  fi
  sleep 0.2
done
[[ -n "$final" ]] || die "/metrics did not count the requests within 15 s; it shows:
$(grep -E '^(shop_|podkit_metrics_(statsd|log|events))' <<<"$scraped")
podkit-metrics' log: $(metrics_log)"

# --- What a user sees ----------------------------------------------------------------------------
say "The app's metrics, from StatsD (curl http://$metrics_addr/metrics):"
grep -E '^(shop_orders_total|shop_cart_items|shop_checkout_seconds_(bucket|sum|count))' <<<"$final" | indent
echo "    (shop.debug.cache_miss was dropped by the mapping: no series)"
say "The app's metrics, from its log:"
grep -E '^shop_http_request(s_total|_seconds_(bucket|sum|count))' <<<"$final" | indent
say "podkit-metrics' own metrics: what it read, skipped and dropped, and the series it holds:"
grep -E '^podkit_metrics_(statsd_(packets|lines)_total |statsd_parse_errors_total\{reason="malformed_line"\}|events_dropped_total\{reason="rule"\}|log_lines(_matched)?_total\{|series )' \
  <<<"$final" | indent
say "What the mapping does to a line, asked of the running sidecar (podkit-metrics check):"
check="$(docker exec "$sidecar" /podkit-metrics check --mapping /etc/podkit/mapping.yml \
  --line 'shop.orders.card:1|c|#region:eu' --line 'shop.cart.items:3|g' --line 'shop.debug.cache_miss:1|c' 2>&1)" \
  || die "podkit-metrics check failed: $check"
indent <<<"$check"

# --- Stop ----------------------------------------------------------------------------------------
say "Stopping the pod (docker-compose stop: SIGTERM, then SIGKILL after stop_grace_period)."
compose stop 2>&1 | indent
metrics_code="$(docker inspect -f '{{.State.ExitCode}}' "$sidecar")"
echo "    metrics exited $metrics_code; its last line:"
metrics_log | tail -n 1 | indent

# A quick self-check, so `make demo` fails loudly if any of this changes.
expect() { # expect NAME{LABELS} VALUE
  local got
  got="$(metric "$1" <<<"$final")"
  [[ "$got" == "$2" ]] || die "expected $1 $2, got $got"
}
expect "$orders_card" 2
expect "$orders_paypal" 1
expect shop_cart_items 0
expect 'shop_checkout_seconds_bucket{le="0.25"}' 1
expect 'shop_checkout_seconds_bucket{le="0.5"}' 2
expect 'shop_checkout_seconds_bucket{le="+Inf"}' 3
expect shop_checkout_seconds_sum 1.77
expect 'shop_http_requests_total{code="2xx",method="GET"}' 1
expect "$requests_ok" 2
expect "$requests_failed" 1
expect 'shop_http_request_seconds_bucket{le="0.1"}' 1
expect 'shop_http_request_seconds_bucket{le="0.5"}' 3
expect shop_http_request_seconds_sum 1.812
expect "$parse_errors" 1
expect 'podkit_metrics_events_dropped_total{reason="rule"}' 1
expect podkit_metrics_statsd_packets_total 5
expect podkit_metrics_statsd_lines_total 10
expect "podkit_metrics_log_lines_matched_total{log=\"$log\"}" 4
grep -q '^shop_debug' <<<"$final" && die "expected shop.debug.* to be dropped, found a series"
grep -qF 'shop_orders_total{payment="card",region="eu"} counter += 1' <<<"$check" \
  || die "expected check to show the mapped counter"
grep -qF 'dropped' <<<"$check" || die "expected check to show the dropped line"
[[ "$metrics_code" == 0 ]] || die "expected podkit-metrics to exit 0 after SIGTERM, got $metrics_code"
metrics_log | tail -n 1 | grep -qF 'stopping' || die "expected podkit-metrics' last line to say it is stopping"

say "Cleaning up (docker-compose down -v)."
compose down -v --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
