"""Paths inside the container's root, resolved as the container would resolve them.

A mount destination such as ``/proc`` must land inside the root filesystem
even if the rootfs contains ``proc -> /`` or ``etc -> ../../../host``: an
attacker who controls the image must not be able to make Carton mount over,
or write into, the host (CVE-2021-30465 is this class). Every path here is
opened with openat2(RESOLVE_IN_ROOT), which makes the kernel treat the root
directory fd as ``/`` for every component and symlink; a mount then targets
``/proc/self/fd/N``, the very directory we opened, so nothing can be swapped
in between.
"""

import errno
import os
import stat

from ..linux.fs import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

_IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


def open_in_root(root_fd, path, flags=os.O_PATH, mode=0):
    """Open ``path`` (a container path like ``/etc/hosts``) inside the root ``root_fd``."""
    return openat2(root_fd, path.lstrip("/") or ".", flags, mode, _IN_ROOT)


def fd_path(fd):
    """The path through which a mount(2) or open(2) reaches exactly what ``fd`` refers to."""
    return f"/proc/self/fd/{fd}"


def make_dirs_in_root(root_fd, path, mode=0o755):
    """``mkdir -p path`` inside the root; return an O_PATH fd of the directory.

    Each component is created relative to its parent's fd, and each existing
    one is re-opened with RESOLVE_IN_ROOT, so symlinks are followed only as
    they would be inside the container. A symlink to a place that does not
    exist yet (``/data -> /srv/data``) is followed *inside the root*: the
    directories are made where the link points within it, never on the host.
    """
    todo = _components(path)
    done = ""
    fd = os.dup(root_fd)
    links = 0
    try:
        while todo:
            part = todo.pop(0)
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                new = open_in_root(root_fd, f"{done}/{part}", os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                # A dangling symlink: start again from the root, along its target.
                target = os.readlink(part, dir_fd=fd)
                links += 1
                if links > 40:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path) from None
                todo = _components(target if target.startswith("/") else f"{done}/{target}") + todo
                done = ""
                os.close(fd)
                fd = os.dup(root_fd)
                continue
            os.close(fd)
            fd = new
            done += "/" + part
    except BaseException:
        os.close(fd)
        raise
    return fd


def _components(path):
    return [p for p in path.split("/") if p and p != "."]


def make_file_in_root(root_fd, path, mode=0o644):
    """Make sure a file exists at ``path`` inside the root (a mount point for a bind-mounted file)."""
    parent, _, name = path.rstrip("/").rpartition("/")
    dir_fd = make_dirs_in_root(root_fd, parent)
    try:
        try:
            return open_in_root(root_fd, path, os.O_PATH)
        except FileNotFoundError:
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, mode,
                         dir_fd=dir_fd)
            os.close(fd)
            return open_in_root(root_fd, path, os.O_PATH)
    finally:
        os.close(dir_fd)


def make_mountpoint(root_fd, path, for_file):
    """Return an O_PATH fd for ``path`` inside the root, creating a directory or an empty file.

    If something of the other kind is already there (a file where a directory
    is wanted), the mount would fail with a confusing error; say it plainly.
    """
    fd = make_file_in_root(root_fd, path) if for_file else make_dirs_in_root(root_fd, path)
    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    if is_dir == for_file:
        os.close(fd)
        want, have = ("a file", "a directory") if for_file else ("a directory", "a file")
        raise OSError(errno.ENOTDIR if not for_file else errno.EISDIR,
                      f"cannot mount {want} on {path}: it is {have} in the container")
    return fd
