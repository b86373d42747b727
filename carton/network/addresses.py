"""IPv4 subnets as plain integers: parse, check, overlap, pick the n-th host.

Small on purpose: ``ipaddress`` is a fine module, but it costs ~3 ms to import
on every ``carton run`` with a network, and we need five of its ideas.
"""

import _socket

from ..errors import CartonError


def to_int(text):
    """``"10.87.0.2"`` -> 173473794; a CartonError if it is not a dotted IPv4 address."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        raise CartonError(f"invalid IPv4 address {text!r}")
    return int.from_bytes(_socket.inet_aton(text), "big")


def to_text(n):
    return _socket.inet_ntoa(n.to_bytes(4, "big"))


class Subnet:
    """An IPv4 network: its first address and prefix length, e.g. 10.87.0.0/24."""

    __slots__ = ("network", "prefix")

    def __init__(self, network, prefix):
        self.network = network
        self.prefix = prefix

    @classmethod
    def parse(cls, text):
        """``"10.87.0.0/24"``; host bits must be zero, as docker insists, and 8 <= prefix <= 30."""
        address, sep, prefix = text.partition("/")
        if not sep or not prefix.isdigit():
            raise CartonError(f"invalid subnet {text!r}: write it as ADDRESS/PREFIX, "
                              "for example 10.87.5.0/24")
        prefix = int(prefix)
        if not 8 <= prefix <= 30:
            raise CartonError(f"invalid subnet {text!r}: the prefix must be 8 to 30")
        network = to_int(address)
        subnet = cls(network, prefix)
        if network & ~subnet.mask & 0xFFFFFFFF:
            raise CartonError(f"invalid subnet {text!r}: did you mean {to_text(network & subnet.mask)}"
                              f"/{prefix}?")
        return subnet

    @property
    def mask(self):
        return (0xFFFFFFFF << (32 - self.prefix)) & 0xFFFFFFFF

    @property
    def size(self):
        return 1 << (32 - self.prefix)

    def host(self, n):
        """The n-th address in the subnet (1 is the gateway, by our convention)."""
        return self.network + n

    def contains(self, address):
        return address & self.mask == self.network

    def overlaps(self, other):
        shorter = min(self.prefix, other.prefix)
        mask = (0xFFFFFFFF << (32 - shorter)) & 0xFFFFFFFF if shorter else 0
        return self.network & mask == other.network & mask

    def __str__(self):
        return f"{to_text(self.network)}/{self.prefix}"

    def __eq__(self, other):
        return isinstance(other, Subnet) and (self.network, self.prefix) == (other.network, other.prefix)

    def __hash__(self):
        return hash((self.network, self.prefix))
