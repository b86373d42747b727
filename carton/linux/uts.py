"""Host and domain name: sethostname(2), setdomainname(2)."""

from .. import explain
from .libc import check, libc


def sethostname(name):
    """Set the hostname of this UTS namespace. sethostname(2).

    Why: with its own UTS namespace the container can have its own hostname
    without touching the host's.
    """
    data = name.encode()
    explain.call("sethostname", name, len(data))
    check(libc.sethostname(data, len(data)), "sethostname", name)


def setdomainname(name):
    """Set the NIS domain name of this UTS namespace. setdomainname(2)."""
    data = name.encode()
    explain.call("setdomainname", name, len(data))
    check(libc.setdomainname(data, len(data)), "setdomainname", name)
