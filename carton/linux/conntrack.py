"""Forgetting connection-tracking entries: ctnetlink (``NETLINK_NETFILTER``), as conntrack(8) -D.

NAT decides once per connection: the first packet of a flow is matched
against the nat rules, and conntrack remembers the outcome for the rest of
the flow. A UDP "connection" is only a pair of addresses and ports with a
timeout (30 s without answers, 180 s with). So datagrams sent to a port
*before* it was published (a client retrying, a container restarted) made an
entry without DNAT, and every later datagram of that flow follows it past the
new rule, into nothing, until the entry times out. docker deletes those
entries when it publishes a UDP port, and so do we (``forget``).

Messages: a dump of the table (IPCTNL_MSG_CT_GET with NLM_F_DUMP), then, for
each entry whose original direction goes to the port, IPCTNL_MSG_CT_DELETE
with that entry's own CTA_TUPLE_ORIG attribute copied back. Constants from
<linux/netfilter/nfnetlink.h> and <linux/netfilter/nfnetlink_conntrack.h>.
"""

import struct

from .. import explain
from .netlink import NLM_F_ACK, NLM_F_DUMP, Netlink, _attrs

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
CTA_TUPLE_ORIG = 1
CTA_ZONE = 18
CTA_TUPLE_PROTO = 2
CTA_PROTO_NUM = 1
CTA_PROTO_DST_PORT = 3
AF_INET = 2
PROTOCOLS = {"tcp": 6, "udp": 17}
_NFGENMSG = struct.Struct("=BBH")  # family, version, res_id (big-endian, 0 here)
_NLA_F_NESTED = 0x8000


def _message(kind):
    return (NFNL_SUBSYS_CTNETLINK << 8) | kind


def forget(proto, port):
    """Delete the conntrack entries of flows to ``port``/``proto`` (in the current netns).

    Why: so that a port published now is DNATed for every new datagram, even
    from a client that was already sending (see the module's docstring).
    Returns how many entries were deleted. An entry gone meanwhile is fine.
    """
    number = PROTOCOLS[proto]
    header = _NFGENMSG.pack(AF_INET, 0, 0)
    explain.call("netlink", explain.Raw("IPCTNL_MSG_CT_GET"), explain.Raw("NLM_F_DUMP"))
    deleted = 0
    with Netlink(protocol=NETLINK_NETFILTER, protocol_name="NETLINK_NETFILTER") as nl:
        entries = nl._request(_message(IPCTNL_MSG_CT_GET), NLM_F_DUMP, header,
                              "list the conntrack entries")
        for payload in entries:
            attrs = _attrs(payload, _NFGENMSG.size)
            orig = attrs.get(CTA_TUPLE_ORIG)
            if orig is None or not _goes_to(orig, number, port):
                continue
            body = header + _nested(CTA_TUPLE_ORIG, orig)
            if CTA_ZONE in attrs:
                body += _plain(CTA_ZONE, attrs[CTA_ZONE])
            explain.call("netlink", explain.Raw("IPCTNL_MSG_CT_DELETE"),
                         explain.Raw(f"{{{proto} to port {port}}}"))
            try:
                nl._request(_message(IPCTNL_MSG_CT_DELETE), NLM_F_ACK, body,
                            f"delete a conntrack entry to {port}/{proto}")
                deleted += 1
            except FileNotFoundError:
                pass  # it timed out or was deleted meanwhile
    return deleted


def _goes_to(tuple_attr, number, port):
    proto = _attrs(tuple_attr).get(CTA_TUPLE_PROTO)
    if proto is None:
        return False
    fields = _attrs(proto)
    num, dport = fields.get(CTA_PROTO_NUM), fields.get(CTA_PROTO_DST_PORT)
    return (num is not None and num[0] == number and dport is not None
            and struct.unpack("!H", dport[:2])[0] == port)


def _plain(kind, value):
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * (-length & 3)


def _nested(kind, value):
    return _plain(kind | _NLA_F_NESTED, value)
