"""A container on a bridge network: veth pair, address, default route, NAT, published ports.

    container netns                 host
    ---------------                 ----
    eth0 10.87.0.2/24  ◄── veth ──► cv<id>  ──master──►  carton0 10.87.0.1/24 ──► NAT ──► uplink
    default via 10.87.0.1

``attach`` runs between ``create`` and ``start``: the init already has its
network namespace (``/proc/PID/ns/net``) and waits on the exec FIFO, so the
container's first instruction finds its network ready. Everything is written
down before it is made (``store.py``, and ``network.json`` in the container's
state directory); ``release`` undoes it, from that record alone, after the
container exits, on ``delete``, or in the sweep after a crash.

The bridge, its masquerade rule and IP forwarding are made by the first
container that joins the network, and then stay, as docker's ``docker0``
does: the last container to leave takes only its own veth, address and
ports. ``carton network prune`` (``take_down``) takes the bridges of unused
networks down again, ``carton0`` included, and with the last of them
Carton's nftables table and, if Carton turned it on, ``ip_forward``. Why not
take them away with the last container, as podman's netavark does: deleting
a bridge is a kernel wait (30-70 ms, the link's unregistration) and so is
deleting a table (~15 ms), so a container alone on its network paid 60-70 ms
per run for it, several times what the rest of the bridge costs.
"""

import os

from .. import explain
from ..errors import CartonError
from . import config
from .addresses import Subnet, to_int, to_text
from .ports import conflict
from .store import Store

NETNS_IFNAME = "eth0"


def veth_name(container_id):
    """The host end of a container's veth pair: ``cv`` + 13 characters of its id (IFNAMSIZ is 16)."""
    return "cv" + container_id[:13]


def attach(sd, pid, network_name, published, name=None, hostname=None, extra_hosts=()):
    """Put the container whose init is ``pid`` on ``network_name``; return its address (text).

    ``sd`` is the container's StateDir; ``published`` a list of ports.Published.
    On failure everything made so far is taken away again, and the error raised.
    """
    from ..linux import sysctl
    from ..linux.netlink import Netlink

    veth = veth_name(sd.id)
    netns = f"/proc/{pid}/ns/net"
    with Store() as store:
        # The definition is read under the lock: `carton network create bridge --subnet`
        # and `rm` change it under the same lock, after taking the old bridge down.
        net = config.load(network_name)
        _release_orphans(store)
        rec = store.network(net.name)
        # "made" is written once the first container's _make has succeeded: a record
        # without it is a network whose making failed or crashed half-way, made again.
        first = rec is None or not rec.get("made")
        if first:
            explain.step(f"check {net.subnet} against the host's routes",
                         "a subnet the host already routes elsewhere would send the "
                         "containers' traffic the wrong way")
            with Netlink() as nl:
                config.check_clash(net.subnet, host_routes(nl),
                                   {n.bridge for n in config.all_networks()})
            if rec is None:
                rec = {"bridge": net.bridge, "subnet": str(net.subnet),
                       "gateway": to_text(net.gateway), "leases": {}}
                store.data["networks"][net.name] = rec
        for p in published:
            for other in store.data["ports"]:
                if conflict(p.to_dict(), other):
                    raise CartonError(f"port {p.host_port}/{p.proto} is already published by "
                                      f"container {other.get('name') or other['id'][:12]}")
        address = _free_address(net, rec)
        ip = to_text(address)
        rec["leases"][ip] = {"id": sd.id, "state_dir": sd.path, "name": name,
                             "hostname": hostname, "veth": veth,
                             "netns": os.stat(netns).st_ino,
                             "extra_hosts": [list(e) for e in extra_hosts]}
        store.data["ports"] += [dict(p.to_dict(), id=sd.id, name=name, network=net.name,
                                     container_ip=ip) for p in published]
        if "forwarding_was" not in store.data and sysctl.read_sysctl("net.ipv4.ip_forward") != "1":
            store.data["forwarding_was"] = "0"
        explain.step(f"record {ip} on network {net.name}",
                     "record before make: the address, veth and ports are written down first, "
                     "so a crash leaves nothing nobody knows about")
        sd.write_file("network.json", f'{{"network": "{net.name}", "address": "{ip}"}}\n')
        store.save()
        try:
            _make(net, first, veth, netns, ip, published, sd.id)
        except BaseException:
            _release(store, sd.id)
            store.save()
            if first and not rec["leases"]:
                _take_down_after_failure(store, net.name)
            raise
        if first:
            rec["made"] = True
            store.save()
        _update_hosts(store, net.name)
    return ip


