#!/usr/bin/env bash
# jwtgate side-by-side benchmark: one command, from the project root or anywhere.
#   bench/run.sh [checkout]          full run, ~6½ min: 3 interleaved rounds of 4 s wrk runs
#   QUICK=1 bench/run.sh [checkout]  quick run, ~75 s: 1 round of 2 s runs (indicative only)
# checkout: whose dist/jwtgate is measured (default: the project this bench/ is in); it is not
# built here (npm run build). Knobs and method: bench/README.md. Report: stdout and
# bench/results/latest.md (+ latest.json); progress on stderr.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# 1. wrk, nginx, haproxy, redis-server from Debian, installed only when one is missing (needs root).
missing=()
for tool in wrk nginx haproxy redis-server; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "bench: missing ${missing[*]}; install them (Debian/Ubuntu: apt-get install wrk nginx haproxy redis-server)" >&2
    exit 2
  fi
  echo "bench: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
command -v node >/dev/null || { echo "bench: Node.js 20 or later is required" >&2; exit 2; }

# 2. The peers' npm packages, pinned by bench/package-lock.json; npm ci again only when the
#    lock file changed since the last install.
lock="$(sha256sum "$BENCH/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "$BENCH/node_modules/.lock-sha256" 2>/dev/null)" != "$lock" ]]; then
  echo "bench: npm ci (the peers, into bench/node_modules)" >&2
  (cd "$BENCH" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$lock" >"$BENCH/node_modules/.lock-sha256"
fi

# 3. Run, bounded as a whole. Every process the run starts is listed in the pid file; should
#    node itself be killed, this trap stops them (only if the pid still names the same process).
mkdir -p "$BENCH/results"
export BENCH_PIDFILE="$BENCH/results/.pids"
: >"$BENCH_PIDFILE"
cleanup() {
  while read -r pid started; do
    [[ -r /proc/$pid/stat ]] || continue
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    read -ra fields <<<"${stat##*) }"
    [[ "${fields[19]}" == "$started" ]] && kill -KILL "$pid" 2>/dev/null
  done <"$BENCH_PIDFILE"
  rm -f "$BENCH_PIDFILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
limit="${BENCH_TIMEOUT:-$([[ "${QUICK:-}" == 1 ]] && echo 300 || echo 1200)}"
# --foreground keeps node in the terminal's process group, so Ctrl-C reaches it.
timeout --foreground --kill-after=10 "$limit" node "$BENCH/lib/main.mjs" "$@"
