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

make_venv() {
  # A virtual environment in .venv with Carton installed (editable) and the extras asked for.
  local extras=${1:-}
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # compat mode: a plain path in a .pth file, not an import hook that costs ~14 ms per start
  .venv/bin/pip install -q --disable-pip-version-check --config-settings editable_mode=compat \
    -e ".${extras}"
  # setuptools' distutils shim: a .pth file run at every interpreter start (~1 ms),
  # that only matters to code importing distutils. Carton does not.
  rm -f .venv/lib/python3*/site-packages/distutils-precedence.pth
}
