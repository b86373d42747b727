"""``-p/--publish [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]``, with ranges, as docker reads it.

A published port is a DNAT rule (``firewall.py``): traffic to HOST_PORT on a
local address of the host (or only on IP, if given) is sent on to the
container's address and CONTAINER_PORT. Ranges (``8000-8009:80-89``) publish
one rule per port, and must be as long on both sides.
"""

from ..errors import CartonError
from .addresses import to_int


class Published:
    """One published port: ``host_ip`` ("" for every local address), ports, protocol."""

    __slots__ = ("host_ip", "host_port", "container_port", "proto")

    def __init__(self, host_ip, host_port, container_port, proto):
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_port = container_port
        self.proto = proto

    def to_dict(self):
        return {"host_ip": self.host_ip, "host_port": self.host_port,
                "container_port": self.container_port, "proto": self.proto}

    def __str__(self):
        host = f"{self.host_ip}:" if self.host_ip else ""
        return f"{host}{self.host_port}->{self.container_port}/{self.proto}"


def parse(text):
    """One ``-p`` value -> a list of Published; a one-line error naming the value if it is wrong."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise CartonError(f"invalid --publish {text!r}: the protocol must be tcp or udp")
    if spec.startswith("["):
        raise CartonError(f"invalid --publish {text!r}: only IPv4 addresses can be published")
    parts = spec.split(":")
    if len(parts) == 3:
        host_ip, host, container = parts
        try:
            to_int(host_ip)
        except CartonError:
            raise CartonError(f"invalid --publish {text!r}: {host_ip!r} is not an IPv4 "
                              "address") from None
        if host_ip == "0.0.0.0":
            host_ip = ""
    elif len(parts) == 2:
        host_ip, (host, container) = "", parts
    elif len(parts) == 1:
        raise CartonError(f"invalid --publish {text!r}: give the host port too, "
                          "HOST_PORT:CONTAINER_PORT (Carton does not pick one for you)")
    else:
        raise CartonError(f"invalid --publish {text!r}: use [IP:]HOST_PORT:CONTAINER_PORT[/PROTO]")
    if not host:
        raise CartonError(f"invalid --publish {text!r}: give the host port, "
                          "Carton does not pick one for you")
    hosts = _range(host, text)
    containers = _range(container, text)
    if len(hosts) != len(containers):
        raise CartonError(f"invalid --publish {text!r}: the host range and the container range "
                          "must have the same length")
    return [Published(host_ip, h, c, proto) for h, c in zip(hosts, containers, strict=True)]


def parse_all(values):
    """Every ``-p`` of a run; the same host port twice is an error already here."""
    result = []
    for text in values:
        for p in parse(text):
            if any(conflict(p.to_dict(), q.to_dict()) for q in result):
                raise CartonError(f"port {p.host_port}/{p.proto} is published twice")
            result.append(p)
    return result


def conflict(a, b):
    """Do two publications (as dicts) claim the same host port? "Every address" meets any address."""
    return (a["host_port"] == b["host_port"] and a["proto"] == b["proto"]
            and (not a["host_ip"] or not b["host_ip"] or a["host_ip"] == b["host_ip"]))


def _range(text, whole):
    first, dash, last = text.partition("-")
    try:
        a = int(first)
        b = int(last) if dash else a
    except ValueError:
        raise CartonError(f"invalid --publish {whole!r}: {text!r} is not a port or a range") from None
    if not (1 <= a <= 65535 and 1 <= b <= 65535) or b < a:
        raise CartonError(f"invalid --publish {whole!r}: ports are 1-65535, ranges low-high")
    return list(range(a, b + 1))
