"""rtnetlink: network links, addresses and routes, by talking to the kernel directly.

``ip link``, ``ip addr`` and ``ip route`` are front ends to one protocol:
messages sent over an ``AF_NETLINK`` socket of the ``NETLINK_ROUTE`` family
(netlink(7), rtnetlink(7)). A bridge network for containers needs a handful of
them: make a bridge, make a veth pair with one end in the container's network
namespace, enslave the other end to the bridge, give addresses, add a default
route, bring links up. We build those messages with ``struct`` rather than use
a library (pyroute2 costs far more to import than this whole file, and Carton
is started once per container).

The shape of every message, from <linux/netlink.h> and <linux/rtnetlink.h>::

    struct nlmsghdr   length, type (RTM_NEWLINK...), flags (NLM_F_*), sequence, port id
    a fixed header    struct ifinfomsg (links), ifaddrmsg (addresses) or rtmsg (routes)
    attributes        struct rtattr {length, type} + value, each padded to 4 bytes;
                      an attribute's value may itself be a list of attributes (nested)

Every change asks for an acknowledgement (NLM_F_ACK) and reads it: the kernel
answers with an NLMSG_ERROR message whose error is 0 on success or -errno,
which becomes an ``OSError`` naming what we were doing ("add bridge carton0:
File exists"). A dump (NLM_F_DUMP) answers with many messages and ends with
NLMSG_DONE.

Constants from <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>,
<linux/veth.h>, <linux/if_addr.h> and <linux/if.h>.
"""

import _socket  # the C module: socket.py imports enum and selectors, ~2.5 ms
import errno
import os
import struct

from .. import explain

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10   # acks do not echo our whole request back
NETLINK_EXT_ACK = 11   # errors carry the kernel's own explanation ("Unknown device type")

# struct nlmsghdr flags
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10  # the dump was interrupted by a change: its contents may be inconsistent
NLM_F_DUMP = 0x300      # NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200      # (for NEW requests) fail with EEXIST if the object exists
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100    # (in an NLMSG_ERROR) the request was not echoed back
NLM_F_ACK_TLVS = 0x200  # (in an NLMSG_ERROR) extended-ack attributes follow

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26

# struct ifinfomsg attributes (IFLA_*) and the nested IFLA_LINKINFO ones (IFLA_INFO_*)
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFF_UP = 0x1
IFNAMSIZ = 16  # with the terminating NUL

# struct ifaddrmsg attributes
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4

# struct rtmsg fields and attributes
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3         # what `ip route add` uses: a route set up by an admin, not a daemon
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

AF_UNSPEC = 0
AF_INET = _socket.AF_INET
AF_INET6 = _socket.AF_INET6
_FAMILY_NAMES = {AF_INET: "inet", AF_INET6: "inet6"}
_FAMILIES = {"inet": AF_INET, "inet6": AF_INET6}

_NLMSGHDR = struct.Struct("=IHHII")   # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, (pad), type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBi")   # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")   # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct("=HH")         # len, type
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_NLA_TYPE_MASK = 0x3FFF                # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

_RECV_SIZE = 1 << 16  # the kernel fills dump replies up to 32 KiB; one message never exceeds this

_TYPE_NAMES = {RTM_NEWLINK: "RTM_NEWLINK", RTM_DELLINK: "RTM_DELLINK", RTM_GETLINK: "RTM_GETLINK",
               RTM_SETLINK: "RTM_SETLINK", RTM_NEWADDR: "RTM_NEWADDR", RTM_GETADDR: "RTM_GETADDR",
               RTM_NEWROUTE: "RTM_NEWROUTE", RTM_GETROUTE: "RTM_GETROUTE"}


# -- the network namespace a socket is made in ----------------------------------------


