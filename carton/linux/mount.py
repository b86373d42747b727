"""Mounts: mount(2), umount2(2) and pivot_root(2).

A container's root filesystem is a mount tree of its own, built inside a new
mount namespace so that none of it is visible on the host.

Flags from <linux/mount.h> and <sys/mount.h>.
"""

from .. import explain
from .libc import check, fsencode, libc, syscall

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2

# Order matters for narration only: combined names first would hide parts.
FLAG_NAMES = [(v, k) for k, v in list(globals().items()) if k.startswith("MS_")]

SYS_pivot_root = 155  # x86_64, <asm/unistd_64.h> (Carton supports x86_64 only for now)


def mount(source, target, fstype, flags=0, data=None):
    """Attach a filesystem (or change a mount's flags or propagation). mount(2).

    Why: everything the container sees, from its root to /proc and /dev, is
    a mount made in its own mount namespace.
    """
    explain.call("mount", source, target, fstype, explain.Flags(flags, FLAG_NAMES), data)
    check(libc.mount(fsencode(source), fsencode(target), fsencode(fstype), flags,
                     fsencode(data)),
          "mount", target)


def umount2(target, flags=0):
    """Detach a mount. umount2(2).

    Why: after pivot_root the host's root is still mounted under the
    container's; detaching it (MNT_DETACH) is what cuts the container off.
    """
    explain.call("umount2", target, explain.Flags(flags, [(MNT_DETACH, "MNT_DETACH")]))
    check(libc.umount2(fsencode(target), flags), "umount2", target)


def pivot_root(new_root, put_old):
    """Make ``new_root`` the root mount of this mount namespace. pivot_root(2).

    Why: unlike chroot(2), which only changes how paths are resolved for one
    process and can be escaped, pivot_root really swaps the namespace's root
    mount, so the old root can then be unmounted and is gone from view.
    glibc has no wrapper; we use the raw syscall.
    """
    explain.call("pivot_root", new_root, put_old)
    check(syscall(SYS_pivot_root, fsencode(new_root), fsencode(put_old)),
          "pivot_root", new_root)
