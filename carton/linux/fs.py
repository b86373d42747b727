"""Files: openat2(2) and close_range(2).

Flags from <linux/openat2.h> and <linux/close_range.h>.
"""

import os

from .. import explain
from . import cdata
from .libc import check, fsencode, syscall

SYS_openat2 = 437       # x86_64, <asm/unistd_64.h>
SYS_close_range = 436

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

CLOSE_RANGE_CLOEXEC = 1 << 2


class _OpenHow(cdata.Structure):
    _fields_ = [("flags", cdata.c_uint64), ("mode", cdata.c_uint64),
                ("resolve", cdata.c_uint64)]


def openat2(dirfd, path, flags, mode=0, resolve=0):
    """Open ``path`` relative to ``dirfd`` with limits on how it is resolved. openat2(2).

    Why: a container's root filesystem may come from someone we do not trust,
    and may hold symlinks such as ``/proc -> /`` meant to make the runtime
    mount or write over the *host's* files (CVE-2021-30465 is that class).
    With RESOLVE_IN_ROOT the kernel resolves every component, symlinks
    included, as if ``dirfd`` were ``/``: nothing can point outside it.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = syscall(SYS_openat2, dirfd, fsencode(path), cdata.byref(how), cdata.sizeof(how))
    return check(fd, "openat2", path)


def cloexec_from(first_fd):
    """Mark every fd from ``first_fd`` on close-on-exec. close_range(2).

    Why: the container's process must get only the fds it was meant to get
    (stdio, and those the user asked to pass); an fd of the runtime's left open
    could be a door back to the host (CVE-2024-21626 is that class).
    """
    explain.call("close_range", first_fd, explain.Raw("~0U"), explain.Raw("CLOSE_RANGE_CLOEXEC"))
    check(syscall(SYS_close_range, first_fd, cdata.c_uint(0xFFFFFFFF), CLOSE_RANGE_CLOEXEC),
          "close_range")
