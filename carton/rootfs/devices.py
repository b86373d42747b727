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
                os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
        finally:
            os.umask(old_umask)
    finally:
        os.close(dev)


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
