#!/usr/bin/env bash
# podkit-ambassador demo: run the two Compose "pods" next to this script (shop, whose app talks
# plain HTTP to a client-mode ambassador, and payments, a plain HTTP app behind a server-mode
# ambassador), with certificates made here by openssl. Show a request crossing the whole chain
# over mTLS and the terminator's metrics counting it, an ambassador with the wrong workload
# identity refused, a certificate rotation the way the kubelet updates a Secret volume, and both
# ambassadors draining and exiting 0 on SIGTERM. Cleans up after itself.
#
#   make demo                               # from the repository root: builds the images first
#   examples/compose/ambassador/demo.sh     # from anywhere, once `make images` has run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="$repo/target/x86_64-unknown-linux-musl/release"
project=podkit-ambassador-demo

# `--profile intruder` makes every command see the intruder's service too, so that stop and down
# include it once it runs.
compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" --profile intruder "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# Runs a command and shows its output only if it fails (openssl is chatty on stderr).
quiet() {
  local out
  out="$("$@" 2>&1)" || { printf '%s\n' "$out" | indent >&2; die "failed: $*"; }
}
# The terminator's /metrics, from the port Compose published on the host's loopback.
metrics() { curl --silent --show-error --fail --max-time 5 "http://$metrics_addr/metrics"; }
# One sample's value from metrics text on stdin: metric() NAME{LABELS} (0 when absent).
metric() { awk -v name="$1" '$1 == name { value = $2 } END { print value + 0 }'; }
# The app's request: plain HTTP to 127.0.0.1 inside pod A, made by podkit-probe in the shop's
# container. Prints its one line; the status is podkit-probe's exit code.
request() { docker exec "$shop" /podkit-probe http "http://127.0.0.1:$1/" --expect-body '^ok' --timeout 5s; }

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
command -v openssl >/dev/null || die "openssl is not installed (it makes the demo's certificates)"
command -v curl >/dev/null || die "curl is not installed (it reads the terminator's /metrics)"
for image in podkit/init:latest podkit/ambassador:latest; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: run 'make images' first"
done
for binary in podkit-testhelper podkit-probe; do
  [[ -x "$bin/$binary" ]] || die "$bin/$binary is missing: run 'make build' first"
done

certs="$(mktemp -d "${TMPDIR:-/tmp}/podkit-ambassador-demo.XXXXXX")"
export PODKIT_DEMO_CERTS="$certs"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  compose down --timeout 1 --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$certs"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Certificates --------------------------------------------------------------------------------
# A leaf certificate signed by the demo CA: leaf NAME CN SAN DAYS, into $certs/work/NAME.{crt,key}.
leaf() {
  local name=$1 cn=$2 san=$3 days=$4 work="$certs/work"
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/$name.key" -out "$work/$name.csr" -subj "/CN=$cn"
  printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" >"$work/$name.ext"
  quiet openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days "$days" -extfile "$work/$name.ext" -out "$work/$name.crt"
}

