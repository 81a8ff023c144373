#!/usr/bin/env bash
# Every Compose demo, one after the other: first the podkit pod, all six tools together
# (pod/demo.sh), then what a tool does beyond it: podkit-init (init/demo.sh), podkit-probe
# (probe/demo.sh), podkit-ambassador (ambassador/demo.sh), podkit-reload (reload/demo.sh) and
# podkit-metrics (metrics/demo.sh). podkit-git has no demo of its own: the pod shows all it does.
# Each one checks what it shows, prints "demo OK" and cleans up after itself.
#
#   make demo                    # from the repository root: builds the images first
#   examples/compose/demo.sh     # from anywhere, once `make images` has run
#
# Runs the next demo even when one fails, and exits 1 if any of them failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi

failed=()
for demo in pod init probe ambassador reload metrics; do
  case "$demo" in
    pod) title="the podkit pod" ;;
    *) title="podkit-$demo" ;;
  esac
  printf '\n%s######## %s (examples/compose/%s/demo.sh)%s\n' "$bold" "$title" "$demo" "$plain"
  if "$here/$demo/demo.sh"; then
    :
  else
    code=$?
    # 130 and 143: interrupted (^C, SIGTERM). The demo has cleaned up; stop here too.
    [[ $code == 130 || $code == 143 ]] && exit "$code"
    failed+=("$demo (exit $code)")
  fi
done

echo
if ((${#failed[@]})); then
  printf 'demo: failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
echo "all demos OK"
