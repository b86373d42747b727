"""The firewall rules of bridge networking: masquerade and published ports, in nftables.

A container on a bridge has a private address (10.88.0.2) that nobody outside
the host can answer. Two kinds of address rewriting (NAT) make it useful, as
docker does:

* **masquerade** (source NAT): a packet from the container's network leaving
  the host by another interface gets the host's address on that interface as
  its source; conntrack rewrites the replies back;
* **published ports** (destination NAT): a packet to a port of the host
  (``-p 8080:80``) gets the container's address and port as its destination.

Everything Carton does lives in ONE table of its own, ``ip carton``, which
Carton creates when the first network needs it and deletes when the last
network is taken down (``carton network prune``: networks stay up between
containers, as docker's do; see ``bridge.py``). Carton never touches another
table, never changes a policy, and adds no rule to anyone else's chain, so
``nft delete table ip carton`` undoes all of it. Docker and netavark keep one chain (or rule) per
network and per port; here the rules are fixed and the networks and ports
are elements of named sets and maps, so adding or removing one is adding or
deleting an element by its key, and ``nft list table ip carton`` reads as a
list of networks and ports.

The table is ``ip`` (IPv4 only), not ``inet``: Carton gives containers IPv4
addresses only, and the maps' keys and values are IPv4 addresses. A table of
family ``ip`` only sees IPv4 packets, so these rules cannot touch the host's
IPv6 traffic by accident. IPv6 will want an ``inet`` table with IPv6 sets
and maps beside these.

Every change goes through one nft transaction (:func:`carton.linux.nftables.run`)
that first declares the whole table -- ``add`` of an existing table, set or
chain changes nothing, and each chain is flushed and refilled with its rules
-- and then adds or deletes elements. So the table is made the first time
and repaired (or brought up to this version's rules) every time after, and a
batch that fails leaves the table as it was. A file lock serialises Carton
processes: "the table is unused, delete it" must not race a ``publish``.

Every function takes the table's name (default ``carton``) so that tests
can use a table of their own; the name must start with ``carton``.
"""

import os

from ..errors import CartonError

TABLE = "carton"
PROTOCOLS = ("tcp", "udp", "sctp")
_PROTO_NUMBERS = {6: "tcp", 17: "udp", 132: "sctp"}  # inet_proto as JSON may show a number
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_ID_CHARS = _NAME_CHARS | {"+"}  # the characters of a container id (runtime/state.py)
_COMMENT_MAX = 127  # nft keeps at most 128 bytes of a comment, with its NUL


def _definition(table):
    """The commands that declare the table, its sets, maps and chains, and (re)fill its rules.

    Safe to run again on a table that exists: ``add`` leaves an existing
    object (and a set's elements) alone, and each chain is flushed before
    its rules are added, in the same transaction, so there is never a moment
    without them and they are never doubled.
    """
    t = f"ip {table}"
    return f"""
add table {t} {{ comment "Carton's container networking: removed by carton network prune"; }}

add set {t} networks {{ type ipv4_addr . ifname; flags interval; comment "SUBNET . BRIDGE of each network"; }}
add set {t} subnets {{ type ipv4_addr; flags interval; comment "the subnet of each network"; }}
add set {t} bridges {{ type ifname; comment "the bridge of each network"; }}
add set {t} isolated {{ type ifname . ifname; comment "FROM . TO: the bridges of two different networks"; }}
add map {t} published_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; \
comment "PROTO . HOST_PORT : CONTAINER_IP . CONTAINER_PORT, on every local address"; }}
add map {t} published_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; \
comment "HOST_IP . PROTO . HOST_PORT : CONTAINER_IP . CONTAINER_PORT"; }}

add chain {t} guard {{ type filter hook prerouting priority raw; policy accept; }}
add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain {t} output {{ type nat hook output priority -100; policy accept; }}
add chain {t} published
add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain {t} isolation {{ type filter hook forward priority filter; policy accept; }}

flush chain {t} guard
flush chain {t} prerouting
flush chain {t} output
flush chain {t} published
flush chain {t} postrouting
flush chain {t} isolation

add rule {t} guard iifname @bridges ip daddr 127.0.0.0/8 drop \
comment "route_localnet is on for the bridges: containers must still not reach the host's 127.0.0.1"
add rule {t} prerouting fib daddr type local jump published \
comment "to a port of this host, from another host or namespace"
add rule {t} output fib daddr type local jump published \
comment "to a port of this host, from the host itself (127.0.0.1 too)"
add rule {t} published dnat ip to ip daddr . meta l4proto . th dport map @published_ip
add rule {t} published dnat ip to meta l4proto . th dport map @published_any
add rule {t} postrouting ct status dnat ip saddr . oifname @networks masquerade \
comment "hairpin: a container to a published port of its own network, so replies come back through us"
add rule {t} postrouting ip saddr . oifname @networks return \
comment "within its own bridge a container keeps its address"
add rule {t} postrouting ip saddr @subnets masquerade \
comment "leaving by any other interface: the host's address"
add rule {t} postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade \
comment "the host's 127.0.0.1 to a published port: a loopback source cannot leave by the bridge"
add rule {t} isolation iifname . oifname @isolated drop \
comment "a container on one network does not reach another network's containers (docker's isolation)"
"""

