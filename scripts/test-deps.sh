#!/usr/bin/env bash
# The Debian packages that the client tests (tests/clients) need: the real containerd and podman
# drive the runtime under test, and umoci + skopeo build their busybox image without a registry.
#   scripts/test-deps.sh          install the missing ones (re-runs itself as root if needed)
#   scripts/test-deps.sh --list   print the list, one package a line (installs nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_common.sh

CLIENT_PACKAGES=(
  containerd       # containerd, ctr and containerd-shim-runc-v2 (calls the runtime)
  podman           # podman 4.x ...
  conmon           # ... and its monitor, which calls the runtime
  runc             # the reference runtime the harness is proven with (CARTON_CLIENT_RUNTIME=/usr/sbin/runc)
  skopeo           # OCI layout -> docker-archive, for `ctr images import` and `podman load`
  umoci            # builds the OCI image layout from a busybox root filesystem
  busybox-static   # the busybox in that root filesystem
  util-linux       # unshare, nsenter, setsid: containerd runs in a mount namespace of its own
)

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${CLIENT_PACKAGES[@]}"
  exit 0
fi
as_root "$@"
apt_install "${CLIENT_PACKAGES[@]}"
