"""``carton network create|ls|inspect|rm``: docker's named networks.

A network is a definition (``network/config.py``); its bridge, rules and
addresses exist only while containers use it (``network/bridge.py``).
"""

import sys

from ..errors import CartonError
from .args import Option, parse, usage

USAGE = """Usage: carton network COMMAND

Manage networks.

Commands:
  create [--subnet CIDR] NAME   define a network (its bridge is made when a container joins)
  ls [-q]                       list networks
  inspect NAME...               show networks as JSON, with the containers on them
  rm NAME...                    remove networks that no container uses
"""

CREATE = [Option("--subnet", "the network's IPv4 subnet, e.g. 10.87.5.0/24 (default: the next "
                 "free /24 of 10.87.0.0/16)", value=True, metavar="CIDR"),
          Option("--help", "show this help")]
LS = [Option("-q,--quiet", "only names"), Option("--help", "show this help")]


def main(argv, root):
    if not argv or argv[0] in ("--help", "-h", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 125
    verb, args = argv[0], argv[1:]
    handler = {"create": _create, "ls": _ls, "list": _ls, "inspect": _inspect,
               "rm": _rm, "remove": _rm}.get(verb)
    if handler is None:
        raise CartonError(f"unknown network command {verb!r} (see carton network --help)", 125)
    from ..runtime.sweep import sweep

    sweep(root)  # what a crashed run left must not hold addresses or block rm
    return handler(args)


def _create(args):
    values, rest = parse(args, CREATE)
    if values["help"]:
        sys.stdout.write(usage("carton network create [--subnet CIDR] NAME",
                               "Define a network.", CREATE))
        return 0
    if len(rest) != 1:
        raise CartonError("carton network create takes exactly one NAME", 125)
    from ..linux.netlink import Netlink
    from ..network import bridge, config

    with Netlink() as nl:
        routes = bridge.host_routes(nl)
    network = config.define(rest[0], values["subnet"], routes)
    print(network.name)
    return 0


def _ls(args):
    values, rest = parse(args, LS)
    if values["help"]:
        sys.stdout.write(usage("carton network ls [-q]", "List networks.", LS))
        return 0
    if rest:
        raise CartonError("carton network ls takes no arguments", 125)
    from ..network import config

    networks = config.all_networks()
    if values["quiet"]:
        print("\n".join(n.name for n in networks))
        return 0
    in_use = _in_use()
    rows = [("NAME", "BRIDGE", "SUBNET", "CONTAINERS")]
    rows += [(n.name, n.bridge, str(n.subnet), str(len(in_use.get(n.name, {}))))
             for n in networks]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "   " + r[3])
    return 0


def _inspect(args):
    if not args:
        raise CartonError("carton network inspect needs at least one NAME", 125)
    import json

    from ..network import config

    in_use = _in_use()
    out = []
    for name in args:
        network = config.load(name)
        d = {"Name": network.name, "Driver": "bridge", "Created": network.created,
             "Bridge": network.bridge,
             "IPAM": {"Config": [{"Subnet": str(network.subnet),
                                  "Gateway": network.to_dict()["gateway"]}]},
             "Containers": {lease["id"]: {"Name": lease.get("name") or "",
                                          "IPv4Address": f"{ip}/{network.subnet.prefix}"}
                            for ip, lease in in_use.get(name, {}).items()}}
        out.append(d)
    print(json.dumps(out, indent=4))
    return 0


def _rm(args):
    if not args:
        raise CartonError("carton network rm needs at least one NAME", 125)
    from ..network import config
    from ..network.store import Store

    for name in args:
        config.load(name)
        with Store() as store:
            rec = store.network(name)
            if rec and rec["leases"]:
                users = ", ".join(lease.get("name") or lease["id"][:12]
                                  for lease in rec["leases"].values())
                raise CartonError(f"network {name} is in use by container(s) {users}")
            config.undefine(name)
        print(name)
    return 0


def _in_use():
    """{network name: {address: lease}} for the networks containers use now."""
    from ..network.store import Store

    with Store() as store:
        return {name: dict(rec["leases"]) for name, rec in store.data["networks"].items()}