# Writes the Secret volume $certs/SECRET from leaf NAME the way the kubelet updates one: the
# files go into a new hidden directory, `..data` is pointed at it in one rename, and tls.crt,
# tls.key and ca.crt are symlinks through `..data`. Readers never see half a rotation.
secret() {
  local dir="$certs/$1" name=$2 version
  version="..$(date -u +%Y_%m_%d_%H_%M_%S.%N)"
  mkdir -p "$dir/$version"
  cp "$certs/work/$name.crt" "$dir/$version/tls.crt"
  cp "$certs/work/$name.key" "$dir/$version/tls.key"
  cp "$certs/work/ca.crt" "$dir/$version/ca.crt"
  # Readable by the ambassadors' user 65532, keys included: these are throwaway test keys.
  chmod 0755 "$dir" "$dir/$version" && chmod 0644 "$dir/$version"/*
  ln -s "$version" "$dir/..data_tmp" && mv -T "$dir/..data_tmp" "$dir/..data"
  for file in tls.crt tls.key ca.crt; do
    [[ -L "$dir/$file" ]] || ln -s "..data/$file" "$dir/$file"
  done
  find "$dir" -mindepth 1 -maxdepth 1 -type d -name '..?*' ! -name "$version" -exec rm -rf {} +
}

say "Certificates (openssl, EC P-256) in $certs: a CA, and one Secret per workload."
chmod 0755 "$certs" && mkdir -p "$certs/work"
quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -keyout "$certs/work/ca.key" -out "$certs/work/ca.crt" -subj "/CN=podkit demo CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
leaf payments payments "DNS:payments,URI:spiffe://cluster.local/ns/billing/sa/payments" 30
leaf shop shop "URI:spiffe://cluster.local/ns/shop/sa/shop" 30
leaf intruder intruder "URI:spiffe://cluster.local/ns/shop/sa/intruder" 30
for name in payments shop intruder; do
  secret "$name" "$name"
  printf '    %-9s %s\n' "$name/" "$(openssl x509 -in "$certs/$name/tls.crt" -noout -ext subjectAltName | tail -n 1 | sed 's/^ *//')"
done

# --- Up ------------------------------------------------------------------------------------------
compose down --timeout 1 --remove-orphans >/dev/null 2>&1 || true # leftovers of an aborted run
say "Starting pod A (shop + shop-ambassador, client mode) and pod B (payments +"
echo "    payments-ambassador, server mode) on one Compose network."
compose up -d shop shop-ambassador payments payments-ambassador 2>&1 | indent \
  || die "the pods did not start"
shop="$(compose ps -q shop)"
shop_amb="$(compose ps -q shop-ambassador)"
payments_amb="$(compose ps -q payments-ambassador)"
[[ -n "$shop" && -n "$shop_amb" && -n "$payments_amb" ]] || die "a container of the pods is missing"
metrics_addr="$(compose port payments 9090)" || true
[[ -n "$metrics_addr" ]] || die "the terminator's metrics port was not published"

say "Waiting (at most 30 s) for both ambassadors' /readyz, from the shop's container:"
ready_code=0
docker exec "$shop" /podkit-probe wait --timeout 30s \
  http://127.0.0.1:9090/readyz http://payments:9090/readyz 2>&1 | indent || ready_code=$?
[[ "$ready_code" == 0 ]] || die "the ambassadors did not turn ready (podkit-probe wait exited $ready_code)"

# --- Through the chain ---------------------------------------------------------------------------
say "The shop app's plain HTTP request to its ambassador on 127.0.0.1:8080; the answer is the"
echo "    payments app's \"200 ok\", which crossed the network over mTLS:"
chain_out="$(request 8080 2>&1)" && chain_code=0 || chain_code=$?
echo "    /podkit-probe http http://127.0.0.1:8080/ -> exit $chain_code"
printf '%s\n' "$chain_out" | indent
echo "    each ambassador's log of it (debug level): the client saw the app's connection, the"
echo "    server the client ambassador's, from pod A's address."
docker logs "$shop_amb" 2>&1 | grep -F 'connection closed' | tail -n 1 | sed 's/^/    shop-ambassador:     /' || true
docker logs "$payments_amb" 2>&1 | grep -F 'connection closed' | tail -n 1 | sed 's/^/    payments-ambassador: /' || true

say "The terminator's /metrics (curl http://$metrics_addr/metrics), its connection counters:"
after_request="$(metrics)" || die "could not read the terminator's /metrics"
grep -E '^podkit_ambassador_(connections_accepted_total|open_connections|bytes_total|handshake_duration_seconds_count) ' \
  <<<"$after_request" | indent || true
grep -E '^podkit_ambassador_(bytes_total|connections_refused_total)\{' <<<"$after_request" \
  | awk '$2 != 0' | indent || true

say "The payments app itself is out of pod A's reach: it listens on its own pod's loopback."
plain_out="$(docker exec "$shop" /podkit-probe tcp payments:8080 2>&1)" && plain_code=0 || plain_code=$?
echo "    /podkit-probe tcp payments:8080 -> exit $plain_code"
printf '%s\n' "$plain_out" | indent

# --- The wrong identity --------------------------------------------------------------------------
say "Starting intruder-ambassador in pod A: same CA, but its certificate names"
echo "    spiffe://cluster.local/ns/shop/sa/intruder, which payments does not allow."
compose up -d intruder-ambassador 2>&1 | indent || die "intruder-ambassador did not start"
intruder="$(compose ps -q intruder-ambassador)"
[[ -n "$intruder" ]] || die "the intruder's container is missing"
# Its /readyz, not its port: a connection to the port would already be a refused handshake.
docker exec "$shop" /podkit-probe wait --timeout 30s http://127.0.0.1:9091/readyz >/dev/null \
  || die "intruder-ambassador did not turn ready"

say "The same request through it (127.0.0.1:8081) gets no answer:"
intruder_out="$(request 8081 2>&1)" && intruder_code=0 || intruder_code=$?
echo "    /podkit-probe http http://127.0.0.1:8081/ -> exit $intruder_code"
printf '%s\n' "$intruder_out" | indent
echo "    payments-ambassador's log:"
refusal="$(docker logs "$payments_amb" 2>&1 | grep -F 'connection refused' | tail -n 1)" || true
printf '%s\n' "$refusal" | indent
after_intruder="$(metrics)" || die "could not read the terminator's /metrics"
refused_not_allowed="$(metric 'podkit_ambassador_connections_refused_total{reason="not_allowed"}' <<<"$after_intruder")"
echo "    podkit_ambassador_connections_refused_total{reason=\"not_allowed\"} $refused_not_allowed"

# --- Rotation ------------------------------------------------------------------------------------
not_after_before="$(metric podkit_ambassador_certificate_not_after_timestamp_seconds <<<"$after_intruder")"
say "Rotating the payments certificate (a new key, valid 90 days instead of 30) the way the"
echo "    kubelet updates a Secret volume: new files in a new directory, then one rename of ..data."
leaf payments-v2 payments "DNS:payments,URI:spiffe://cluster.local/ns/billing/sa/payments" 90
secret payments payments-v2
find "$certs/payments" -mindepth 1 -maxdepth 1 \( -type l -printf 'payments/%P -> %l\n' \) \
  -o \( -type d -printf 'payments/%P/\n' \) | sort | indent
reloaded=""
for _ in $(seq 75); do
  reloaded="$(docker logs "$payments_amb" 2>&1 | grep -F 'TLS material reloaded' | tail -n 1)" || true
  [[ -n "$reloaded" ]] && break
  sleep 0.2
done
echo "    payments-ambassador's log:"
printf '%s\n' "${reloaded:-(no reload within 15 s)}" | indent

say "The next request, the first handshake with the new certificate:"
rotated_out="$(request 8080 2>&1)" && rotated_code=0 || rotated_code=$?
echo "    /podkit-probe http http://127.0.0.1:8080/ -> exit $rotated_code"
printf '%s\n' "$rotated_out" | indent
after_rotation="$(metrics)" || die "could not read the terminator's /metrics"
not_after_after="$(metric podkit_ambassador_certificate_not_after_timestamp_seconds <<<"$after_rotation")"
reloads_ok="$(metric 'podkit_ambassador_reloads_total{result="success"}' <<<"$after_rotation")"
reloads_failed="$(metric 'podkit_ambassador_reloads_total{result="failure"}' <<<"$after_rotation")"
accepted="$(metric podkit_ambassador_connections_accepted_total <<<"$after_rotation")"
printf '    certificate not after: %s -> %s\n' \
  "$(date -u -d "@$not_after_before" +%F)" "$(date -u -d "@$not_after_after" +%F)"
echo "    podkit_ambassador_reloads_total{result=\"success\"} $reloads_ok, {result=\"failure\"} $reloads_failed"
echo "    podkit_ambassador_connections_accepted_total $accepted"

# --- Stop ----------------------------------------------------------------------------------------
say "Stopping both pods (docker-compose stop: SIGTERM, then SIGKILL after stop_grace_period)."
compose stop 2>&1 | indent
declare -A exit_codes ids=([shop-ambassador]="$shop_amb" [intruder-ambassador]="$intruder"
  [payments-ambassador]="$payments_amb")
for service in shop-ambassador intruder-ambassador payments-ambassador; do
  id="${ids[$service]}"
  exit_codes[$service]="$(docker inspect -f '{{.State.ExitCode}}' "$id")"
  printf '    %s exited %s; its last lines:\n' "$service" "${exit_codes[$service]}"
  docker logs "$id" 2>&1 | tail -n 2 | indent | indent
done
payments_stop="$(docker logs "$payments_amb" 2>&1 | tail -n 2)"

# A quick self-check, so `make demo` fails loudly if any of this changes.
[[ "$chain_code" == 0 ]] || die "expected the request through the chain to succeed, got exit $chain_code"
grep -q '^healthy http://127.0.0.1:8080/ status=200 ' <<<"$chain_out" || die "expected 'healthy ... status=200' for the request through the chain"
[[ "$(metric podkit_ambassador_connections_accepted_total <<<"$after_request")" == 1 ]] \
  || die "expected the terminator to count 1 accepted connection after the first request"
(($(metric 'podkit_ambassador_bytes_total{direction="to_client"}' <<<"$after_request") > 0)) \
  || die "expected the terminator to count bytes sent back to the client"
[[ "$plain_code" == 3 ]] || die "expected the payments app's own port to be unreachable from pod A (exit 3), got $plain_code"
[[ "$intruder_code" != 0 ]] || die "expected the request through the intruder to fail"
grep -qF 'reason=not_allowed' <<<"$refusal" || die "expected payments-ambassador to log a refusal with reason=not_allowed"
[[ "$refused_not_allowed" == 1 ]] || die "expected 1 connection refused as not_allowed, got $refused_not_allowed"
[[ -n "$reloaded" ]] || die "expected payments-ambassador to log 'TLS material reloaded'"
[[ "$rotated_code" == 0 ]] || die "expected the request after the rotation to succeed, got exit $rotated_code"
((reloads_ok >= 1)) || die "expected a successful reload in the metrics, got $reloads_ok"
[[ "$reloads_failed" == 0 ]] || die "expected no failed reload (a half-written rotation), got $reloads_failed"
((not_after_after > not_after_before)) || die "expected the new certificate's later expiry in the not-after gauge"
[[ "$accepted" == 2 ]] || die "expected 2 accepted connections at the end, got $accepted"
for service in "${!exit_codes[@]}"; do
  [[ "${exit_codes[$service]}" == 0 ]] || die "expected $service to exit 0 after SIGTERM, got ${exit_codes[$service]}"
done
grep -qF 'drained: every connection ended' <<<"$payments_stop" || die "expected payments-ambassador to log 'drained: every connection ended'"

say "Cleaning up (docker-compose down)."
compose down --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
