#!/usr/bin/env bash
# The podkit pod: all six tools in one Compose "pod" (docker-compose.yml next to this script), and
# a second pod that is its client, shown step by step:
#   1. podkit-git --one-time, the init container, clones a site's repository into a volume;
#   2. the app (the test helper under podkit-init) serves it, ready by podkit-probe;
#   3. podkit-ambassador server terminates mTLS in front of it; the other pod's app reaches it
#      through podkit-ambassador client, and curl on the host with the client's certificate;
#   4. podkit-metrics turns the app's StatsD and log into /metrics, scraped here;
#   5. podkit-reload sees the app's ConfigMap updated the kubelet's way and sends the app SIGHUP;
#   6. podkit-git as a sidecar publishes a commit pushed during the demo;
#   7. docker-compose stop: every container stops gracefully within its grace, exit codes shown.
# Each step checks what it shows and the demo exits 1 at the first that did not work. Cleans up
# after itself.
#
#   make demo                               # from the repository root: builds the images first
#   examples/compose/pod/demo.sh            # from anywhere, once `make images` has run
#   examples/compose/pod/demo.sh --keep     # steps 1 to 6, then leaves the pod running for curl
#
# Environment: PODKIT_DEMO_PROJECT, the Compose project name (default podkit-pod-demo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="$repo/target/x86_64-unknown-linux-musl/release"
project="${PODKIT_DEMO_PROJECT:-podkit-pod-demo}"
keep=""
case "${1:-}" in
  --keep) keep=yes ;;
  "") ;;
  *) printf 'usage: %s [--keep]\n' "$0" >&2; exit 2 ;;
esac

# The containers, in the order they start; those with a health check (podkit-probe).
services=(site site-clone site-web site-tls site-metrics site-reload site-sync shop shop-ambassador)
checked=(site-web site-tls site-metrics site-reload site-sync shop-ambassador)
declare -A ids

