"""Namespaces: unshare(2) and setns(2).

A namespace gives a process its own copy of one global resource: the mount
table, the hostname, System V IPC, process IDs, the network stack, the cgroup
root, user and group IDs. Making new ones is what turns a process into a
container. Python 3.11 has no ``os.unshare``/``os.setns`` (3.12 does), so we
call libc directly.

Flags from <linux/sched.h>.
"""

import os

from .. import explain
from .libc import check, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# The OCI runtime-spec's names for namespace types, and their flags.
BY_NAME = {
    "mount": CLONE_NEWNS,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "cgroup": CLONE_NEWCGROUP,
    "user": CLONE_NEWUSER,
}

# The file under /proc/<pid>/ns/ for each type.
PROC_NAME = {
    "mount": "mnt", "uts": "uts", "ipc": "ipc", "pid": "pid",
    "network": "net", "cgroup": "cgroup", "user": "user",
}

FLAG_NAMES = [(flag, "CLONE_NEW" + ("NS" if name == "mount" else PROC_NAME[name].upper()))
              for name, flag in BY_NAME.items()]


def unshare(flags):
    """Move the calling process into new namespaces of the given types. unshare(2).

    Why: this is the system call that makes a container. Note that a new PID
    namespace applies to the caller's *children*, not the caller itself: the
    first process forked afterwards becomes PID 1 of the new namespace.
    """
    explain.call("unshare", explain.Flags(flags, FLAG_NAMES))
    check(libc.unshare(flags), "unshare", hint=_hint(flags))


def setns(fd, nstype=0):
    """Join the namespace that the open file ``fd`` refers to. setns(2).

    Why: OCI lets a config name an existing namespace by path (``/proc/PID/ns/net``
    or a bind mount of it) for the container to join instead of making a new one.
    """
    explain.call("setns", fd, explain.Flags(nstype, FLAG_NAMES))
    check(libc.setns(fd, nstype), "setns")


def _hint(flags):
    if os.geteuid() != 0 and not flags & CLONE_NEWUSER:
        return "making namespaces needs root, or a user namespace (rootless)"
    return None
