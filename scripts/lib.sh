# Shared by scripts/test, scripts/demo and scripts/testbench: what a fresh Debian machine lacks, installed
# from Debian's packages, and a project virtualenv with the `record` command in it.

# Installs the Debian packages named that are not installed yet (apt-get update first, once).
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  printf 'installing %s\n' "${missing[*]}" >&2
  if [ -z "${__apt_updated:-}" ]; then
    apt-get update -qq
    __apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_ok() { "$1" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null; }

ensure_venv() {
  if ! python_ok python3; then
    ensure_packages python3 python3-venv
    python_ok python3 || { echo "python3 >= 3.11 with venv is needed" >&2; exit 1; }
  fi
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
}
