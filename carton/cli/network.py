"""``carton network create|ls|inspect|rm|prune``: docker's named networks.

A network is a definition (``network/config.py``). Its bridge and rules are
made when the first container joins it, and stay up after the last one has
left, as docker's ``docker0`` does: taking a bridge down is a kernel wait
that every container alone on its network would otherwise pay
(``network/bridge.py``). ``prune`` takes down the bridges of the networks no
container uses (``carton0`` included) and forgets the unused custom
networks; ``rm`` takes its network's bridge down too.
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
  rm NAME...                    remove networks that no container uses, and their bridges
  prune [-f]                    remove unused custom networks; take down unused bridges

A network's bridge, its nftables rules and IP forwarding stay up after its last
container, as docker0 does (taking a bridge down is a slow kernel wait), until
carton network prune takes them down: carton0 and Carton's table included.
"""

CREATE = [Option("--subnet", "the network's IPv4 subnet, e.g. 10.87.5.0/24 (default: the next "
                 "free /24 of 10.87.0.0/16)", value=True, metavar="CIDR"),
          Option("--help", "show this help")]
LS = [Option("-q,--quiet", "only names"), Option("--help", "show this help")]
PRUNE = [Option("-f,--force", "do not ask for confirmation"), Option("--help", "show this help")]
WARNING = ("WARNING! This will remove all custom networks not used by at least one container, "
           "and take down the bridges of unused networks.\n"
           "Are you sure you want to continue? [y/N] ")


def main(argv, root):
    if not argv or argv[0] in ("--help", "-h", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 125
    verb, args = argv[0], argv[1:]
    handler = {"create": _create, "ls": _ls, "list": _ls, "inspect": _inspect,
               "rm": _rm, "remove": _rm, "prune": _prune}.get(verb)
    if handler is None:
        raise CartonError(f"unknown network command {verb!r} (see carton network --help)", 125)
    from ..runtime.sweep import sweep

    sweep(root)  # what a crashed run left must not hold addresses or block rm
    return handler(args)


def _create(args):
    values, rest = parse(args, CREATE, interspersed=True)  # docker takes NAME --subnet too
    if values["help"]:
        sys.stdout.write(usage("carton network create [--subnet CIDR] NAME",
                               "Define a network.", CREATE))
        return 0
    if len(rest) != 1:
        raise CartonError("carton network create takes exactly one NAME", 125)
    from ..linux.netlink import Netlink
    from ..network import bridge, config
    from ..network.store import Store

    name = rest[0]
    config.check_new(name, values["subnet"])  # a bad name or subnet: before anything changes
    with Store() as store:
        if name == config.DEFAULT_NETWORK:
            # Moving the default network: carton0 keeps the old subnet while it is up,
            # so it goes first (refused if a container is on it), and before the host's
            # routes are read, so that its own route does not look like a clash.
            bridge.take_down(store, name)
        with Netlink() as nl:
            routes = bridge.host_routes(nl)
        network = config.define(name, values["subnet"], routes)
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
    from ..network import bridge, config
    from ..network.store import Store

    for name in args:
        config.load(name)
        with Store() as store:
            if name == config.DEFAULT_NETWORK and not config.defined(name):
                raise CartonError("the default network bridge cannot be removed")
            # The bridge before the definition (refused while a container uses it): a
            # bridge left up would outlive the only record of its subnet, or (for the
            # default network, which goes back to 10.87.0.0/24) keep the old one.
            bridge.take_down(store, name)
            config.undefine(name)
        print(name)
    return 0


def _prune(args):
    values, rest = parse(args, PRUNE)
    if values["help"]:
        sys.stdout.write(usage("carton network prune [-f]",
                               "Remove the custom networks no container uses, and take down "
                               "the bridges of unused networks.", PRUNE))
        return 0
    if rest:
        raise CartonError("carton network prune takes no arguments", 125)
    if not values["force"] and not _confirmed(WARNING):
        return 0
    from ..network import bridge, config
    from ..network.store import Store

    deleted, taken_down, errors = [], [], []
    with Store() as store:
        # Every network that is up and unused, the built-in one and any whose definition
        # is gone too: the store's records, not the definitions, say which bridges are up.
        for name, rec in list(store.data["networks"].items()):
            if not rec["leases"]:
                try:
                    bridge.take_down(store, name)
                    taken_down.append(rec["bridge"])
                except CartonError as e:
                    errors.append(str(e))
        for network in config.all_networks():
            if network.name == config.DEFAULT_NETWORK or store.network(network.name):
                continue  # built in, or still up: in use, or its take-down failed above
            config.undefine(network.name)
            deleted.append(network.name)
    _report([("Deleted Networks:", deleted), ("Bridges taken down:", taken_down)])
    if errors:
        raise CartonError("; ".join(errors))
    return 0


def _confirmed(question):
    """Ask on stdout, read a line of stdin: only y or yes goes on (as docker's prompts)."""
    sys.stdout.write(question)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _report(sections):
    """Each (title, names) as a title and one name a line, as docker prints what it pruned;
    a blank line between them, and nothing for a section without names."""
    shown = ["\n".join([title, *names]) for title, names in sections if names]
    if shown:
        print("\n\n".join(shown))


def _in_use():
    """{network name: {address: lease}} for the networks containers use now."""
    from ..network.store import Store

    with Store() as store:
        return {name: dict(rec["leases"]) for name, rec in store.data["networks"].items()}

