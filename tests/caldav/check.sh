#!/usr/bin/env bash
# Checks that a real CalDAV server takes dosesim's per-trial and per-site calendar files and,
# asked for a date range, gives back exactly the events pharmacy.csv lists in that range.
#
#   bash tests/caldav/check.sh DOSESIM_BINARY      (from the repository root)
#
# Radicale (from PyPI) runs in a virtual environment, by default target/caldav-venv (set
# CALDAV_VENV to put it elsewhere), made once and reused while its pinned versions match.
# Two trials' cohorts are written to a temporary folder (NCT01724398 with its administration
# record, so that cancelled and missed events are in its calendar, and with reminders at 08:00
# the day before, so that the server takes VALARMs too), Radicale serves a
# temporary storage folder on 127.0.0.1 at a free port with no authentication, and
# check.py imports and queries the files (see its docstring). The server and the temporary
# folder are removed on any exit, a signal included; on a failure the server's warnings and
# errors are shown (dosesim's stderr if dosesim failed).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: bash tests/caldav/check.sh DOSESIM_BINARY" >&2
  exit 2
fi
# The binary as given from the caller's folder, before moving to the repository root.
bin=$1
case $bin in
  */*) bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin") ;;
  *) bin=$(command -v "$bin" || true) ;;
esac
if [ ! -x "$bin" ]; then
  echo "caldav: $1 is not an executable dosesim (build it first: cargo build)" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
here=tests/caldav

# The versions this check was verified with; constraints.txt pins what they pull in, so that
# a new release of a dependency cannot change the outcome unseen.
radicale_pin=radicale==3.9.0
icalendar_pin=icalendar==7.3.2
source tests/venv.sh
python_venv caldav "${CALDAV_VENV:-target/caldav-venv}" "$here/constraints.txt" \
  "$radicale_pin" "$icalendar_pin"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dosesim-caldav.XXXXXX")
server_pid=
check_pid=
stage=setup
cleanup() {
  local status=$?
  for pid in $check_pid $server_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$status" -ne 0 ]; then
    # What says why: dosesim's messages if it was dosesim that failed; else the server's
    # warnings and errors (a refused PUT is explained there), less those of every start.
    if [ "$stage" = dosesim ] && [ -s "$tmp/dosesim.log" ]; then
      echo "--- last lines of dosesim's stderr:" >&2
      tail -n 20 "$tmp/dosesim.log" >&2
    elif [ -s "$tmp/radicale.log" ]; then
      echo "--- Radicale's warnings and errors (last 20):" >&2
      grep -E '\[(WARNING|ERROR|CRITICAL)\]' "$tmp/radicale.log" | grep -v -e 'No user authentication' -e 'creating now' \
        | tail -n 20 >&2 || echo "(none)" >&2
    fi
    echo "caldav: FAILED (exit $status)" >&2
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
# So that an interrupt or a kill from a CI timeout still stops the server.
trap 'exit 130' INT
trap 'exit 143' TERM

# The cohorts; their warnings (days moved off closed days) go to a log, shown if dosesim fails.
out=$tmp/out
stage=dosesim
"$bin" cohort scenarios/nct04822922.toml --roster scenarios/rosters/NCT04822922.csv \
  --out "$out" 2>>"$tmp/dosesim.log"
"$bin" cohort scenarios/nct01724398.toml --roster scenarios/rosters/NCT01724398.csv \
  --log scenarios/logs/NCT01724398.csv --remind-at 08:00 --out "$out" 2>>"$tmp/dosesim.log"

stage=server
# Radicale on a free port. The port is found by binding port 0 and closing it, so another
# process could take it first: then Radicale exits at once and another port is tried.
started=
for attempt in 1 2 3; do
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Only this file's settings: --config replaces the default paths (/etc/radicale/config,
  # ~/.config/radicale/config) and RADICALE_CONFIG.
  cat >"$tmp/radicale.conf" <<EOF
[server]
hosts = 127.0.0.1:$port
[auth]
type = none
[storage]
filesystem_folder = $tmp/collections
[web]
type = none
[logging]
level = info
EOF
  "$py" -m radicale --config "$tmp/radicale.conf" >>"$tmp/radicale.log" 2>&1 &
  server_pid=$!
  # Until it answers an HTTP request (any status), for at most 30 s.
  for _ in $(seq 150); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" 2>/dev/null || true
      server_pid=
      break
    fi
    if "$py" - "$port" <<'EOF' 2>/dev/null; then
import sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    opener.open(urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/", method="OPTIONS"), timeout=2)
except urllib.error.HTTPError:
    pass
EOF
      started=1
      break
    fi
    sleep 0.2
  done
  [ -n "$started" ] && break
  if [ -n "$server_pid" ]; then
    echo "caldav: Radicale did not answer on 127.0.0.1:$port within 30 s" >&2
    exit 1
  fi
  echo "caldav: Radicale exited at start (attempt $attempt, port $port)" >&2
done
if [ -z "$started" ]; then
  echo "caldav: Radicale could not be started" >&2
  exit 1
fi
"$py" -c 'import importlib.metadata as m, sys
print("caldav: Radicale %s on 127.0.0.1:%s, icalendar %s"
      % (m.version("radicale"), sys.argv[1], m.version("icalendar")))' "$port"

stage=check
# In the background and waited for, so that a signal reaches the trap at once, not when the
# checker ends.
"$py" "$here/check.py" --url "http://127.0.0.1:$port" --out "$out" NCT04822922 NCT01724398 &
check_pid=$!
wait "$check_pid"