def release(container_id):
    """Take away what ``attach`` made for this container (safe to call twice).

    The network itself stays up, even for the last container (see the top of
    this file): ``take_down`` is for ``carton network prune`` and ``rm``.
    """
    with Store() as store:
        _release(store, container_id)
        store.save()


def take_down(store, name):
    """Take down network ``name``: its bridge and its rules; with the last network up, the
    whole nftables table and the ``ip_forward`` Carton turned on. True if it was up.

    For ``carton network prune`` and ``rm``, and before the default network
    moves to another subnet; the caller holds the store's lock. A network a
    container uses is refused. Record before make, backwards: the bridge and
    the rules go first and the record after, so if a step fails the record
    still says what is left (the error names it) and the next prune tries
    again; every step is safe to repeat.
    """
    from . import firewall

    rec = store.network(name)
    if rec is None:
        return False
    if rec["leases"]:
        raise CartonError(f"network {name} is in use by container(s) {users(rec)}")
    last = len(store.data["networks"]) == 1 and not store.data["ports"]
    explain.step(f"take down the bridge {rec['bridge']}",
                 "no container uses the network; deleting a link waits for the kernel to "
                 "unregister it, which is why a container's exit does not do it")
    errors = []
    # The bridge before its rules: the table's guard (no packet from a bridge to the
    # host's 127.0.0.0/8, which route_localnet would let in) stays as long as the bridge.
    _attempt(errors, _delete_bridge, rec["bridge"])
    if last:
        explain.step("delete Carton's nftables table", "no network is up any more")
        _attempt(errors, firewall.delete_table)
    else:
        _attempt(errors, firewall.remove_network, rec["bridge"], rec["subnet"])
    if last and "forwarding_was" in store.data:
        explain.step("turn IP forwarding off again", "it was off before Carton turned it on")
        _attempt(errors, _write_ip_forward, store.data["forwarding_was"])
    if errors:
        raise CartonError(f"cannot take down network {name}: {'; '.join(errors)}")
    del store.data["networks"][name]
    if last:
        store.data.pop("forwarding_was", None)
    store.save()
    return True


def users(rec):
    """The containers on a network, by name or short id, for messages."""
    return ", ".join(lease.get("name") or lease["id"][:12] for lease in rec["leases"].values())


def _take_down_after_failure(store, name):
    """A network whose first container failed to attach goes again: nothing else uses it,
    and a half-made one (a bridge without its rules) must not stay."""
    try:
        take_down(store, name)
    except CartonError as e:
        from .. import log

        log.warning(f"network cleanup: {e}")


def _attempt(errors, what, *args):
    """Run one clean-up step; an error is noted, and the next step still runs."""
    try:
        what(*args)
    except (OSError, CartonError) as e:
        errors.append(str(e))


def _write_ip_forward(value):
    from ..linux import sysctl

    sysctl.write_sysctl("net.ipv4.ip_forward", value)