def in_netns(netns, function, *args):
    """Call ``function(*args)`` with this thread in another network namespace, then come back.

    ``netns`` is a path (``/proc/PID/ns/net``, a bind mount under /run/netns)
    or an open fd of one; ``None`` means "here", and just calls ``function``.

    Why: a netlink socket, and an open file under /proc/sys/net, belong to the
    network namespace their thread was in when they were made, and stay there.
    So to change a container's links from outside we step into its namespace
    (setns(2)), make the socket, and step back at once: the rest of Carton
    keeps running on the host's network. We return to the namespace we came
    from by an fd opened before leaving, because once inside the other
    namespace no path would lead back.
    """
    if netns is None:
        return function(*args)
    from .namespaces import CLONE_NEWNET, setns  # ctypes: only for callers who need it

    # /proc/thread-self: setns changes the calling thread only, which in a
    # threaded program need not be the one /proc/self (the main thread) names.
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = netns if isinstance(netns, int) else os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)  # EINVAL if it is not a network namespace
        finally:
            if target is not netns:
                os.close(target)
        try:
            return function(*args)
        finally:
            setns(home, CLONE_NEWNET)
    finally:
        os.close(home)


def _netns_fd(netns):
    """An fd for ``netns`` (a path or an fd) and whether we opened it (so must close it)."""
    if isinstance(netns, int):
        return netns, False
    return os.open(netns, os.O_RDONLY | os.O_CLOEXEC), True


# -- building and reading messages ----------------------------------------------------


def _attr(kind, value):
    """One ``struct rtattr``: length, type, value, padded to a multiple of 4 bytes."""
    length = _RTATTR.size + len(value)
    return _RTATTR.pack(length, kind) + value + b"\0" * (-length & 3)


def _ifinfo(flags=0, change=0):
    """A ``struct ifinfomsg`` that picks no link by index (the IFLA_IFNAME attribute names it)."""
    return _IFINFOMSG.pack(AF_UNSPEC, 0, 0, flags, change)


def _name(name):
    """An interface name as the kernel wants it: NUL-terminated, at most 15 bytes."""
    raw = os.fsencode(name)
    if not raw or len(raw) >= IFNAMSIZ or b"/" in raw or b"\0" in raw:
        raise ValueError(f"bad interface name {name!r}: 1 to {IFNAMSIZ - 1} bytes, no '/'")
    return raw + b"\0"


def _attrs(data, start=0, end=None):
    """The attributes in ``data[start:end]`` as {type: value} (the last wins if one repeats)."""
    found = {}
    end = len(data) if end is None else end
    while start + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, start)
        if length < _RTATTR.size:
            break
        found[kind & _NLA_TYPE_MASK] = data[start + _RTATTR.size:start + length]
        start += (length + 3) & ~3
    return found


def _ip(text):
    """(family, packed bytes) of an IPv4 or IPv6 address in text form."""
    family = AF_INET6 if ":" in text else AF_INET
    try:
        return family, _socket.inet_pton(family, text)
    except OSError:
        raise ValueError(f"bad IP address {text!r}") from None


def _cidr(text):
    """(family, packed address, prefix length) of ``10.87.0.2/16``; no ``/N`` means a host."""
    address, slash, prefix = text.partition("/")
    family, packed = _ip(address)
    bits = len(packed) * 8
    if not slash:
        return family, packed, bits
    if not prefix.isdigit() or int(prefix) > bits:
        raise ValueError(f"bad prefix length in {text!r}: 0 to {bits}")
    return family, packed, int(prefix)


def _broadcast(packed, prefixlen):
    """The IPv4 broadcast address of a network: every host bit set."""
    host_bits = (1 << (32 - prefixlen)) - 1
    return (int.from_bytes(packed, "big") | host_bits).to_bytes(4, "big")


def _ntop(family, packed):
    return _socket.inet_ntop(family, packed)


def _mac(raw):
    return raw.hex(":") if raw else None


