"""Entering the new root: pivot_root(2), then detaching the old one."""

import os

from .. import explain
from ..linux import mount as m


def enter_root(root_path):
    """Make ``root_path`` the root of this mount namespace and drop the host's root from view.

    The ``pivot_root(".", ".")`` idiom (see pivot_root(2), "NOTES") stacks the
    old root *on top of* the new one at the same place, so no directory for
    it is needed inside the container; unmounting "." with MNT_DETACH then
    removes the old root, leaving the new root visible. Mounts were made
    private first, so the detach does not propagate to the host.
    """
    explain.call("chdir", root_path)
    os.chdir(root_path)
    m.pivot_root(".", ".")
    m.umount2(".", m.MNT_DETACH)
    explain.call("chdir", "/")
    os.chdir("/")


def remount_root_readonly():
    """``--read-only``: remount the container's root bind mount read-only.

    Done after every other mount, because making mount points (for /etc/hosts
    and volumes) writes to the root.
    """
    from .mounts import kept_flags

    m.mount(None, "/", None, m.MS_REMOUNT | m.MS_BIND | m.MS_RDONLY | kept_flags("/"))
