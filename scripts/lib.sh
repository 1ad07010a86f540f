# Shared by scripts/test and scripts/demo: a project virtualenv with the `record` command in it.
ensure_venv() {
  if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "python3 >= 3.11 is needed" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .venv
    }
  fi
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
}
