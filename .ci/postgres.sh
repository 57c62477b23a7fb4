#!/usr/bin/env bash
# A throwaway PostgreSQL server for the database tests, from Debian's `postgresql` package:
# a fresh cluster in a temporary directory, listening on a unix socket in that directory only
# (no TCP port), trusting local connections, stopped and removed after the tests.
#
# .ci/run sources this file and calls postgres_install, postgres_start and postgres_stop.
# By hand:
#   eval "$(bash .ci/postgres.sh start)"   # exports DOSESIM_TEST_POSTGRES and DOSESIM_PG_DIR
#   cargo test --test main postgres_harness
#   bash .ci/postgres.sh stop              # stops the server in $DOSESIM_PG_DIR, removes it
#
# DOSESIM_TEST_POSTGRES is a URL of the server's `postgres` database (the socket directory
# percent-encoded as the host); tests/common/postgres.rs makes a fresh database per test on it.
# initdb refuses to run as root, so as root (CI) the server runs as Debian's `postgres` user.

# The newest installed server's binary directory (/usr/lib/postgresql/<version>/bin), or
# nothing.
postgres_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
  fi
}

postgres_install() {
  if [ -z "$(postgres_bindir)" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

# Runs a server program as the server's owner: the `postgres` user when we are root.
postgres_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts the cluster; sets and exports DOSESIM_PG_DIR and DOSESIM_TEST_POSTGRES.
postgres_start() {
  local bin dir
  bin=$(postgres_bindir)
  if [ -z "$bin" ]; then
    echo "PostgreSQL's server is not installed: apt-get install -y postgresql" \
      "(bash .ci/run installs it)" >&2
    return 1
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/dosesim-pg.XXXXXX")
  # Named at once, so that postgres_stop removes it whatever happens next.
  DOSESIM_PG_DIR=$dir
  export DOSESIM_PG_DIR
  mkdir "$dir/sock"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$dir"
  fi
  # The server's programs run from inside the directory: root's working directory may be
  # closed to the postgres user.
  (
    cd "$dir" &&
      postgres_as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
        -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
  ) || {
    cat "$dir/initdb.log" >&2
    postgres_stop
    return 1
  }
  # Throwaway data: no fsync (the tests kill clients, never the machine).
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir/sock'
port = 5432
fsync = off
full_page_writes = off
synchronous_commit = off
EOF
  (cd "$dir" && postgres_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
    >/dev/null) || {
    cat "$dir/server.log" >&2
    postgres_stop
    return 1
  }
  DOSESIM_TEST_POSTGRES="postgresql://postgres@${dir//\//%2F}%2Fsock:5432/postgres"
  export DOSESIM_TEST_POSTGRES
}

# Stops the server started by postgres_start and removes its directory; does nothing when
# none was started. Safe to call twice (as an EXIT trap after an explicit stop).
postgres_stop() {
  local bin dir=${DOSESIM_PG_DIR:-}
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    return 0
  fi
  bin=$(postgres_bindir)
  if [ -f "$dir/data/postmaster.pid" ]; then
    (cd "$dir" && postgres_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null) ||
      echo "could not stop the test PostgreSQL server in $dir" >&2
  fi
  rm -rf "$dir"
  unset DOSESIM_PG_DIR DOSESIM_TEST_POSTGRES
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      postgres_install
      postgres_start
      printf 'export DOSESIM_PG_DIR=%q\nexport DOSESIM_TEST_POSTGRES=%q\n' \
        "$DOSESIM_PG_DIR" "$DOSESIM_TEST_POSTGRES"
      ;;
    stop) postgres_stop ;;
    *)
      echo "usage: bash .ci/postgres.sh start|stop" >&2
      exit 2
      ;;
  esac
fi
