#!/usr/bin/env bash
# The Debian packages that the VM tests (tests/vm) need: QEMU boots a Debian kernel in which
# cgroup v2 is the only cgroup layout, and tests/v2 runs inside it (see tests/vm/README.md).
#   scripts/vm-deps.sh          install the missing ones (re-runs itself as root if needed)
#   scripts/vm-deps.sh --list   print the list, one package a line (installs nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_common.sh

VM_PACKAGES=(
  qemu-system-x86   # qemu-system-x86_64 (run with TCG: no KVM needed)
  linux-image-amd64 # a Debian kernel (/boot/vmlinuz-*) and its modules (9p, virtio) for the guest
  busybox-static    # the guest's initramfs shell (/bin/busybox)
)

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${VM_PACKAGES[@]}"
  exit 0
fi
as_root "$@"
apt_install "${VM_PACKAGES[@]}"
