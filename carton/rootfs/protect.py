"""Masked and read-only paths: the parts of /proc and /sys a container must not use.

/proc and /sys are shared with the host kernel: /proc/kcore is its memory,
/proc/sysrq-trigger can reboot it. ``maskedPaths`` hides such paths (a
file gets /dev/null bound over it, a directory an empty read-only tmpfs);
``readonlyPaths`` leaves them visible but read-only. Both run after
pivot_root, on the container's own /proc and /sys.
"""

import os

from ..linux import mount as m
from .mounts import kept_flags


def mask(path):
    """Hide ``path``: bind /dev/null over a file, or mount an empty read-only tmpfs on a directory."""
    if os.path.isdir(path) and not os.path.islink(path):
        m.mount("tmpfs", path, "tmpfs", m.MS_RDONLY, "size=0k")
    elif os.path.lexists(path):
        m.mount("/dev/null", path, None, m.MS_BIND)
    # A path that does not exist needs no mask.


def make_readonly(path):
    """Make ``path`` read-only: bind it onto itself, then remount that bind read-only."""
    if not os.path.lexists(path):
        return
    m.mount(path, path, None, m.MS_BIND | m.MS_REC)
    m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | kept_flags(path))
