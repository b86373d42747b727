"""Masked and read-only paths: the parts of /proc and /sys a container must not use.

/proc and /sys are shared with the host kernel: /proc/kcore is its memory,
/proc/sysrq-trigger can reboot it. ``maskedPaths`` hides such paths (a
file gets /dev/null bound over it, a directory an empty read-only tmpfs);
``readonlyPaths`` leaves them visible but read-only. Both run after
pivot_root, on the container's own /proc and /sys.
"""

import os
import stat

from ..errors import CartonError
from ..linux import mount as m
from .mounts import kept_flags
from .paths import fd_path

_NULL = os.makedev(1, 3)


def mask(path):
    """Hide ``path``: bind /dev/null over a file, or mount an empty read-only tmpfs on a directory.

    Neither path is trusted to be what its name says: the rootfs may have made
    ``/dev/null`` a symlink to, say, /proc/sys/kernel/core_pattern, and a
    bind would then expose *that*, writable, in place of the mask
    (CVE-2025-31133 is this class). So both are opened without following
    symlinks, /dev/null must really be the null device, and the bind goes
    from fd to fd; the mask is then made read-only too.
    """
    if os.path.isdir(path) and not os.path.islink(path):
        m.mount("tmpfs", path, "tmpfs", m.MS_RDONLY, "size=0k")
        return
    if not os.path.lexists(path):
        return  # a path that does not exist needs no mask
    null = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(null)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != _NULL:
            raise CartonError(f"cannot mask {path}: the container's /dev/null is not the null "
                              "device")
        target = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            m.mount(fd_path(null), fd_path(target), None, m.MS_BIND)
        finally:
            os.close(target)
    finally:
        os.close(null)
    m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | kept_flags(path))


def make_readonly(path):
    """Make ``path`` read-only: bind it onto itself, then remount that bind read-only."""
    if not os.path.lexists(path):
        return
    m.mount(path, path, None, m.MS_BIND | m.MS_REC)
    m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | kept_flags(path))