def _make(net, first, veth, netns, ip, published, container_id):
    from ..linux import sysctl
    from ..linux.netlink import Netlink
    from . import firewall

    prefix = net.subnet.prefix
    with Netlink() as nl:
        existing = nl.link(net.bridge)
        if existing is not None and existing["kind"] != "bridge":
            raise CartonError(f"network {net.name}: the host has a link {net.bridge} that is not "
                              "a bridge; Carton will not use it")
        if first or existing is None:
            explain.step(f"make the bridge {net.bridge}",
                         "a virtual switch on the host: every container's veth plugs into it, "
                         "and its own address is the containers' gateway; it stays after the "
                         "last container, as docker0 does, until carton network prune")
            if existing is None:
                nl.add_bridge(net.bridge)
                nl.add_address(net.bridge, f"{to_text(net.gateway)}/{prefix}")
            nl.set_up(net.bridge)
            explain.step("masquerade the network's traffic to the outside",
                         "containers' private addresses are rewritten to the host's as they "
                         "leave, in Carton's own nftables table")
            # Before route_localnet below: the table also guards the bridge against
            # packets to the host's 127.0.0.0/8, which that setting would let through.
            firewall.add_network(net.bridge, str(net.subnet))
            # Lets the host's own 127.0.0.1 reach published ports: DNAT sends such
            # packets out the bridge with a loopback source, which the kernel would
            # otherwise drop as martian (docker does the same without its proxy).
            sysctl.write_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1")
        if sysctl.read_sysctl("net.ipv4.ip_forward") != "1":
            explain.step("turn on IP forwarding",
                         "the host must route between the bridge and its uplink; it stays on "
                         "with the bridges, and carton network prune turns it off again when "
                         "it takes the last one down")
            sysctl.write_sysctl("net.ipv4.ip_forward", "1")
        explain.step(f"make the veth pair {veth} <-> {NETNS_IFNAME}",
                     "a virtual cable: one end on the bridge, the other created directly in "
                     "the container's network namespace")
        nl.add_veth(veth, NETNS_IFNAME, peer_netns=netns)
        nl.set_master(veth, net.bridge)
        _hairpin(veth)
        nl.set_up(veth)
    explain.step(f"give {NETNS_IFNAME} the address {ip}/{prefix} and a default route",
                 "from a netlink socket opened inside the container's network namespace")
    with Netlink(netns=netns) as inside:
        inside.add_address(NETNS_IFNAME, f"{ip}/{prefix}")
        inside.set_up(NETNS_IFNAME)
        inside.add_route(gateway=to_text(net.gateway), dev=NETNS_IFNAME)
    for p in published:
        explain.step(f"publish {p}", "a DNAT rule sends the host port to the container")
        firewall.publish(container_id, p.host_ip or None, p.host_port, p.proto, ip,
                         p.container_port, checked=True)  # the store checked, under its lock
    for p in published:
        if p.proto == "udp":
            from ..linux import conntrack

            explain.step(f"forget tracked UDP flows to port {p.host_port}",
                         "datagrams sent before the port was published made conntrack entries "
                         "without the DNAT; later ones would follow them into nothing")
            conntrack.forget("udp", p.host_port)


def _hairpin(veth):
    """Let the bridge send a frame back out the port it came in by (hairpin mode).

    Why: a container that calls its own published port (host:8080) is DNATed
    back to itself, and that packet must leave the bridge by the port it
    arrived on, which a bridge normally refuses. It is a sysfs attribute of
    the bridge port; ``bridge link set dev VETH hairpin on`` (bridge(8)) sets
    the same thing through netlink.
    """
    path = f"/sys/class/net/{veth}/brport/hairpin_mode"
    explain.call("write", path, "1")
    with open(path, "w") as f:
        f.write("1")


def _release(store, container_id):
    """Forget and remove one container's ports and leases; its neighbours' /etc/hosts forget it.

    The network stays up, bridge and rules, even when this was its last
    container (``take_down`` is for ``carton network prune``).
    """
    from . import firewall

    errors = []
    for p in [p for p in store.data["ports"] if p["id"] == container_id]:
        _attempt(errors, lambda p=p: firewall.unpublish(container_id, p["host_ip"] or None,
                                                        p["host_port"], p["proto"], checked=True))
        store.data["ports"].remove(p)
    for name, rec in store.data["networks"].items():
        mine = [ip for ip, lease in rec["leases"].items() if lease["id"] == container_id]
        for ip in mine:
            lease = rec["leases"].pop(ip)
            # A namespace nobody uses any more is torn down by the kernel, veth pair
            # included, off our path; deleting the veth ourselves would wait for that
            # (15-20 ms). One still in use (--network container:, nsenter) keeps its
            # end of the pair, so then the veth must go now: its address is free again.
            if lease.get("netns") is None or _netns_in_use(lease["netns"]):
                _attempt(errors, _delete_link, lease["veth"])
        if mine and rec["leases"]:
            _update_hosts(store, name)
    if errors:
        from .. import log

        for e in errors:
            log.warning(f"network cleanup: {e}")