# The one filter chain on the forward hook only drops (isolation between networks).
# Not here, on purpose: accepting forwarded traffic. An `accept` in our table
# cannot overrule a `drop` in another table (every base chain on a hook sees
# the packet, and a drop anywhere is final), and we never change anyone's
# policy; so it would change nothing. What forwarding needs is
# net.ipv4.ip_forward=1, which the caller sets.


# -- the public functions ---------------------------------------------------------------


def ensure_table(table=TABLE):
    """Make the table with its sets, maps and chains, or bring an existing one up to date."""
    _check_table(table)
    with _Lock(table):
        _apply(table, [])


def add_network(bridge, subnet, table=TABLE):
    """Masquerade SUBNET's traffic when it leaves by an interface other than BRIDGE.

    Also masquerades the host's loopback addresses going out BRIDGE (the host
    reaching a published port by 127.0.0.1), which also needs
    ``net.ipv4.conf.BRIDGE.route_localnet=1``: the caller sets that. Adding a
    network that is there already changes nothing; a subnet that overlaps
    another network's fails.
    """
    _check_table(table)
    bridge, subnet = _check_bridge(bridge), _subnet(subnet)
    t = f"ip {table}"
    with _Lock(table):
        state = _read(table)
        others = [b for b in (state["bridges"] if state else ()) if b != bridge]
        pairs = [f'"{a}" . "{b}"' for o in others for a, b in ((bridge, o), (o, bridge))]
        try:
            _apply(table, [f'add element {t} networks {{ {subnet} . "{bridge}" }}',
                           f"add element {t} subnets {{ {subnet} }}",
                           f'add element {t} bridges {{ "{bridge}" }}']
                   + ([f"add element {t} isolated {{ {', '.join(pairs)} }}"] if pairs else []))
        except CartonError as e:
            raise CartonError(f"cannot add the network {subnet} on {bridge} to the firewall: "
                              f"{e}") from None


def remove_network(bridge, subnet, table=TABLE):
    """Stop masquerading SUBNET on BRIDGE. True if anything was removed; a missing network is fine."""
    _check_table(table)
    bridge, subnet = _check_bridge(bridge), _subnet(subnet)
    t = f"ip {table}"
    with _Lock(table):
        state = _read(table)
        if state is None:
            return False
        commands = []
        if (subnet, bridge) in state["networks"]:
            commands.append(f'delete element {t} networks {{ {subnet} . "{bridge}" }}')
        others = [n for n in state["networks"] if n != (subnet, bridge)]
        if subnet in state["subnets"] and subnet not in [s for s, _ in others]:
            commands.append(f"delete element {t} subnets {{ {subnet} }}")
        if bridge in state["bridges"] and bridge not in [b for _, b in others]:
            commands.append(f'delete element {t} bridges {{ "{bridge}" }}')
            pairs = [(a, b) for a, b in state["isolated"] if bridge in (a, b)]
            if pairs:
                keys = ", ".join(f'"{a}" . "{b}"' for a, b in pairs)
                commands.append(f"delete element {t} isolated {{ {keys} }}")
        if commands:
            from ..linux import nftables

            nftables.run("\n".join(commands))
        return bool(commands)


