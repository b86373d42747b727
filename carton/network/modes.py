"""``--network``: what kind of network a ``carton run`` container gets.

* ``none``: a network namespace of its own with only ``lo``.
* ``host``: no network namespace; the host's links, addresses and ports.
* ``container:NAME|ID``: the network namespace of a running container
  (``/proc/PID/ns/net`` of its init), and its /etc/hosts and resolv.conf.
* ``bridge`` (the default for root, as with docker) or the name of a network
  made with ``carton network create``: a namespace of its own, connected to
  the network's bridge by a veth pair (``bridge.py``).
"""

import os

from ..errors import CartonError
from . import config, ports


class Choice:
    """The decision: ``mode`` none|host|container|bridge, plus what each needs."""

    __slots__ = ("mode", "network", "published", "netns_path", "etc_sources", "hostname",
                 "extra_hosts")

    def __init__(self, mode, network=None, published=(), netns_path=None, etc_sources=None,
                 hostname=None):
        self.mode = mode
        self.network = network          # bridge: the network's name
        self.published = list(published)  # bridge: ports.Published
        self.netns_path = netns_path    # container: the namespace to join
        self.etc_sources = etc_sources or {}  # container: /etc files to share, by host path
        self.hostname = hostname        # host, container: the hostname the mode implies
        self.extra_hosts = []           # --add-host (name, address): kept in /etc/hosts


def check_dns(values, flag="--dns"):
    """``--dns IP``: IPv4 or IPv6 addresses, as resolv.conf(5) takes them."""
    for ip in values:
        if not _is_address(ip):
            raise CartonError(f"invalid {flag} {ip!r}: not an IP address")
    return list(values)


def check_add_hosts(values):
    """``--add-host NAME:IP`` -> [(name, ip)]; docker's ``host-gateway`` is not supported."""
    entries = []
    for text in values:
        name, sep, ip = text.partition(":")
        if not sep or not name or not _is_address(ip):
            raise CartonError(f"invalid --add-host {text!r}: use NAME:IP, e.g. db:10.0.0.5")
        if not set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") \
                or name[0] in "-.":
            raise CartonError(f"invalid --add-host {text!r}: {name!r} is not a host name")
        entries.append((name, ip))
    return entries


def _is_address(text):
    import _socket

    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, text)
            return True
        except OSError:
            continue
    return False


def choose(value, publish, root, hostname_given):
    """Check ``--network VALUE`` and ``-p`` together; a one-line error for any bad input."""
    value = value or config.DEFAULT_NETWORK
    published = ports.parse_all(publish)
    if value in ("none", "host") or value.startswith("container:"):
        if published:
            raise CartonError(f"conflicting options: port publishing and --network {value} "
                              "(ports are published only on a bridge network)")
    if value == "none":
        return Choice("none")
    if value == "host":
        return Choice("host", hostname=os.uname().nodename)
    if value.startswith("container:"):
        if hostname_given:
            raise CartonError("conflicting options: --hostname and --network container:... "
                              "(the container's hostname is the other container's)")
        return _join_container(value[len("container:"):], root)
    config.load(value)  # it must exist: "network X not found" now, before anything is made
    return Choice("bridge", network=value, published=published)


def _join_container(ref, root):
    from ..runtime.state import StateDir, pid_alive

    if not ref:
        raise CartonError("--network container: needs a container NAME or ID")
    record = sd = None
    link = os.path.join(root, ".names", ref)
    candidates = []
    if os.path.islink(link):
        candidates = [os.readlink(link)]
    else:
        try:
            candidates = [cid for cid in os.listdir(root) if cid.startswith(ref)
                          and not cid.startswith(".")]
        except FileNotFoundError:
            pass
    if len(candidates) > 1:
        raise CartonError(f"--network container:{ref}: more than one container id starts "
                          "with it; give more of the id")
    if candidates:
        sd = StateDir(root, candidates[0])
        try:
            record = sd.load()
        except (OSError, ValueError):
            record = None
    if record is None:
        raise CartonError(f"--network container:{ref}: no such container")
    if not pid_alive(record.get("pid"), record.get("start_time")):
        raise CartonError(f"--network container:{ref}: the container is not running")
    sources = {f: sd.file(f) for f in ("hosts", "resolv.conf", "hostname")
               if os.path.exists(sd.file(f))}
    hostname = None
    if "hostname" in sources:
        with open(sources["hostname"]) as f:
            hostname = f.read().strip() or None
    return Choice("container", netns_path=f"/proc/{record['pid']}/ns/net",
                  etc_sources=sources, hostname=hostname)
