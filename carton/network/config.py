"""Networks, docker's model: a name, a Linux bridge, a subnet. Where they are kept.

``bridge`` is the default network, as in docker: the bridge ``carton0`` on
10.87.0.0/24. ``carton network create NAME`` adds more, each with its own
bridge (``carton1``, ``carton2``, ...) and, unless ``--subnet`` says, the next
free /24 of 10.87.0.0/16. Definitions are kept in ``$CARTON_DATA_DIR/networks``
(default /var/lib/carton): they outlive reboots, like docker's. The default
network is built in and needs no file, unless it was moved with
``carton network create bridge --subnet ...`` (the way out when 10.87.0.0/24
clashes with the host's own routes).

What is in use right now (addresses handed out, published ports) is runtime
state and lives in ``store.py``.
"""

import os
import time

from .. import jsonc
from ..errors import CartonError
from .addresses import Subnet, to_text

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "carton0"
DEFAULT_SUBNET = "10.87.0.0/24"
POOL = Subnet.parse("10.87.0.0/16")  # named networks get /24s from here
MODES = ("none", "host")  # --network values that are not networks

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def data_dir():
    return os.environ.get("CARTON_DATA_DIR") or "/var/lib/carton"


def networks_dir():
    return os.path.join(data_dir(), "networks")


class Network:
    """One network: ``name``, its ``bridge`` device, its ``subnet``; the gateway is its first host."""

    __slots__ = ("name", "bridge", "subnet", "created")

    def __init__(self, name, bridge, subnet, created=""):
        self.name = name
        self.bridge = bridge
        self.subnet = subnet
        self.created = created

    @property
    def gateway(self):
        return self.subnet.host(1)

    def to_dict(self):
        return {"name": self.name, "bridge": self.bridge, "subnet": str(self.subnet),
                "gateway": to_text(self.gateway), "created": self.created}

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], d["bridge"], Subnet.parse(d["subnet"]), d.get("created", ""))


def builtin():
    return Network(DEFAULT_NETWORK, DEFAULT_BRIDGE, Subnet.parse(DEFAULT_SUBNET))


def load(name):
    """The network called ``name``; a one-line error if there is none."""
    check_name(name)
    try:
        with open(os.path.join(networks_dir(), name + ".json")) as f:
            return Network.from_dict(jsonc.loads(f.read()))
    except FileNotFoundError:
        if name == DEFAULT_NETWORK:
            return builtin()
        raise CartonError(f"network {name} not found (see carton network ls)") from None
    except (ValueError, KeyError, CartonError):
        raise CartonError(f"network {name}: its definition is damaged "
                          f"({os.path.join(networks_dir(), name + '.json')})") from None


def all_networks():
    """Every network, the default first."""
    found = {}
    try:
        names = sorted(n[:-5] for n in os.listdir(networks_dir()) if n.endswith(".json"))
    except FileNotFoundError:
        names = []
    for name in names:
        try:
            found[name] = load(name)
        except CartonError:
            continue
    if DEFAULT_NETWORK not in found:
        found[DEFAULT_NETWORK] = builtin()
    return [found[DEFAULT_NETWORK]] + [n for k, n in found.items() if k != DEFAULT_NETWORK]


def check_name(name):
    if (not name or name[0] not in _NAME_CHARS - set("_.-") or not set(name) <= _NAME_CHARS
            or len(name) > 64):
        raise CartonError(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                          "is allowed, at most 64 characters")
    if name in MODES:
        raise CartonError(f"{name!r} is a network mode, not a network name")


def defined(name):
    """Whether ``name`` has a definition file (the built-in default has none unless moved)."""
    return os.path.exists(os.path.join(networks_dir(), name + ".json"))


def check_new(name, subnet=None):
    """What ``define`` checks before it looks at the host: the name, that it is new, the
    subnet's form and that no other network has it. Returns the other networks."""
    check_name(name)
    if defined(name):
        raise CartonError(f"network with name {name} already exists")
    others = [n for n in all_networks() if n.name != name]
    if subnet is not None:
        subnet = Subnet.parse(subnet)
        for other in others:
            if subnet.overlaps(other.subnet):
                raise CartonError(f"subnet {subnet} overlaps network {other.name} ({other.subnet})")
    elif name == DEFAULT_NETWORK:
        raise CartonError("the default network exists already; to move it, give --subnet")
    return others


def define(name, subnet=None, host_routes=()):
    """Define a new network and return it (``carton network create``).

    ``host_routes`` are the host's routes as (Subnet, device) pairs: a subnet
    that overlaps one would send the containers' traffic the wrong way, so it
    is refused, naming the route.
    """
    others = check_new(name, subnet)
    path = os.path.join(networks_dir(), name + ".json")
    if subnet is not None:
        subnet = Subnet.parse(subnet)
        check_clash(subnet, host_routes, {n.bridge for n in others})
    else:
        subnet = _free_subnet(others, host_routes)
    if name == DEFAULT_NETWORK:
        bridge = DEFAULT_BRIDGE
    else:
        taken = {n.bridge for n in others}
        bridge = next(f"carton{i}" for i in range(1, 10000) if f"carton{i}" not in taken)
    network = Network(name, bridge, subnet, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    os.makedirs(networks_dir(), 0o755, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(jsonc.dumps(network.to_dict()))
    try:
        os.link(tmp, path)  # atomic, and fails if a rival defined the same name meanwhile
    except FileExistsError:
        raise CartonError(f"network with name {name} already exists") from None
    finally:
        os.unlink(tmp)
    return network


def undefine(name):
    """Forget a network's definition (the caller checked that nothing uses it)."""
    try:
        os.unlink(os.path.join(networks_dir(), name + ".json"))
    except FileNotFoundError:
        if name == DEFAULT_NETWORK:
            raise CartonError("the default network bridge cannot be removed") from None
        raise CartonError(f"network {name} not found") from None


def check_clash(subnet, host_routes, own_bridges=()):
    """Refuse a subnet that overlaps a route of the host's (other than our own bridges')."""
    for route, device in host_routes:
        if device in own_bridges or route.prefix == 0:
            continue
        if subnet.overlaps(route):
            raise CartonError(f"subnet {subnet} clashes with the host's route to {route} "
                              f"(dev {device}); choose another with "
                              f"carton network create NAME --subnet CIDR")


def _free_subnet(others, host_routes):
    for i in range(1, 256):
        candidate = Subnet(POOL.network + (i << 8), 24)
        if any(candidate.overlaps(n.subnet) for n in others):
            continue
        try:
            check_clash(candidate, host_routes, {n.bridge for n in others})
        except CartonError:
            continue
        return candidate
    raise CartonError(f"no free /24 left in {POOL}: give one with --subnet")
