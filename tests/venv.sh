# Sourced by the checks that run Python tools (tests/caldav/check.sh, tests/exports/check.sh):
#
#   python_venv NAME VENV CONSTRAINTS PIN...
#
# makes the virtual environment VENV once (python3 -m venv) and installs the pinned PINs
# with CONSTRAINTS (a pip freeze of what they pulled in when the check was verified), again
# only when the pins or the constraints change (a stamp file in VENV says which were
# installed). NAME prefixes the messages. Sets `py` to the environment's python.
python_venv() {
  local name=$1 venv=$2 constraints=$3
  shift 3
  py=$venv/bin/python
  local stamp_file="$venv/.dosesim-$name"
  local stamp
  stamp="$* $(sha256sum "$constraints" | cut -d' ' -f1)"
  if [ ! -x "$py" ]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" || {
      echo "$name: python3 -m venv failed (CPython 3 with its venv module is needed)" >&2
      exit 1
    }
  fi
  if [ "$(cat "$stamp_file" 2>/dev/null || true)" != "$stamp" ]; then
    "$py" -m pip install --quiet --disable-pip-version-check -c "$constraints" "$@"
    echo "$stamp" >"$stamp_file"
  fi
}
