#!/usr/bin/env bash
# The forecast benchmark through the binary, beside the numpy baseline, alternately, in one
# run: NCT02812121, 10,000 replicates, seed 1, on the peer's model
# (tests/bench/peer_forecast.toml), then on the bundled plan (site calendar, Poisson-gamma).
# Time and peak memory from /usr/bin/time. Needs numpy (a virtual environment):
#     python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
#     PYTHON=/tmp/venv/bin/python bash tests/bench/forecast.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
PEER=../shared/bench/peer_forecast.py
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cargo build --release --quiet
for i in 1 2 3; do
  /usr/bin/time -f "numpy peer:          %e s, %M KB peak" "$PYTHON" "$PEER" 10000 1 "$OUT/peer.csv"
  /usr/bin/time -f "dosesim (peer plan): %e s, %M KB peak" ./target/release/dosesim forecast \
    scenarios/nct02812121.toml --plan tests/bench/peer_forecast.toml --out "$OUT/a" --force >/dev/null 2>"$OUT/err" \
    || { cat "$OUT/err"; exit 1; }
  tail -1 "$OUT/err"
done
for i in 1 2 3; do
  /usr/bin/time -f "dosesim (demo plan): %e s, %M KB peak" ./target/release/dosesim forecast \
    scenarios/nct02812121.toml --out "$OUT/b" --force >/dev/null 2>"$OUT/err" || { cat "$OUT/err"; exit 1; }
  tail -1 "$OUT/err"
done
# Memory at ten times the replicates (the peer's plan).
/usr/bin/time -f "dosesim (peer plan, 100,000 replicates): %e s, %M KB peak" ./target/release/dosesim \
  forecast scenarios/nct02812121.toml --plan tests/bench/peer_forecast.toml --replicates 100000 \
  --out "$OUT/c" --force >/dev/null 2>"$OUT/err" || { cat "$OUT/err"; exit 1; }
tail -1 "$OUT/err"