def publish(container_id, host_ip, host_port, proto, container_ip, container_port, table=TABLE,
            checked=False):
    """Send HOST_PORT/PROTO on a local address of the host to CONTAINER_IP:CONTAINER_PORT (DNAT).

    ``host_ip`` None (or "" or "0.0.0.0") means every local address of the
    host, 127.0.0.1 included; an address means only that one. The rule
    applies to packets from other hosts and namespaces (prerouting) and from
    the host itself (output). ``container_id`` (optional) is kept as the
    element's comment, so a second publisher of the same port learns whose
    it is: "port 8080/tcp is already published (by container web)".

    ``checked``: the caller has made sure, under a lock of its own, that the
    table exists and the port is free (the network store does): then this is
    one ``create element`` (the kernel still refuses a duplicate), and nothing
    is read back, which halves the time.
    """
    _check_table(table)
    host_ip, key, value = _port(host_ip, host_port, proto, container_ip, container_port)
    comment = f' comment "{_check_id(container_id)}"' if container_id else ""
    t = f"ip {table}"
    if checked:
        from ..linux import nftables

        where = "published_ip" if host_ip else "published_any"
        try:
            nftables.run(f"create element {t} {where} {{ {key}{comment} : {value} }}")
        except CartonError as e:
            raise CartonError(f"cannot publish port {_label(host_ip, host_port, proto)}: {e}") from None
        return
    with _Lock(table):
        state = _read(table)
        for port in state["ports"] if state else ():
            if _conflicts(port, host_ip, host_port, proto):
                raise CartonError(f"port {_label(host_ip, host_port, proto)} is already "
                                  f"published ({_owner(port)})")
        where = "published_ip" if host_ip else "published_any"
        try:
            # `create`, not `add`: it fails if the key is there (belt and braces: the lock
            # and the check above should already have made sure it is not).
            _apply(table, [f"create element {t} {where} {{ {key}{comment} : {value} }}"])
        except CartonError as e:
            raise CartonError(f"cannot publish port {_label(host_ip, host_port, proto)}: {e}") from None


def unpublish(container_id, host_ip, host_port, proto, container_ip=None, container_port=None,
              table=TABLE, checked=False):
    """Take back a published port. True if it was removed.

    Only the publication that matches is removed: if ``container_id``,
    ``container_ip`` or ``container_port`` is given and the port now belongs
    to someone else (or is not published at all), nothing changes and the
    answer is False, so a late clean-up never takes another container's port.
    ``checked``: the caller's own record, under its own lock, says the port
    is this container's (the network store): delete it without reading back.
    """
    _check_table(table)
    host_ip = _host_ip(host_ip)
    host_port, proto = _check_port(host_port), _check_proto(proto)
    if checked:
        from ..linux import nftables

        if host_ip:
            command = f"delete element ip {table} published_ip {{ {host_ip} . {proto} . {host_port} }}"
        else:
            command = f"delete element ip {table} published_any {{ {proto} . {host_port} }}"
        try:
            nftables.run(command)
        except CartonError:
            return False  # not there (a table deleted, a reboot): nothing to take back
        return True
    with _Lock(table):
        state = _read(table)
        for port in state["ports"] if state else ():
            if (port["host_ip"], port["host_port"], port["proto"]) != (host_ip, host_port, proto):
                continue
            if ((container_id and port["container_id"] != container_id)
                    or (container_ip and port["container_ip"] != _ipv4(container_ip))
                    or (container_port and port["container_port"] != _check_port(container_port))):
                return False
            from ..linux import nftables

            if host_ip:
                command = f"delete element ip {table} published_ip {{ {host_ip} . {proto} . {host_port} }}"
            else:
                command = f"delete element ip {table} published_any {{ {proto} . {host_port} }}"
            nftables.run(command)
            return True
        return False