class Netlink:
    """An rtnetlink socket (``NETLINK_ROUTE``): links, addresses and routes of one network namespace.

    ``Netlink()`` speaks for the namespace we are in; ``Netlink(netns=PATH_OR_FD)``
    for another one (see :func:`in_netns`), while the calling process stays
    where it is. Use it as a context manager, or call :meth:`close`.

    One request at a time: not for use from several threads at once.
    """

    def __init__(self, netns=None, protocol=NETLINK_ROUTE, protocol_name="NETLINK_ROUTE"):
        self.netns = netns
        self._seq = 0
        # Another netlink family can borrow the conversation (linux/conntrack.py does).
        self._protocol, self._protocol_name = protocol, protocol_name
        self._sock = in_netns(netns, self._open)

    def _open(self):
        explain.call("socket", explain.Raw("AF_NETLINK"), explain.Raw("SOCK_RAW|SOCK_CLOEXEC"),
                     explain.Raw(self._protocol_name))
        sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC,
                              self._protocol)
        try:
            # Ask for errors with the kernel's own explanation, without our request echoed.
            # Both are hints: a kernel without them (before 4.12) refuses, and we do without.
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
                try:
                    sock.setsockopt(SOL_NETLINK, option, 1)
                except OSError:
                    pass
            sock.bind((0, 0))  # port id 0: the kernel picks ours
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the conversation -----------------------------------------------------------

    def _request(self, kind, flags, body, what):
        """Send one request and return the payloads of the kernel's answers (not the ack).

        ``what`` names the request in an error ("add bridge carton0").
        A kernel error becomes ``OSError(errno, "<what>: <strerror>")``.
        """
        for _ in range(3):
            self._seq += 1
            header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | flags, self._seq, 0)
            self._sock.sendto(header + body, (0, 0))
            answers, interrupted = self._read(self._seq, what)
            # A dump that a change raced with says so (NLM_F_DUMP_INTR): ask again.
            if not interrupted:
                break
        return answers  # after three tries, the last answer, as `ip` would show it

    def _read(self, seq, what):
        """Read the answers to request ``seq``: up to its ack (NLMSG_ERROR with error 0),
        its error, or, for a dump, NLMSG_DONE."""
        answers, interrupted = [], False
        while True:
            data, _, msg_flags, _ = self._sock.recvmsg(_RECV_SIZE)
            if msg_flags & _socket.MSG_TRUNC:
                raise OSError(errno.EMSGSIZE, f"{what}: a netlink answer did not fit in {_RECV_SIZE} bytes")
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, flags, mseq, _ = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    break
                payload = data[offset + _NLMSGHDR.size:offset + length]
                offset += (length + 3) & ~3
                # A message for another sequence number is the rest of an earlier
                # request whose reading stopped at an error: not ours, dropped.
                if mseq != seq:
                    continue
                if flags & NLM_F_DUMP_INTR:
                    interrupted = True
                if kind == NLMSG_ERROR:
                    code = _I32.unpack_from(payload)[0]
                    if code:
                        raise _error(-code, what, _ext_ack(payload, flags))
                    return answers, interrupted  # the ack
                if kind == NLMSG_DONE:
                    code = _I32.unpack_from(payload)[0] if len(payload) >= 4 else 0
                    if code:
                        raise _error(-code, what, None)
                    return answers, interrupted
                answers.append(payload)

    def _change(self, kind, flags, body, what, shown):
        """A request that changes something: narrated, acknowledged."""
        explain.call("netlink", explain.Raw(_TYPE_NAMES[kind]), explain.Raw(shown))
        self._request(kind, NLM_F_ACK | flags, body, what)

    def _dump(self, kind, body):
        explain.call("netlink", explain.Raw(_TYPE_NAMES[kind]), explain.Raw("NLM_F_DUMP"))
        return self._request(kind, NLM_F_DUMP, body, f"list ({_TYPE_NAMES[kind]})")

    # -- links ----------------------------------------------------------------------

    def _get_link(self, name, what):
        """RTM_GETLINK for one name: its parsed message, or an OSError(ENODEV) saying ``what``."""
        explain.call("netlink", explain.Raw("RTM_GETLINK"), explain.Raw(f'{{"{name}"}}'))
        body = _ifinfo() + _attr(IFLA_IFNAME, _name(name))
        try:
            answers = self._request(RTM_GETLINK, NLM_F_ACK, body, what)
        except OSError as e:
            if e.errno == errno.ENODEV:  # say which link, when a request names two
                raise _error(errno.ENODEV, what, f"no link {name}") from None
            raise
        return _link(answers[0])

    def link(self, name):
        """One link as in :meth:`links`, or ``None`` if there is none of that name."""
        try:
            return self._get_link(name, f"find link {name}")
        except OSError as e:
            if e.errno == errno.ENODEV:
                return None
            raise

    def link_index(self, name):
        """The index of the link called ``name``, or ``None``. Like if_nametoindex(3), but in
        this socket's namespace, where if_nametoindex would look in the caller's."""
        found = self.link(name)
        return found["index"] if found else None

    def _index(self, name, what):
        """The index of ``name``; missing, an OSError(ENODEV) that says what we were doing."""
        if isinstance(name, int):
            return name
        return self._get_link(name, what)["index"]

    def links(self):
        """Every link: ``{"index", "name", "kind", "master", "up", "mac"}``.

        ``kind`` is the driver's kind for virtual links ("bridge", "veth"...)
        and ``None`` for others (loopback, hardware); ``master`` the index of
        the bridge a link is enslaved to, or ``None``.
        """
        return [_link(p) for p in self._dump(RTM_GETLINK, _ifinfo())]

    def add_bridge(self, name):
        """Make a bridge, down and without ports: ``ip link add NAME type bridge``.

        Why: the bridge is the switch that a host's containers plug their veths
        into; with an address of its own it is also their gateway.
        """
        info = _attr(IFLA_LINKINFO, _attr(IFLA_INFO_KIND, b"bridge"))
        body = _ifinfo() + _attr(IFLA_IFNAME, _name(name)) + info
        self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"add bridge {name}",
                     f'{{"{name}", type bridge}}')

    def add_veth(self, name, peer, peer_netns=None):
        """Make a veth pair ``name`` <-> ``peer``; ``peer`` is born in ``peer_netns`` (a path or fd).

        ``ip link add NAME type veth peer name PEER netns NS``. A veth pair is
        a virtual cable: what goes in one end comes out of the other. Why: one
        end stays on the host (on the bridge), the other becomes the
        container's ``eth0``. Making the peer directly in the container's
        namespace (IFLA_NET_NS_FD in the peer's message) saves a separate move,
        and a peer name that exists only in the container cannot clash with
        a host link.
        """
        peer_fd, close_it = _netns_fd(peer_netns) if peer_netns is not None else (None, False)
        try:
            peer_msg = _ifinfo() + _attr(IFLA_IFNAME, _name(peer))
            if peer_fd is not None:
                peer_msg += _attr(IFLA_NET_NS_FD, _U32.pack(peer_fd))
            info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_msg))
            body = (_ifinfo() + _attr(IFLA_IFNAME, _name(name))
                    + _attr(IFLA_LINKINFO, info))
            where = "" if peer_netns is None else f", netns {peer_netns}"
            self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"add veth {name} (peer {peer})",
                         f'{{"{name}", type veth, peer {{"{peer}"{where}}}}}')
        finally:
            if close_it:
                os.close(peer_fd)

    def set_master(self, name, master):
        """Enslave link ``name`` to the bridge ``master`` (a name or index; ``None`` frees it).

        ``ip link set NAME master MASTER``. Why: a veth's host end becomes a
        port of the bridge, so the container is on the bridge's network.
        """
        what = f"set master of {name} to {master}" if master is not None else f"free {name} from its master"
        index = 0 if master is None else self._index(master, what)
        body = (_ifinfo() + _attr(IFLA_IFNAME, _name(name))
                + _attr(IFLA_MASTER, _U32.pack(index)))
        shown = "none" if master is None else master if isinstance(master, int) else f'"{master}"'
        self._change(RTM_SETLINK, 0, body, what, f'{{"{name}", master {shown}}}')

    def set_up(self, name):
        """Bring a link up (IFF_UP): ``ip link set NAME up``. Why: every link is born down."""
        body = _ifinfo(IFF_UP, IFF_UP) + _attr(IFLA_IFNAME, _name(name))
        self._change(RTM_SETLINK, 0, body, f"set {name} up", f'{{"{name}", up}}')

    def delete_link(self, name, missing_ok=False):
        """Delete a link: ``ip link del NAME``. Deleting one end of a veth pair deletes both.

        Why: a container's veth (and a bridge that ``carton network prune``
        takes down) are host resources that must not outlive their use. With ``missing_ok``
        a link that is already gone is no error (cleanup after a crash).
        """
        body = _ifinfo() + _attr(IFLA_IFNAME, _name(name))
        try:
            self._change(RTM_DELLINK, 0, body, f"delete link {name}", f'{{"{name}"}}')
        except OSError as e:
            if not (missing_ok and e.errno == errno.ENODEV):
                raise

    # -- addresses ------------------------------------------------------------------

    def add_address(self, name, cidr):
        """Give link ``name`` the address ``cidr`` ("10.87.0.2/16"): ``ip addr add CIDR dev NAME``.

        Why: the bridge's address is the containers' gateway; the container's
        is its own. The kernel adds the route to the prefix (10.87.0.0/16 dev
        NAME) by itself. For IPv4 we also set the broadcast address, as
        ``ip addr add ... brd +`` does.
        """
        family, packed, prefixlen = _cidr(cidr)
        what = f"add address {cidr} to {name}"
        index = self._index(name, what)
        body = (_IFADDRMSG.pack(family, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
                + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))
        shown = f'{{"{name}", {cidr}'
        if family == AF_INET and prefixlen < 31:  # /31 and /32 have no broadcast address
            brd = _broadcast(packed, prefixlen)
            body += _attr(IFA_BROADCAST, brd)
            shown += f", brd {_ntop(AF_INET, brd)}"
        self._change(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, what, shown + "}")

    def addresses(self, name=None):
        """Addresses, of every link or of link ``name``: ``{"index", "name", "family", "address",
        "prefixlen"}``, family "inet" or "inet6"."""
        index = None if name is None else self._index(name, f"list addresses of {name}")
        found = []
        for payload in self._dump(RTM_GETADDR, _IFADDRMSG.pack(AF_UNSPEC, 0, 0, 0, 0)):
            family, prefixlen, _, _, ifindex = _IFADDRMSG.unpack_from(payload)
            if family not in _FAMILY_NAMES or (index is not None and ifindex != index):
                continue
            attrs = _attrs(payload, _IFADDRMSG.size)
            # IFA_LOCAL is the address itself; IFA_ADDRESS is the same or, on a
            # point-to-point link, the peer's (and IPv6 sends IFA_ADDRESS only).
            packed = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if packed is None:
                continue
            entry = {"index": ifindex, "family": _FAMILY_NAMES[family],
                     "address": _ntop(family, packed), "prefixlen": prefixlen}
            label = attrs.get(IFA_LABEL)
            if name is not None:
                entry["name"] = name
            elif label:
                entry["name"] = label.rstrip(b"\0").decode()
            found.append(entry)
        if any("name" not in entry for entry in found):  # IPv6 addresses have no label
            names = {link["index"]: link["name"] for link in self.links()}
            for entry in found:
                entry.setdefault("name", names.get(entry["index"]))
        return found

    # -- routes ---------------------------------------------------------------------

    def add_route(self, dst=None, gateway=None, dev=None):
        """Add a route to the main table: ``ip route add DST|default [via GATEWAY] [dev DEV]``.

        ``dst`` is a CIDR ("10.88.0.0/16") or ``None`` for the default route.
        Why: a container reaches beyond its own subnet through a default route
        via the bridge's address. A route with a gateway has universe scope;
        one without, only a device, is on-link (scope link), as ``ip`` does.
        """
        if gateway is None and dev is None:
            raise ValueError("a route needs a gateway, a device or both")
        if dst is None or dst == "default":
            family = _ip(gateway)[0] if gateway else AF_INET
            packed, dst_len = None, 0
        else:
            family, packed, dst_len = _cidr(dst)
        where = "default" if packed is None else dst
        route = where + (f" via {gateway}" if gateway else "") + (f' dev "{dev}"' if dev else "")
        what = "add route " + route.replace('"', "")
        attrs = b"" if packed is None else _attr(RTA_DST, packed)
        if gateway is not None:
            gw_family, gw = _ip(gateway)
            if gw_family != family:
                raise ValueError(f"route to {where}: gateway {gateway} is of another address family")
            attrs += _attr(RTA_GATEWAY, gw)
        if dev is not None:
            attrs += _attr(RTA_OIF, _U32.pack(self._index(dev, what)))
        scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
        body = _RTMSG.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0) + attrs
        self._change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, what, "{" + route + "}")

    def routes(self, family="inet"):
        """The unicast routes of the main table, IPv4 unless ``family="inet6"``:
        ``{"dst", "dst_len", "gateway", "oif"}``. The default route has dst "0.0.0.0"
        (or "::") and dst_len 0; ``gateway`` and ``oif`` (the device's index) may be ``None``."""
        af = _FAMILIES[family]
        found = []
        for payload in self._dump(RTM_GETROUTE, _RTMSG.pack(af, 0, 0, 0, 0, 0, 0, 0, 0)):
            rt_family, dst_len, _, _, table, _, _, rt_type, _ = _RTMSG.unpack_from(payload)
            attrs = _attrs(payload, _RTMSG.size)
            if RTA_TABLE in attrs:  # the full table id; rtm_table holds only its low 8 bits
                table = _U32.unpack(attrs[RTA_TABLE])[0]
            if rt_family != af or table != RT_TABLE_MAIN or rt_type != RTN_UNICAST:
                continue
            dst = attrs.get(RTA_DST, bytes(4 if af == AF_INET else 16))
            gateway = attrs.get(RTA_GATEWAY)
            oif = attrs.get(RTA_OIF)
            found.append({"dst": _ntop(af, dst), "dst_len": dst_len,
                          "gateway": _ntop(af, gateway) if gateway else None,
                          "oif": _U32.unpack(oif)[0] if oif else None})
        return found


