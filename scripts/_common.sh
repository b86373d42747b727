# Shared by scripts/quickstart and scripts/test: become root, install Debian packages, make the venv.

as_root() {
  # Containers need root (rootless support is not there yet): re-run through sudo if needed.
  if [ "$(id -u)" != 0 ]; then
    exec sudo -E "$0" "$@"
  fi
}

apt_install() {
  # Install the Debian/Ubuntu packages named, if any is missing. Needs apt (Debian, Ubuntu).
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

venv_python() {
  # The interpreter for .venv: the distribution's own /usr/bin/python3 where it is 3.11 or
  # newer, else the first python3 on PATH. Debian and Ubuntu build theirs with PGO and LTO and
  # link libpython into it; a Python built by pyenv (shared libpython, no PGO) starts and runs
  # Carton's Python code more slowly: ~6 ms more per container start here (bench/README.md).
  if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo /usr/bin/python3
  else
    command -v python3
  fi
}

make_venv() {
  # A virtual environment in .venv with Carton installed (editable) and the extras asked for.
  local extras=${1:-} python
  python=$(venv_python)
  # A .venv made by another interpreter (an older checkout's) is made again.
  local base='import sys; print(sys.base_prefix)'
  if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c "$base")" != "$("$python" -c "$base")" ]; then
    echo "remaking .venv with $python" >&2
    rm -rf .venv
  fi
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  # compat mode: a plain path in a .pth file, not an import hook that costs ~14 ms per start
  .venv/bin/pip install -q --disable-pip-version-check --config-settings editable_mode=compat \
    -e ".${extras}"
  # pip writes "#!$PWD/.venv/bin/python3" on bin/carton, keeping no flags: add -S, which
  # spares every container's start the site module (~1.5 ms; bin/carton says why).
  sed -i '1s|^#!\(/.*python3*[0-9.]*\)$|#!\1 -S|' .venv/bin/carton
  # setuptools' distutils shim: a .pth file run at every interpreter start (~1 ms),
  # that only matters to code importing distutils. Carton does not.
  rm -f .venv/lib/python3*/site-packages/distutils-precedence.pth
}
