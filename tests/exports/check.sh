#!/usr/bin/env bash
# Checks dosesim's exports with validators that are not ours: every bundled trial is exported
# in each format (NCT01724398 with its administration record) and each format's checker
# (tests/exports/nonmem.py, sdtm.py, fhir.py) reads it with the tool the format's users
# trust and compares it with pharmacy.csv of the same inputs; then each checker is shown a
# deliberately broken copy of each export and must say what is wrong (check.py).
#
#   bash tests/exports/check.sh DOSESIM_BINARY      (from the repository root)
#
# The validators (pharmpy-core for NONMEM datasets, jsonschema for Dataset-JSON and FHIR's
# JSON Schema, fhir.resources for FHIR's models) run in a virtual environment, by default
# target/exports-venv (set EXPORTS_VENV to put it elsewhere), made once and reused while its
# pinned versions match. The reference files (the Dataset-JSON and FHIR schemas, CDISC's
# controlled terminology) are in ../shared/data/ (set SHARED_DATA to name another copy).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: bash tests/exports/check.sh DOSESIM_BINARY" >&2
  exit 2
fi
bin=$1
case $bin in
  */*) bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin") ;;
  *) bin=$(command -v "$bin" || true) ;;
esac
if [ ! -x "$bin" ]; then
  echo "exports: $1 is not an executable dosesim (build it first: cargo build)" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
here=tests/exports
shared=${SHARED_DATA:-../shared/data}
for f in dataset-json/dataset.schema.json fhir-r4/fhir.schema.json cdisc-ct/codelists.csv; do
  if [ ! -f "$shared/$f" ]; then
    echo "exports: $shared/$f is missing (the shared reference data; set SHARED_DATA)" >&2
    exit 2
  fi
done

# The versions this check was verified with; constraints.txt pins what they pull in.
pins="pharmpy-core==2.1.1 jsonschema==4.26.0 fhir.resources==8.3.0"
source tests/venv.sh
# shellcheck disable=SC2086
python_venv exports "${EXPORTS_VENV:-target/exports-venv}" "$here/constraints.txt" $pins

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dosesim-exports.XXXXXX")
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -s "$tmp/dosesim.log" ]; then
    echo "--- last lines of dosesim's stderr:" >&2
    tail -n 20 "$tmp/dosesim.log" >&2
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each trial: pharmacy.csv, and the three exports (nonmem twice: with ADDL/II and expanded).
mkdir -p "$tmp/pharmacy"
trials="NCT01573923 NCT01724398 NCT02812121 NCT04822922 NCT05106972"
for trial in $trials; do
  args=(--roster "scenarios/rosters/$trial.csv")
  if [ -f "scenarios/logs/$trial.csv" ]; then
    args+=(--log "scenarios/logs/$trial.csv")
  fi
  "$bin" --quiet pharmacy "$trial" "${args[@]}" --out "$tmp/pharmacy/$trial.csv" 2>>"$tmp/dosesim.log"
  for format in nonmem sdtm fhir; do
    "$bin" --quiet export "$format" "$trial" "${args[@]}" --out "$tmp/out" >/dev/null 2>>"$tmp/dosesim.log"
  done
  "$bin" --quiet export nonmem "$trial" "${args[@]}" --expanded --out "$tmp/expanded" >/dev/null 2>>"$tmp/dosesim.log"
done

"$py" -c 'import importlib.metadata as m
print("exports: " + ", ".join("%s %s" % (p, m.version(p)) for p in ("pharmpy-core", "jsonschema", "fhir.resources")))'
"$py" "$here/check.py" --work "$tmp" --shared "$shared" $trials