def _link(payload):
    """A link's RTM_NEWLINK message as a dict."""
    _, _, index, flags, _ = _IFINFOMSG.unpack_from(payload)
    attrs = _attrs(payload, _IFINFOMSG.size)
    kind = None
    if IFLA_LINKINFO in attrs:
        raw = _attrs(attrs[IFLA_LINKINFO]).get(IFLA_INFO_KIND)
        kind = raw.rstrip(b"\0").decode() if raw else None
    master = attrs.get(IFLA_MASTER)
    return {"index": index, "name": os.fsdecode(attrs.get(IFLA_IFNAME, b"").rstrip(b"\0")),
            "kind": kind, "master": _U32.unpack(master)[0] if master else None,
            "up": bool(flags & IFF_UP), "mac": _mac(attrs.get(IFLA_ADDRESS))}


def _ext_ack(payload, flags):
    """The kernel's own explanation in an error (NLMSGERR_ATTR_MSG), if it gave one."""
    if not flags & NLM_F_ACK_TLVS:
        return None
    # struct nlmsgerr: int error, then our request's header (and, unless capped, its body).
    start = 4 + _NLMSGHDR.size
    if not flags & NLM_F_CAPPED and len(payload) >= start:
        start = 4 + ((_NLMSGHDR.unpack_from(payload, 4)[0] + 3) & ~3)
    message = _attrs(payload, start).get(NLMSGERR_ATTR_MSG)
    return message.rstrip(b"\0").decode(errors="replace") if message else None


def _error(code, what, detail):
    """``OSError(code, "<what>: <strerror> (<kernel's explanation>)")``; Python picks the subclass."""
    text = f"{what}: {os.strerror(code)}" + (f" ({detail})" if detail else "")
    return OSError(code, text)
