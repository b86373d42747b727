"""Kernel settings under /proc/sys: read and write them by their sysctl(8) names.

A bridge network needs a few of the host's network settings, for example
``net.ipv4.ip_forward`` (route packets between the bridge and the outside at
all) and ``net.ipv4.conf.<bridge>.route_localnet`` (let a port published on
127.0.0.1 be forwarded to a container). They are plain files; sysctl(8) is a
front end that turns dots into slashes. Settings under /proc/sys/net belong to
a network namespace: each namespace has its own ``ip_forward``.
"""

import os

from .. import explain


def path_of(name):
    """The file of a setting: ``net.ipv4.ip_forward`` -> ``/proc/sys/net/ipv4/ip_forward``.

    A name with a ``/`` is taken as a path already, as sysctl(8) does, because
    an interface name may hold a dot: ``net/ipv4/conf/eth0.100/forwarding``.
    """
    return "/proc/sys/" + (name if "/" in name else name.replace(".", "/"))


def _open(path, flags):
    return os.open(path, flags | os.O_CLOEXEC)


def _opened(path, flags, netns):
    """An fd of ``path`` opened in network namespace ``netns`` (a path or fd; None: ours).

    The namespace a /proc/sys/net file speaks for is the one its opener was
    in when it opened it; so we open it there and use it from here.
    """
    if netns is None:
        return _open(path, flags)
    from .netlink import in_netns

    return in_netns(netns, _open, path, flags)


def read_sysctl(name, netns=None):
    """The value of a kernel setting, as text without the trailing newline.

    Why: to learn whether the host already forwards packets before we ask it
    to, and for tests to check what we set.
    """
    fd = _opened(path_of(name), os.O_RDONLY, netns)
    try:
        data = b""
        while chunk := os.read(fd, 4096):
            data += chunk
    finally:
        os.close(fd)
    return data.decode().rstrip("\n")


def write_sysctl(name, value, netns=None):
    """Set a kernel setting: ``sysctl -w NAME=VALUE``, or inside ``netns`` (a path or fd).

    Why: a bridge network needs the host to forward packets
    (``net.ipv4.ip_forward=1``) and, for ports published on 127.0.0.1,
    ``net.ipv4.conf.<bridge>.route_localnet=1``. The kernel checks the value:
    a bad one fails with EINVAL.
    """
    path = path_of(name)
    text = str(value)
    explain.call("write", path, text)
    fd = _opened(path, os.O_WRONLY, netns)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
