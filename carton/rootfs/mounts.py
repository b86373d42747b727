"""Mounting the entries of a spec's ``mounts`` list into the container's root.

Every target is resolved inside the root (see ``paths.py``) and mounted
through ``/proc/self/fd/N``, so a symlink in the rootfs cannot send a mount
to the host.
"""

import os

from .. import explain
from ..linux import mount as m
from . import options as mount_options
from .paths import fd_path, make_mountpoint, open_in_root

# statvfs(3) flag bits, as <sys/statvfs.h> numbers them (only some match MS_*).
_ST_NOSUID, _ST_NODEV, _ST_NOEXEC = 2, 4, 8
_ST_NOATIME, _ST_NODIRATIME, _ST_RELATIME = 1024, 2048, 4096


def kept_flags(path):
    """The flags a remount of ``path`` must keep: nosuid, nodev, noexec and the atime mode.

    Clearing nosuid, nodev or noexec could only make the container less safe;
    and inside a user namespace the kernel *refuses* a remount that would
    clear them or change the atime mode of a mount inherited from the host
    (they are "locked"), so we always carry them over.
    """
    f = os.statvfs(path).f_flag
    flags = 0
    for st, ms in ((_ST_NOSUID, m.MS_NOSUID), (_ST_NODEV, m.MS_NODEV), (_ST_NOEXEC, m.MS_NOEXEC),
                   (_ST_NOATIME, m.MS_NOATIME), (_ST_NODIRATIME, m.MS_NODIRATIME),
                   (_ST_RELATIME, m.MS_RELATIME)):
        if f & st:
            flags |= ms
    return flags


def bind_root(root_path):
    """Bind-mount the root filesystem onto itself.

    pivot_root(2) needs the new root to be a mount point; a bind mount makes
    any directory one, and gives us a mount whose flags we may change later
    (for ``--read-only``) without touching the host's.
    """
    m.mount(root_path, root_path, None, m.MS_BIND | m.MS_REC)


def remount_path(path, flags):
    """Add ``flags`` to the bind mount at the host path ``path`` (MS_REMOUNT|MS_BIND)."""
    m.mount(None, path, None, m.MS_REMOUNT | m.MS_BIND | flags | kept_flags(path))


def mount_point_of(path):
    """The mount point of the mount that holds ``path`` (the longest match in mountinfo)."""
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    return best


def mount_entry(root_fd, mnt, cgroup_paths=None):
    """Mount one spec ``Mount`` inside the root opened as ``root_fd``."""
    opts = mount_options.parse(mnt.options)
    if mnt.type in ("cgroup", "cgroup2"):
        from .cgroupfs import mount_cgroup

        mount_cgroup(root_fd, mnt.destination, opts.flags & ~m.MS_REMOUNT, cgroup_paths)
        return
    is_bind = opts.is_bind or mnt.type == "bind"
    if is_bind:
        source_is_dir = os.path.isdir(mnt.source)  # the source is a host path
        if not source_is_dir and not os.path.exists(mnt.source):
            raise FileNotFoundError(2, "bind mount source does not exist", mnt.source)
        target = make_mountpoint(root_fd, mnt.destination, for_file=not source_is_dir)
    else:
        target = make_mountpoint(root_fd, mnt.destination, for_file=False)
    explain.note(f"{mnt.destination} is /proc/self/fd/{target} (resolved inside the root)")
    try:
        if is_bind:
            flags = m.MS_BIND | (opts.flags & m.MS_REC)
            m.mount(mnt.source, fd_path(target), None, flags)
            extra = opts.flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
            if extra:
                # The kernel ignores ro, nosuid... on the first bind(2) of a
                # mount; they take effect in a second, remounting call.
                remount(root_fd, mnt.destination, extra)
        else:
            try:
                m.mount(mnt.source or mnt.type, fd_path(target), mnt.type,
                        opts.flags & ~m.MS_REMOUNT, opts.data)
            except PermissionError:
                if mnt.type != "sysfs":
                    raise
                # In a user namespace that does not own the network namespace the
                # kernel refuses a new sysfs: bind the host's, as runc does.
                m.mount("/sys", fd_path(target), None, m.MS_BIND | m.MS_REC)
                remount(root_fd, mnt.destination, opts.flags & ~(m.MS_REMOUNT | m.MS_BIND | m.MS_REC))
    finally:
        os.close(target)
    for propagation in opts.propagation:
        set_propagation(root_fd, mnt.destination, propagation)


def remount(root_fd, path, flags):
    """Change the flags of the mount at ``path`` (inside the root) with MS_REMOUNT|MS_BIND."""
    fd = open_in_root(root_fd, path)  # reopen: the old fd is the directory *under* the mount
    try:
        m.mount(None, fd_path(fd), None, m.MS_REMOUNT | m.MS_BIND | flags | kept_flags(fd_path(fd)))
    finally:
        os.close(fd)


def set_propagation(root_fd, path, propagation):
    """Make the mount at ``path`` shared, slave, private or unbindable."""
    fd = open_in_root(root_fd, path)
    try:
        m.mount(None, fd_path(fd), None, propagation)
    finally:
        os.close(fd)
