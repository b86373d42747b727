"""The little networking a new network namespace needs: bring ``lo`` up.

A new network namespace has only a loopback device, and it starts down; many
programs expect 127.0.0.1 to work. Turning it up is one ioctl on any socket,
so this needs no netlink library. Constants from <linux/sockios.h> and <net/if.h>.
"""

import _socket  # the C module: socket.py imports enum and selectors, ~2.5 ms
import fcntl
import struct

from .. import explain

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH14x"  # struct ifreq: name, then ifr_flags in the union


def link_up(name):
    """Set IFF_UP on a network interface. ioctl(2) SIOCSIFFLAGS, see netdevice(7).

    Why: the loopback device of a new network namespace is down.
    """
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(_IFREQ, name.encode(), 0))
        flags = struct.unpack(_IFREQ, req)[1]
        explain.call("ioctl", explain.Raw("socket(AF_INET)"), explain.Raw("SIOCSIFFLAGS"),
                     explain.Raw(f'{{"{name}", IFF_UP}}'))
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(_IFREQ, name.encode(), flags | IFF_UP))
    finally:
        s.close()
