#!/usr/bin/env bash
# Reproduces the pharmacy-schedule comparison in README.md: dosesim against the polars and
# pandas baselines in shared/bench/, on the same roster, on this machine, in one run.
#
#   bash tests/bench/compare.sh [PATIENTS]       (default 1000000)
#
# Writes to /dev/shm (memory) by default, so that the disk's write speed does not stand in
# for the tools' (set WORK=/some/dir to measure a disk too). Peak memory is the maximum
# resident set size from /usr/bin/time. The peers need polars and pandas: the script
# installs them in a virtual environment under $WORK the first time.
set -euo pipefail
n=${1:-1000000}
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$root/../shared}
work=${WORK:-/dev/shm/dosesim-bench}
mkdir -p "$work"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" 2> "$work/stderr.txt" > /dev/null || {
    cat "$work/stderr.txt" >&2; return 1; }
  read -r secs kb < "$work/time.txt"
  local rows=$(( $(wc -l < "$work/$label.csv") - 1 ))
  printf '%-8s %9d rows  %6.2f s  %6.2f M rows/s  peak %5d MB  %5d MB of CSV\n' \
    "$label" "$rows" "$secs" "$(awk -v r="$rows" -v s="$secs" 'BEGIN { print r / s / 1e6 }')" $((kb / 1024)) \
    $(( $(stat -c %s "$work/$label.csv") / 1000000 ))
}

python3 "$shared/bench/make_roster.py" "$n" "$work/roster.csv"
(cd "$root" && cargo build --release --quiet)
for run in 1 2 3; do
  measure dosesim "$root/target/release/dosesim" pharmacy "$root/scenarios/nct04822922.toml" \
    --roster "$work/roster.csv" --out "$work/dosesim.csv"
done

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet polars pandas
fi
measure polars "$work/venv/bin/python" "$shared/bench/peer_expand.py" polars "$work/roster.csv" "$work/polars.csv"
measure pandas "$work/venv/bin/python" "$shared/bench/peer_expand.py" pandas "$work/roster.csv" "$work/pandas.csv"