def remove_table_if_unused(table=TABLE):
    """Delete the whole table if no network and no port is left in it. True if no table remains.

    Why: a host with no container on a bridge should have no Carton rules at
    all, and ``nft list ruleset`` should show nothing of ours.
    """
    _check_table(table)
    with _Lock(table):
        state = _read(table)
        if state is None:
            return True
        if state["networks"] or state["subnets"] or state["bridges"] or state["ports"]:
            return False
        from ..linux import nftables

        nftables.run(f"delete table ip {table}")
        return True


def delete_table(table=TABLE):
    """Delete the whole table, whatever is in it; a missing table is fine.

    For a caller that knows no network or port of its is left (the network
    store, under its own lock): one transaction instead of reading the table
    back first, as ``remove_network`` and ``remove_table_if_unused`` do.
    """
    _check_table(table)
    from ..linux import nftables

    with _Lock(table):
        # `destroy` (nft 1.0.8+) would not fail on a missing table; 1.0.6 has only `delete`.
        if exists(table):
            nftables.run(f"delete table ip {table}")


def exists(table=TABLE):
    """Whether the table is there."""
    _check_table(table)
    from ..linux import nftables

    return any(o.get("table", {}).get("name") == table for o in nftables.list_json("tables ip"))


def dump(table=TABLE):
    """What the table holds, read back from the kernel, for debugging and tests.

    ``{"networks": [{"bridge", "subnet"}], "ports": [{"container_id", "host_ip",
    "host_port", "proto", "container_ip", "container_port"}]}``; ``host_ip`` is
    None for every local address, ``container_id`` None if none was given.
    Empty lists if there is no table.
    """
    _check_table(table)
    state = _read(table)
    if state is None:
        return {"networks": [], "ports": []}
    return {"networks": [{"bridge": b, "subnet": s} for s, b in state["networks"]],
            "ports": state["ports"]}


def lock_path(table=TABLE):
    """The file whose lock serialises changes to ``table`` (tests remove theirs)."""
    _check_table(table)
    return f"/run/{table}-firewall.lock"


# -- applying and reading ---------------------------------------------------------------


def _apply(table, commands):
    """The table's definition and then ``commands``, in one transaction."""
    from ..linux import nftables

    definition = _definition(table)
    narrate = [f"(declare table ip {table}: its sets, maps, chains and rules; "
               f"see `nft list table ip {table}`)", *commands]
    nftables.run("\n".join([definition, *commands]), narrate=narrate)


def _read(table):
    """The table's networks and ports as plain values, or None if there is no table."""
    from ..linux import nftables

    if not exists(table):
        return None
    state = {"networks": [], "subnets": [], "bridges": [], "isolated": [], "ports": []}
    for obj in nftables.list_json(f"table ip {table}"):
        kind = "set" if "set" in obj else "map" if "map" in obj else None
        if kind is None:
            continue
        body = obj[kind]
        name, elements = body.get("name"), body.get("elem") or []
        if name == "networks":
            for element in elements:
                subnet, bridge = _unwrap(element)[0]["concat"]
                state["networks"].append((_prefix(subnet), bridge))
        elif name == "subnets":
            state["subnets"] += [_prefix(_unwrap(e)[0]) for e in elements]
        elif name == "bridges":
            state["bridges"] += [_unwrap(e)[0] for e in elements]
        elif name == "isolated":
            state["isolated"] += [tuple(_unwrap(e)[0]["concat"]) for e in elements]
        elif name in ("published_any", "published_ip"):
            for key, value in elements:
                fields, comment = _unwrap(key)
                fields = fields["concat"]
                if name == "published_any":
                    fields = [None, *fields]
                address, port = value["concat"]
                state["ports"].append({
                    "container_id": comment, "host_ip": fields[0], "host_port": fields[2],
                    "proto": _PROTO_NUMBERS.get(fields[1], fields[1]), "container_ip": address,
                    "container_port": port})
    return state


def _unwrap(element):
    """A set element in nft's JSON: (value, comment); a commented one is wrapped in {"elem": ...}."""
    if isinstance(element, dict) and "elem" in element:
        return element["elem"]["val"], element["elem"].get("comment")
    return element, None


