#!/usr/bin/env bash
# One command for the whole comparison:
#   benches/peers/run.sh [--ours-bin PATH] [compare.py options...]
# 1. creates the peer venv if needed (setup.sh);
# 2. generates the seeded data sets if missing (data/, ~600 MB);
# 3. builds group-floor (floor/: the least work any reader must do, timed as
#    a lower bound) and our binary (cargo build --release --example channel_report, from the
#    repo root) unless --ours-bin is given;
# 4. runs compare.py: timings, agreement, channelattribution noise;
#    writes results.json and results.md here.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
bash "$HERE/setup.sh"
PY="$HERE/.venv/bin/python"

gen() { # name n seed [variant]
  if [[ ! -s "$HERE/data/journeys_$1.csv" || ! -s "$HERE/data/paths_$1.csv" ]]; then
    "$PY" "$HERE/gen_journeys.py" --name "$1" --n "$2" --seed "$3" --variant "${4:-plain}"
  fi
}
gen 1m 1000000 42
gen 10m 10000000 42
gen intl_100k 100000 7 intl

# group-floor: its own package and target dir, whatever CARGO_TARGET_DIR says.
(cd "$HERE/floor" && CARGO_TARGET_DIR="$HERE/floor/target" cargo build --release --quiet)

have_bin=0
for a in "$@"; do [[ "$a" == --ours-bin* ]] && have_bin=1; done
args=("$@")
if [[ $have_bin == 0 ]]; then
  if [[ -f "$REPO/examples/channel_report.rs" ]]; then
    (cd "$REPO" && cargo build --release --example channel_report)
    args=(--ours-bin "${CARGO_TARGET_DIR:-$REPO/target}/release/examples/channel_report" "${args[@]}")
  else
    echo "run.sh: $REPO/examples/channel_report.rs not found: peer side only" >&2
    args=(--ours-bin /nonexistent "${args[@]}")
  fi
fi
exec "$PY" "$HERE/compare.py" "${args[@]}"