compose() { docker-compose --ansi never -p "$project" -f "$here/docker-compose.yml" "$@"; }
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
step() { printf '\n%s#### %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
# Runs a command and shows its output only if it fails (openssl is chatty on stderr).
quiet() {
  local out
  out="$("$@" 2>&1)" || { printf '%s\n' "$out" | indent >&2; die "failed: $*"; }
}
# The host's git, on the demo's repositories only: no system or user configuration (a signing
# key, hooks, another default branch) changes what it does.
hostgit() {
  GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=demo -c user.email=demo@example.com \
    -c init.defaultBranch=main "$@"
}
log_of() { docker logs "${ids[$1]}" 2>&1; }
# One sample's value from metrics text on stdin: metric() NAME{LABELS} (0 when absent).
metric() { awk -v name="$1" '$1 == name { value = $2 } END { print value + 0 }'; }
# A /metrics page from a port published on the host's loopback: scrape ADDR.
scrape() { curl --silent --show-error --fail --max-time 5 "http://$1/metrics"; }
# A container's State field (StartedAt, FinishedAt) as seconds since the epoch.
epoch() { date -d "$(docker inspect -f "{{.State.$2}}" "${ids[$1]}")" +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%6.2f", b - a }'; }
# The shop pod's app asking for PATH through its ambassador, over the pod's loopback; prints
# podkit-probe's line. shop_get PATH [PROBE FLAGS...]
shop_get() { docker exec "${ids[shop]}" /podkit-probe http "http://127.0.0.1:8080$1" --timeout 5s "${@:2}"; }

# --- Preconditions -------------------------------------------------------------------------------
command -v docker >/dev/null || die "the docker CLI is not installed"
if ! err="$(docker info 2>&1 >/dev/null)"; then
  die "no Docker engine answers (docker info failed: $(printf '%s' "$err" | tail -n 1))"
fi
command -v docker-compose >/dev/null || die "docker-compose (v1.29 or later) is not installed"
command -v curl >/dev/null || die "curl is not installed (it is the demo's client on the host)"
command -v git >/dev/null || die "git is not installed (it makes the site's repository on the host)"
command -v openssl >/dev/null || die "openssl is not installed (it makes the demo's certificates)"
for tool in init ambassador metrics reload git; do
  docker image inspect "podkit/$tool:latest" >/dev/null 2>&1 \
    || die "image podkit/$tool:latest is missing: run 'make images' first"
done
for binary in podkit-testhelper podkit-probe; do
  [[ -x "$bin/$binary" ]] || die "$bin/$binary is missing: run 'make build' first"
done

# Readable by the containers' user 65532: directories 0755, files 0644 (keys included: throwaway
# test keys; a real Secret volume uses defaultMode and fsGroup), whatever the caller's umask.
umask 022
work="$(mktemp -d "${TMPDIR:-/tmp}/podkit-pod-demo.XXXXXX")"
chmod 0755 "$work"
export PODKIT_POD_DIR="$work/pod"
mkdir -p "$PODKIT_POD_DIR"/{src,config,certs} "$work/ca"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$keep" && $rc == 0 ]]; then exit 0; fi
  # -v: the pod's emptyDirs (the site, the app's log) too.
  compose down -v --timeout 1 --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- What the kubelet and a git server would provide ---------------------------------------------
step "Before the pod: a git repository, a ConfigMap and two Secrets, made on the host"

say "The site's repository, made with the host's git ($(git --version)): a working copy in"
echo "    $work/site, pushing to the bare repository $PODKIT_POD_DIR/src/site.git. No git server"
echo "    image can be pulled here, and podkit-git reads file:// repositories itself, so the pod"
echo "    mounts it read-only; a real pod clones over https:// (or git://) from a server."
mkdir "$work/site"
hostgit init --quiet --bare "$PODKIT_POD_DIR/src/site.git"
hostgit -C "$work/site" init --quiet
printf '<h1>Hello from the first commit</h1>\n' >"$work/site/index.html"
hostgit -C "$work/site" add index.html
hostgit -C "$work/site" commit --quiet -m "The first page"
hostgit -C "$work/site" remote add origin "$PODKIT_POD_DIR/src/site.git"
hostgit -C "$work/site" push --quiet origin main
first="$(hostgit -C "$work/site" rev-parse HEAD)"
hostgit -C "$work/site" log --format='commit %H %s' | indent

# Writes the ConfigMap volume $PODKIT_POD_DIR/config from KEY CONTENT pairs in the kubelet's order
# (its AtomicWriter): the files into a new timestamped directory, a `..data_tmp` symlink to it
# renamed over `..data` (the commit: every key switches at once), `KEY -> ..data/KEY` for each
# key, then the old directory removed.
configmap() {
  local dir="$PODKIT_POD_DIR/config" version old key
  version="..$(date -u +%Y_%m_%d_%H_%M_%S).$SRANDOM"
  old="$(readlink "$dir/..data" || true)"
  mkdir "$dir/$version"
  while (($# >= 2)); do
    printf '%s' "$2" >"$dir/$version/$1"
    shift 2
  done
  ln -s "$version" "$dir/..data_tmp" && mv -T "$dir/..data_tmp" "$dir/..data"
  for key in "$dir/$version"/*; do
    key="${key##*/}"
    [[ -L "$dir/$key" ]] || ln -s "..data/$key" "$dir/$key"
  done
  if [[ -n "$old" ]]; then rm -rf "${dir:?}/$old"; fi
}
show_config() {
  find "$PODKIT_POD_DIR/config" -mindepth 1 -maxdepth 1 \( -type l -printf 'config/%P -> %l\n' \) \
    -o \( -type d -printf 'config/%P/\n' \) | sort | indent
}
say "The app's ConfigMap volume, written the kubelet's way into $PODKIT_POD_DIR/config:"
configmap app.yaml $'greeting: hello\nworkers: 2\n'
show_config

# A leaf certificate signed by the demo CA: leaf NAME SAN, into $work/ca/NAME.{crt,key}.
leaf() {
  local name=$1 san=$2 ca="$work/ca"
  quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$ca/$name.key" -out "$ca/$name.csr" -subj "/CN=$name"
  printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" >"$ca/$name.ext"
  quiet openssl x509 -req -in "$ca/$name.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$ca/$name.ext" -out "$ca/$name.crt"
}
# The Secret volume certs/NAME (tls.crt, tls.key, ca.crt), laid out as the kubelet lays one out:
# the files in a hidden directory, `..data` pointing at it, the keys symlinks through `..data`.
secret() {
  local dir="$PODKIT_POD_DIR/certs/$1" version="..$(date -u +%Y_%m_%d_%H_%M_%S).$SRANDOM"
  mkdir -p "$dir/$version"
  cp "$work/ca/$1.crt" "$dir/$version/tls.crt"
  cp "$work/ca/$1.key" "$dir/$version/tls.key"
  cp "$work/ca/ca.crt" "$dir/$version/ca.crt"
  chmod 0644 "$dir/$version"/*
  ln -s "$version" "$dir/..data"
  for file in tls.crt tls.key ca.crt; do ln -s "..data/$file" "$dir/$file"; done
}
say "Certificates (openssl, EC P-256): a CA, and a Secret per pod in $PODKIT_POD_DIR/certs:"
quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -keyout "$work/ca/ca.key" -out "$work/ca/ca.crt" -subj "/CN=podkit demo CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
leaf site "DNS:site,URI:spiffe://cluster.local/ns/site/sa/site"
leaf shop "URI:spiffe://cluster.local/ns/shop/sa/shop"
for name in site shop; do
  secret "$name"
  printf '    certs/%-5s %s\n' "$name/" \
    "$(openssl x509 -in "$PODKIT_POD_DIR/certs/$name/tls.crt" -noout -ext subjectAltName | tail -n 1 | sed 's/^ *//')"
done

# --- Up ------------------------------------------------------------------------------------------
compose down -v --timeout 1 --remove-orphans >/dev/null 2>&1 || true # leftovers of an aborted run
step "Starting the pods (docker-compose -p $project up -d)"
echo "    Pod order: the sandbox (site, podkit-init --pause) first; the init container site-clone;"
echo "    once it exited 0, the app site-web and the sync sidecar; once the app is ready (its"
echo "    podkit-probe health check), the terminator site-tls. The adapter and the reloader start"
echo "    with the app, and the shop pod beside it all."
if ! compose up -d 2>&1 | indent; then
  for service in site-clone site-web; do
    id="$(compose ps -q "$service" 2>/dev/null || true)"
    [[ -n "$id" ]] && docker logs "$id" 2>&1 | tail -n 5 | sed "s/^/    $service: /"
  done
  die "the pods did not start"
fi
for service in "${services[@]}"; do
  ids[$service]="$(compose ps -q "$service")"
  [[ -n "${ids[$service]}" ]] || die "the container of $service is missing"
done

say "Waiting (at most 60 s) until every health check (podkit-probe in each container) passes:"
pending=""
for _ in $(seq 300); do
  pending=""
  for service in "${checked[@]}"; do
    status="$(docker inspect -f '{{.State.Health.Status}}' "${ids[$service]}")"
    [[ "$status" == healthy ]] || pending+=" $service ($status)"
  done
  [[ -z "$pending" ]] && break
  sleep 0.2
done
[[ -z "$pending" ]] || die "not healthy within 60 s:$pending"
for service in "${services[@]}"; do
  docker inspect -f "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}" \
    "${ids[$service]}" | awk '{ sub("^/", "", $1); printf "    %-36s %s %s\n", $1, $2, ($2 == "exited" ? "(exit " $3 ")" : $4) }'
done

say "The order they started in (docker inspect, seconds after the sandbox):"
t0="$(epoch site StartedAt)"
clone_done="$(epoch site-clone FinishedAt)"
{
  for service in "${services[@]}"; do
    printf '%s %s started\n' "$(since "$t0" "$(epoch "$service" StartedAt)")" "$service"
  done
  printf '%s site-clone exited %s\n' "$(since "$t0" "$clone_done")" \
    "$(docker inspect -f '{{.State.ExitCode}}' "${ids[site-clone]}")"
} | sort -n | indent
for service in site-web site-sync; do
  awk -v a="$clone_done" -v b="$(epoch "$service" StartedAt)" 'BEGIN { exit !(a <= b) }' \
    || die "$service started before the init container had finished"
done
awk -v a="$(epoch site-web StartedAt)" -v b="$(epoch site-tls StartedAt)" 'BEGIN { exit !(a < b) }' \
  || die "site-tls started before the app"

tls_addr="$(compose port site 8443)" || true
metrics_addr="$(compose port site 9102)" || true
tls_metrics_addr="$(compose port site 9090)" || true
git_metrics_addr="$(compose port site 9091)" || true
reload_metrics_addr="$(compose port site 9092)" || true
for addr in "$tls_addr" "$metrics_addr" "$tls_metrics_addr" "$git_metrics_addr" "$reload_metrics_addr"; do
  [[ -n "$addr" ]] || die "a port of the site pod was not published"
done
certs="$PODKIT_POD_DIR/certs/shop"
# curl on the host through the terminator, as the shop: the name it checks is "site", reached at
# the published port. site_curl PATH [CURL FLAGS...]
site_curl() {
  curl --silent --show-error --max-time 5 --cacert "$certs/ca.crt" --cert "$certs/tls.crt" \
    --key "$certs/tls.key" --connect-to "site:8443:$tls_addr" "${@:2}" "https://site:8443$1"
}
site_curl_shown="curl --cacert $certs/ca.crt --cert $certs/tls.crt --key $certs/tls.key --connect-to site:8443:$tls_addr https://site:8443"

# --- 1 -------------------------------------------------------------------------------------------
step "1. The init container: podkit-git --one-time clones the site into the pod's volume"
clone_code="$(docker inspect -f '{{.State.ExitCode}}' "${ids[site-clone]}")"
echo "    site-clone exited $clone_code; its log:"
log_of site-clone | sed 's/^/    site-clone: /'
[[ "$clone_code" == 0 ]] || die "expected the init container to exit 0, got $clone_code"
log_of site-clone | grep -qF "published commit=$first previous=none" \
  || die "expected the init container to publish $first"

# --- 2 -------------------------------------------------------------------------------------------
step "2. The app: the test helper's file server under podkit-init, ready by podkit-probe"
echo "    site-web serves /git/site (the link podkit-git publishes) on the pod's loopback only; its"
echo "    log, its configuration and the readiness check (HEAD /index.html every second):"
log_of site-web | sed 's/^/    site-web: /'
echo "    the last health check, as Docker recorded it:"
docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "${ids[site-web]}" \
  | sed '/^$/d' | tail -n 1 | sed 's/^/    exit /'
log_of site-web | grep -q '^listening 127.0.0.1:8080$' || die "expected the app to listen on 127.0.0.1:8080"

# --- 3 -------------------------------------------------------------------------------------------
step "3. mTLS: podkit-ambassador server in front of the app, podkit-ambassador client in the shop pod"
say "The shop's app asks its ambassador on 127.0.0.1:8080 in plain HTTP; the answer crossed the"
echo "    Compose network over mTLS (docker exec shop /podkit-probe http http://127.0.0.1:8080/index.html):"
shop_out="$(shop_get /index.html --expect-body 'first commit' 2>&1)" && shop_code=0 || shop_code=$?
printf '%s\n' "$shop_out" | indent
[[ "$shop_code" == 0 ]] || die "expected the shop's request through both ambassadors to succeed, got exit $shop_code"

say "The same from the host, with the shop's certificate, through the published port:"
echo "    \$ $site_curl_shown/index.html"
page="$(site_curl /index.html --fail)" || die "curl through the terminator failed"
indent <<<"$page"
[[ "$page" == "<h1>Hello from the first commit</h1>" ]] || die "expected the first page, got: $page"
missing="$(site_curl /missing.html --output /dev/null --write-out '%{http_code}')" \
  || die "curl of a missing page failed"
echo "    https://site:8443/missing.html -> $missing"
[[ "$missing" == 404 ]] || die "expected 404 for a missing page, got $missing"

say "Without a client certificate the terminator refuses the handshake:"
refused_out="$(curl --silent --show-error --max-time 5 --cacert "$certs/ca.crt" \
  --connect-to "site:8443:$tls_addr" https://site:8443/index.html 2>&1)" && refused_code=0 || refused_code=$?
echo "    curl --cacert .../ca.crt https://site:8443/index.html -> exit $refused_code"
indent <<<"$refused_out"
[[ "$refused_code" != 0 ]] || die "expected the terminator to refuse a client without a certificate"
tls_metrics="$(scrape "$tls_metrics_addr")" || die "could not read the terminator's /metrics"
echo "    the terminator's /metrics (curl http://$tls_metrics_addr/metrics):"
grep -E '^podkit_ambassador_(connections_accepted_total|connections_refused_total\{)' <<<"$tls_metrics" \
  | awk '$2 != 0' | indent
[[ "$(metric podkit_ambassador_connections_accepted_total <<<"$tls_metrics")" == 3 ]] \
  || die "expected the terminator to count the 3 connections that got through"
[[ "$(metric 'podkit_ambassador_connections_refused_total{reason="no_client_certificate"}' <<<"$tls_metrics")" == 1 ]] \
  || die "expected the terminator to count 1 connection refused for want of a client certificate"

# --- 4 -------------------------------------------------------------------------------------------
step "4. The adapter: podkit-metrics turns the app's StatsD and log into Prometheus metrics"
echo "    The app sends a StatsD datagram per request to 127.0.0.1:9125 and appends a line per"
echo "    request to /var/log/app/app.log (an emptyDir both mount); so far 3 GETs reached it (the"
echo "    shop's, the host's page and the missing page), and the readiness probe's HEADs."
ok_gets='site_http_requests_total{code="200",method="GET"}'
missing_gets='site_http_requests_total{code="404",method="GET"}'
timed_gets='site_request_seconds_count{code="200",method="GET"}'
bytes_sent='site_response_bytes_total{code="200",method="GET"}'
start_loads='site_config_loads_total{cause="start"}'
app_metrics=""
for _ in $(seq 75); do
  scraped="$(scrape "$metrics_addr")" || die "could not read podkit-metrics' /metrics"
  if [[ "$(metric "$ok_gets" <<<"$scraped")" == 2 && "$(metric "$missing_gets" <<<"$scraped")" == 1 \
    && "$(metric "$timed_gets" <<<"$scraped")" == 2 && "$(metric "$start_loads" <<<"$scraped")" == 1 ]]; then
    app_metrics="$scraped"
    break
  fi
  sleep 0.2
done
say "curl http://$metrics_addr/metrics (the app's series):"
grep -E '^site_(http_requests_total|config_loads_total|response_bytes_total|request_seconds_count)' \
  <<<"${app_metrics:-$scraped}" | indent
[[ -n "$app_metrics" ]] || die "/metrics did not count the app's requests within 15 s; podkit-metrics' log:
$(log_of site-metrics)"
# Both GETs of the page sent its 37 bytes.
[[ "$(metric "$bytes_sent" <<<"$app_metrics")" == 74 ]] \
  || die "expected $bytes_sent 74, got $(metric "$bytes_sent" <<<"$app_metrics")"
(($(metric 'site_http_requests_total{code="200",method="HEAD"}' <<<"$app_metrics") >= 1)) \
  || die "expected the readiness probe's HEAD requests in the log's counter"

# --- 5 -------------------------------------------------------------------------------------------
step "5. The reloader: podkit-reload sends the app SIGHUP when its ConfigMap changes"
say "The configuration the app loaded (curl ... https://site:8443/-/config, as in step 3):"
before="$(site_curl /-/config --fail)" || die "could not read the app's /-/config"
indent <<<"$before"
[[ "$before" == *"greeting: hello"* ]] || die "expected the first configuration, got: $before"
say "An update the kubelet's way (greeting: hello -> bonjour): new files, one rename of ..data:"
configmap app.yaml $'greeting: bonjour\nworkers: 2\n'
show_config
signalled='podkit_reload_reloads_total{action="signal",result="success"}'
reloads=0
for _ in $(seq 75); do
  reloads="$(scrape "$reload_metrics_addr" | metric "$signalled")" || die "could not read podkit-reload's /metrics"
  ((reloads >= 1)) && break
  sleep 0.2
done
echo "    site-reload's log: the change, then the signal (the app found by name in the pod's"
echo "    shared process namespace):"
log_of site-reload | grep -E ' (changed|reloaded|reload failed)' | sed 's/^/    site-reload: /'
((reloads == 1)) || die "expected 1 signal sent by podkit-reload, got $reloads; its log: $(log_of site-reload)"
after=""
for _ in $(seq 25); do
  after="$(site_curl /-/config --fail)" || die "could not read the app's /-/config"
  [[ "$after" != "$before" ]] && break
  sleep 0.2
done
echo "    site-web's log: $(log_of site-web | grep 'cause=SIGHUP' | tail -n 1)"
echo "    and what it serves now at /-/config:"
indent <<<"$after"
[[ "$after" == *"greeting: bonjour"* ]] || die "expected the app to load the new configuration, got: $after"
loads=0
for _ in $(seq 75); do
  loads="$(scrape "$metrics_addr" | metric 'site_config_loads_total{cause="SIGHUP"}')" \
    || die "could not read podkit-metrics' /metrics"
  ((loads >= 1)) && break
  sleep 0.2
done
echo "    podkit-metrics, from the app's log: site_config_loads_total{cause=\"SIGHUP\"} $loads"
((loads == 1)) || die "expected 1 configuration load on SIGHUP in the app's metrics, got $loads"

# --- 6 -------------------------------------------------------------------------------------------
step "6. The sync sidecar: podkit-git publishes a commit pushed now"
printf '<h1>Hello from the second commit</h1>\n' >"$work/site/index.html"
hostgit -C "$work/site" commit --quiet -am "A new page"
hostgit -C "$work/site" push --quiet origin main
second="$(hostgit -C "$work/site" rev-parse HEAD)"
echo "    pushed: commit $second A new page"
say "Waiting (at most 30 s) for the page served through the terminator to change:"
page=""
for _ in $(seq 150); do
  page="$(site_curl /index.html --fail)" || die "the terminator stopped serving the page"
  [[ "$page" == *second* ]] && break
  sleep 0.2
done
indent <<<"$page"
[[ "$page" == "<h1>Hello from the second commit</h1>" ]] \
  || die "the page did not change within 30 s; site-sync's log: $(log_of site-sync)"
log_of site-sync | grep -F " published " | tail -n 1 | sed 's/^/    site-sync: /'
log_of site-sync | grep -qF "published commit=$second previous=$first" \
  || die "expected the sidecar to publish $second over $first"
shop_out="$(shop_get /index.html --expect-body 'second commit' 2>&1)" && shop_code=0 || shop_code=$?
echo "    and in the shop pod: $shop_out"
[[ "$shop_code" == 0 ]] || die "expected the shop to see the second page, got exit $shop_code"
git_metrics="$(scrape "$git_metrics_addr")" || die "could not read podkit-git's /metrics"
echo "    the sidecar's /metrics (curl http://$git_metrics_addr/metrics):"
grep -E '^podkit_git_(syncs_total\{result="published"\}|commit_info)' <<<"$git_metrics" | indent
[[ "$(metric "podkit_git_commit_info{sha=\"$second\"}" <<<"$git_metrics")" == 1 ]] \
  || die "expected podkit_git_commit_info to name $second"

if [[ -n "$keep" ]]; then
  step "The pod keeps running (--keep). Try:"
  echo "    $site_curl_shown/index.html"
  echo "    $site_curl_shown/-/config"
  echo "    curl http://$metrics_addr/metrics         # the app's metrics (podkit-metrics)"
  echo "    curl http://$tls_metrics_addr/metrics         # podkit-ambassador server"
  echo "    curl http://$git_metrics_addr/metrics         # podkit-git"
  echo "    curl http://$reload_metrics_addr/metrics         # podkit-reload"
  echo "    docker exec $(docker inspect -f '{{.Name}}' "${ids[shop]}" | tr -d /) /podkit-probe http http://127.0.0.1:8080/index.html"
  echo "    git -C $work/site commit -am ... && git -C $work/site push   # a new commit"
  echo "    cd $here && export PODKIT_POD_DIR=$PODKIT_POD_DIR"
  echo "    docker-compose -p $project logs site-web   # or any other container's"
  echo "    docker-compose -p $project stop            # step 7"
  echo "    docker-compose -p $project down -v && rm -rf $work"
  exit 0
fi

# --- 7 -------------------------------------------------------------------------------------------
step "7. docker-compose stop: SIGTERM to each container, SIGKILL only after its stop_grace_period"
stop_start="$(date +%s.%N)"
since_docker="$(date +%s)"
compose stop 2>&1 | indent
stop_end="$(date +%s.%N)"
echo "    all stopped in $(awk -v a="$stop_start" -v b="$stop_end" 'BEGIN { printf "%.1f", b - a }') s"
# Docker's own record of each container's stop: when it was sent SIGTERM (its `kill` event) and
# when it ended (`die`). docker-compose stops the dependents first, the sandboxes last.
events="$(docker events --since "$since_docker" --until "$(date +%s.%N)" \
  --filter "label=com.docker.compose.project=$project" --filter type=container \
  --format '{{.TimeNano}} {{.Action}} {{index .Actor.Attributes "com.docker.compose.service"}} {{index .Actor.Attributes "signal"}}')"
say "Each container: its exit code, and the time from SIGTERM to its exit against its grace:"
failed=()
for service in shop-ambassador shop site-sync site-reload site-metrics site-tls site-web site-clone site; do
  code="$(docker inspect -f '{{.State.ExitCode}}' "${ids[$service]}")"
  grace="$(docker inspect -f '{{.Config.StopTimeout}}' "${ids[$service]}")"
  if [[ "$service" == site-clone ]]; then
    printf '    %-16s exit %s  (the init container, done before the app started)\n' "$service" "$code"
  else
    took="$(awk -v s="$service" '
      $3 == s && $2 == "kill" && $4 == "15" && !sent { sent = $1 }
      $3 == s && $2 == "die" && sent { printf "%.2f", ($1 - sent) / 1e9; exit }' <<<"$events")"
    printf '    %-16s exit %s  %5s s of its %s s grace; last line: %s\n' "$service" "$code" \
      "${took:-?}" "$grace" "$(log_of "$service" | tail -n 1)"
    if [[ -z "$took" ]] || awk -v t="$took" -v g="$grace" 'BEGIN { exit !(t >= g) }'; then
      failed+=("$service stopped in ${took:-an unknown time} of its ${grace} s")
    fi
  fi
  # 0 for every one: the tools exit 0 on SIGTERM, and the app's 143 (SIGTERM, its graceful
  # stop) is remapped to 0 by podkit-init. A SIGKILL at the end of the grace would be 137.
  [[ "$code" == 0 ]] || failed+=("$service exited $code")
done
((${#failed[@]} == 0)) || die "not a graceful stop: $(IFS=';'; echo "${failed[*]}")"
log_of site-tls | grep -qF 'drained: every connection ended' || die "expected site-tls to log its drain"

step "Cleaning up (docker-compose down -v)"
compose down -v --timeout 1 --remove-orphans 2>&1 | indent
echo "    demo OK"