def sweep():
    """Release the leases of containers whose state directory is gone (``runtime/sweep.py``)."""
    from .store import run_dir

    if not os.path.exists(os.path.join(run_dir(), "state.json")):
        return  # no network was ever used here: not even the lock file is needed
    with Store() as store:
        if _release_orphans(store):
            store.save()


def _release_orphans(store):
    """Leases whose container's state directory is gone (a crash, a lost delete): release them."""
    orphans = [lease["id"] for _, _, lease in store.leases()
               if not os.path.isdir(lease["state_dir"])]
    for container_id in orphans:
        _release(store, container_id)
    return bool(orphans)


def _netns_in_use(inode):
    """Does any process still live in the network namespace with this nsfs inode?

    Read from /proc/PID/ns/net of every process (about 1 ms per 100
    processes): the namespace lives as long as one of them is in it.
    """
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    return True
            except OSError:
                continue  # gone meanwhile, or a zombie without namespaces
    return False


def _delete_link(name):
    from ..linux.netlink import Netlink

    with Netlink() as nl:
        nl.delete_link(name, missing_ok=True)


def _delete_bridge(name):
    """Delete the bridge ``name``; a link of that name that is not a bridge is not ours: kept."""
    from ..linux.netlink import Netlink

    with Netlink() as nl:
        link = nl.link(name)
        if link is not None and link["kind"] == "bridge":
            nl.delete_link(name, missing_ok=True)


def _free_address(net, rec):
    """The next free address after the last one handed out, wrapping around (as docker's IPAM).

    .1 is the gateway; the network and broadcast addresses are not hosts. Not
    the lowest free one: an address just released may still sit, for a few
    milliseconds, on the veth of a namespace the kernel is tearing down.
    """
    taken = {to_int(ip) for ip in rec["leases"]}
    hosts = net.subnet.size - 3  # .2 up to the one before broadcast
    last = rec.get("last", 1)
    for step in range(1, hosts + 1):
        n = 2 + (last - 2 + step) % hosts
        address = net.subnet.host(n)
        if address not in taken:
            rec["last"] = n
            return address
    raise CartonError(f"network {net.name} has no free address left in {net.subnet}")


def host_routes(nl):
    """The host's IPv4 routes as (Subnet, device name) pairs, for clash checks."""
    names = {link["index"]: link["name"] for link in nl.links()}
    return [(Subnet(to_int(r["dst"]), r["dst_len"]) if r["dst_len"] else Subnet(0, 0),
             names.get(r.get("oif"), "?")) for r in nl.routes()]


def _update_hosts(store, network_name):
    """Name resolution on a named network: every container's /etc/hosts lists its neighbours.

    The hosts file is a bind mount of a file in the container's state
    directory; it is rewritten in place (same inode), so the change shows
    inside at once. The default network resolves only the container's own
    name, as docker's default bridge does.
    """
    from ..rootfs import etcfiles

    rec = store.network(network_name)
    if rec is None:
        return
    entries = [(ip, lease) for ip, lease in rec["leases"].items()]
    for ip, lease in entries:
        peers = []
        if network_name != config.DEFAULT_NETWORK:
            peers = [(other_ip, [n for n in (other.get("name"), other.get("hostname")) if n])
                     for other_ip, other in entries if other["id"] != lease["id"]]
        own = [n for n in (lease.get("hostname"), lease.get("name")) if n]
        text = etcfiles.hosts(own[0] if own else "", ip, aliases=own[1:], peers=peers,
                              extra=lease.get("extra_hosts") or ())
        path = os.path.join(lease["state_dir"], "hosts")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # a volume of the user's is on /etc/hosts, or the rootfs has no /etc
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
