"""The container's /dev: the few device nodes every program expects, and the usual links.

When a spec mounts a fresh tmpfs on /dev (as docker's and runc's defaults
do), the runtime fills it with the same small set runc creates, whatever
the spec's ``devices`` list says: null, zero, full, random, urandom, tty.
The host's disks, consoles and the like never appear.
"""

import os
import stat

from .. import explain
from .paths import open_in_root

# name: (major, minor), all character devices with mode 0666, owned by root.
DEFAULT_DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7),
    "random": (1, 8), "urandom": (1, 9), "tty": (5, 0),
}

# link: target. /dev/ptmx points into the container's own devpts instance.
DEFAULT_LINKS = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx",
}


def make_default_devices(root_fd):
    """mknod(2) each default device in the container's /dev. Needs CAP_MKNOD (root)."""
    dev = open_in_root(root_fd, "/dev", os.O_PATH | os.O_DIRECTORY)
    try:
        old_umask = os.umask(0)  # so the nodes really get mode 0666
        try:
            for name, (major, minor) in DEFAULT_DEVICES.items():
                explain.call("mknod", f"/dev/{name}", explain.Raw("S_IFCHR|0666"),
                             explain.Raw(f"makedev({major}, {minor})"))
                _replace(name, dev)
                try:
                    os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
                except PermissionError:
                    _bind_host_device(name, dev)
        finally:
            os.umask(old_umask)
    finally:
        os.close(dev)


def _bind_host_device(name, dev_fd):
    """mknod(2) is refused in a user namespace: bind the host's node onto an empty file instead."""
    from ..linux import mount as m
    from .paths import fd_path

    fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666, dir_fd=dev_fd)
    os.close(fd)
    target = os.open(name, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=dev_fd)
    try:
        m.mount(f"/dev/{name}", fd_path(target), None, m.MS_BIND)
    finally:
        os.close(target)


def make_default_links(root_fd):
    """symlink(2) /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr and /dev/ptmx."""
    dev = open_in_root(root_fd, "/dev", os.O_PATH | os.O_DIRECTORY)
    try:
        for name, target in DEFAULT_LINKS.items():
            explain.call("symlink", target, f"/dev/{name}")
            _replace(name, dev)
            os.symlink(target, name, dir_fd=dev)
    finally:
        os.close(dev)


def _replace(name, dir_fd):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


_KIND = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def make_devices(root_fd, spec_devices):
    """mknod(2) the config's ``linux.devices``, each with its mode and owner."""
    from .paths import make_dirs_in_root

    old_umask = os.umask(0)
    try:
        for dev in spec_devices:
            parent, _, name = dev.path.rpartition("/")
            dir_fd = make_dirs_in_root(root_fd, parent or "/")
            try:
                mode = _KIND[dev.type] | (0o666 if dev.file_mode is None else dev.file_mode & 0o7777)
                explain.call("mknod", dev.path, explain.Raw(f"{mode:#o}"),
                             explain.Raw(f"makedev({dev.major}, {dev.minor})"))
                _replace(name, dir_fd)
                os.mknod(name, mode, os.makedev(dev.major, dev.minor), dir_fd=dir_fd)
                os.chown(name, dev.uid or 0, dev.gid or 0, dir_fd=dir_fd, follow_symlinks=False)
            finally:
                os.close(dir_fd)
    finally:
        os.umask(old_umask)