def _prefix(value):
    """An interval element as ``a.b.c.d/n``: nft shows a /32 as a bare address."""
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    return f"{value}/32" if isinstance(value, str) else str(value)


def _conflicts(port, host_ip, host_port, proto):
    """Whether an existing publication takes the port: every-address ones clash with any address."""
    if (port["host_port"], port["proto"]) != (host_port, proto):
        return False
    return not host_ip or not port["host_ip"] or port["host_ip"] == host_ip


def _owner(port):
    if port["container_id"]:
        return f"by container {port['container_id']}"
    return f"to {port['container_ip']}:{port['container_port']}"


def _label(host_ip, host_port, proto):
    return f"{host_ip}:{host_port}/{proto}" if host_ip else f"{host_port}/{proto}"


class _Lock:
    """An exclusive flock(2) on ``lock_path(table)``, held while we read and change the table.

    Why: nft applies each batch atomically, but "read the table, then
    change it" is two steps; two Carton processes (a ``run`` and a
    ``delete``) must not interleave them. The lock file stays (in /run, a
    tmpfs): deleting it would race the next locker.
    """

    def __init__(self, table):
        self.path = lock_path(table)
        self.fd = None

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing the last descriptor releases the lock


# -- checking what goes into nft's text -------------------------------------------------
# Everything below ends up inside a line of nft's language: it is checked
# strictly, so that no value can close a quote or a brace and say more.


def _check_table(table):
    if not (isinstance(table, str) and table.startswith("carton") and len(table) <= 64
            and set(table) <= _NAME_CHARS - {"."}):
        raise CartonError(f"invalid firewall table name {table!r}: it must start with 'carton' "
                          "and have only letters, digits, '-' and '_'")
    return table


def _check_bridge(bridge):
    if not (isinstance(bridge, str) and 0 < len(bridge) <= 15 and set(bridge) <= _NAME_CHARS):
        raise CartonError(f"invalid bridge name {bridge!r}")
    return bridge


def _check_id(container_id):
    if not (set(container_id) <= _ID_CHARS and len(container_id) <= _COMMENT_MAX):
        raise CartonError(f"invalid container id {container_id!r}")
    return container_id


def _check_proto(proto):
    if proto not in PROTOCOLS:
        raise CartonError(f"invalid protocol {proto!r}: use tcp, udp or sctp")
    return proto


def _check_port(port):
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise CartonError(f"invalid port {port!r}: a number from 1 to 65535")
    return port


def _ipv4(text):
    """``text`` as a canonical dotted IPv4 address, or a CartonError."""
    import _socket

    try:
        return _socket.inet_ntop(_socket.AF_INET, _socket.inet_pton(_socket.AF_INET, text))
    except (OSError, TypeError, ValueError):
        raise CartonError(f"invalid IPv4 address {text!r}") from None


def _host_ip(host_ip):
    """None for every local address (None, "" or 0.0.0.0), else the address."""
    if not host_ip or host_ip == "0.0.0.0":
        return None
    return _ipv4(host_ip)


def _subnet(text):
    """``a.b.c.d/n`` with the host bits cleared (nft wants the network's own address)."""
    import _socket

    address, _, length = str(text).partition("/")
    if not length.isdigit() or not 0 <= int(length) <= 32:
        raise CartonError(f"invalid subnet {text!r}: use a.b.c.d/n")
    n = int.from_bytes(_socket.inet_pton(_socket.AF_INET, _ipv4(address)), "big")
    n &= (0xFFFFFFFF << (32 - int(length))) & 0xFFFFFFFF
    return f"{_socket.inet_ntop(_socket.AF_INET, n.to_bytes(4, 'big'))}/{int(length)}"


def _port(host_ip, host_port, proto, container_ip, container_port):
    """Check a publication; return (host_ip or None, the map's key, the map's value) in nft syntax."""
    host_ip = _host_ip(host_ip)
    host_port, proto = _check_port(host_port), _check_proto(proto)
    container_ip, container_port = _ipv4(container_ip), _check_port(container_port)
    key = f"{host_ip} . {proto} . {host_port}" if host_ip else f"{proto} . {host_port}"
    return host_ip, key, f"{container_ip} . {container_port}"
