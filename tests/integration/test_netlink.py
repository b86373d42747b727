"""rtnetlink on the real kernel (``carton/linux/netlink.py``) and /proc/sys (``linux/sysctl.py``).

Everything that carries traffic happens in network namespaces the tests make
for themselves: one stands in for the host (it holds the bridge), another for
a container. Only one test touches the real host's namespace, with a bridge of
its own that it deletes. Addresses are in 10.231.0.0/16, and the only traffic
is one ping between two of those namespaces.
"""

import errno
import os
import secrets
import subprocess

import pytest
from carton_testlib import have

from carton import explain
from carton.linux import sysctl
from carton.linux.namespaces import CLONE_NEWNET, unshare
from carton.linux.netlink import Netlink, in_netns


class Netns:
    """A new network namespace, held open by a forked child until :meth:`close`."""

    def __init__(self):
        ready_r, ready_w = os.pipe()
        hold_r, hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: make the namespace, say so, wait for the parent to let go
            try:
                # Keep only our two pipe ends: a copy of another namespace's hold_w
                # here would keep that one's child waiting forever.
                low, high = sorted((ready_w, hold_r))
                os.closerange(3, low)
                os.closerange(low + 1, high)
                os.closerange(high + 1, 65536)
                unshare(CLONE_NEWNET)
                os.write(ready_w, b"1")
                os.read(hold_r, 1)
            finally:
                os._exit(0)
        os.close(ready_w)
        os.close(hold_r)
        ok = os.read(ready_r, 1)
        os.close(ready_r)
        self.pid, self._hold = pid, hold_w
        self.path = f"/proc/{pid}/ns/net"
        if ok != b"1":
            self.close()
            raise RuntimeError("could not make a network namespace")

    def run(self, *argv):
        return subprocess.run(["nsenter", f"--net={self.path}", *argv], capture_output=True,
                              text=True, timeout=30)

    def close(self):
        # The links inside go with the namespace; a veth's other end with them.
        os.close(self._hold)
        os.waitpid(self.pid, 0)


@pytest.fixture
def netns():
    """Make network namespaces: ``netns()``; all are removed after the test."""
    made = []

    def make():
        made.append(Netns())
        return made[-1]

    yield make
    for ns in made:
        ns.close()


@pytest.fixture
def tag():
    return secrets.token_hex(3)  # "ct" + a letter + 6 hex digits: within IFNAMSIZ


def _here():
    return os.stat("/proc/self/ns/net").st_ino


def _ping(ns, address):
    argv = ["ping"] if have("ping") else ["busybox", "ping"]
    return ns.run(*argv, "-c1", "-W1", address)


def test_bridge_veth_peer_in_another_netns_addresses_routes_and_ping(netns, tag):
    if not have("nsenter") or not (have("ping") or have("busybox")):
        pytest.skip("needs nsenter and ping (or busybox)")
    host, box = netns(), netns()
    bridge, veth, peer = f"ctb{tag}", f"ctv{tag}", f"ctp{tag}"
    with Netlink(netns=host.path) as h, Netlink(netns=box.path) as c:
        h.add_bridge(bridge)
        h.add_address(bridge, "10.231.7.1/24")
        h.set_up(bridge)
        h.add_veth(veth, peer, peer_netns=box.path)
        h.set_master(veth, bridge)
        h.set_up(veth)

        c.set_up("lo")
        c.set_up(peer)
        c.add_address(peer, "10.231.7.2/24")
        c.add_route(gateway="10.231.7.1")  # default route via the bridge

        # The peer was born in the container's namespace, not here nor in the host's.
        host_links = {link["name"]: link for link in h.links()}
        assert set(host_links) == {"lo", bridge, veth}
        assert host_links[bridge]["kind"] == "bridge" and host_links[bridge]["up"]
        assert host_links[veth]["kind"] == "veth"
        assert host_links[veth]["master"] == host_links[bridge]["index"] == h.link_index(bridge)
        box_links = {link["name"]: link for link in c.links()}
        assert set(box_links) == {"lo", peer}
        assert box_links[peer]["up"] and box_links[peer]["master"] is None
        assert peer not in os.listdir("/sys/class/net") and veth not in os.listdir("/sys/class/net")

        peer_index = c.link_index(peer)
        assert {"index": peer_index, "name": peer, "family": "inet", "address": "10.231.7.2",
                "prefixlen": 24} in c.addresses()
        routes = c.routes()
        assert {"dst": "0.0.0.0", "dst_len": 0, "gateway": "10.231.7.1", "oif": peer_index} in routes
        assert {"dst": "10.231.7.0", "dst_len": 24, "gateway": None, "oif": peer_index} in routes

        assert _ping(box, "10.231.7.1").returncode == 0
        assert _ping(host, "10.231.7.2").returncode == 0
        # What `ip` sees agrees (our messages are the ones it would send).
        shown = box.run("ip", "-4", "route", "show").stdout
        assert f"default via 10.231.7.1 dev {peer}" in shown


def test_dumps_and_a_route_without_a_gateway(netns, tag):
    ns = netns()
    a, b = f"cta{tag}", f"ctz{tag}"
    with Netlink(netns=ns.path) as nl:
        nl.add_veth(a, b)  # both ends here
        nl.set_up(a)
        nl.set_up(b)
        nl.add_address(a, "10.231.8.1/24")
        nl.add_address(a, "fd00:231:8::1/64")
        nl.add_route(dst="10.231.9.0/24", dev=a)  # on-link: scope link, no gateway
        links = {link["name"]: link for link in nl.links()}
        assert links[a]["kind"] == links[b]["kind"] == "veth"
        assert links["lo"]["kind"] is None and not links["lo"]["up"]
        assert len(links[a]["mac"].split(":")) == 6 and links[a]["mac"] != links[b]["mac"]
        assert nl.link(a) == links[a]
        assert nl.link(f"ctn{tag}") is None and nl.link_index(f"ctn{tag}") is None

        index = links[a]["index"]
        mine = nl.addresses(a)
        assert {"index": index, "name": a, "family": "inet", "address": "10.231.8.1",
                "prefixlen": 24} in mine
        assert {"index": index, "name": a, "family": "inet6", "address": "fd00:231:8::1",
                "prefixlen": 64} in mine
        assert all(entry["index"] == index for entry in mine)
        assert nl.addresses(b) == [e for e in nl.addresses() if e["index"] == links[b]["index"]]

        assert {"dst": "10.231.9.0", "dst_len": 24, "gateway": None, "oif": index} in nl.routes()
        assert f"10.231.9.0/24 dev {a} scope link" in ns.run("ip", "route").stdout
        assert {"dst": "fd00:231:8::", "dst_len": 64, "gateway": None, "oif": index} in \
            nl.routes("inet6")

        # Deleting one end of a pair deletes both.
        nl.delete_link(b)
        assert {link["name"] for link in nl.links()} == {"lo"}


def test_errors_name_the_link(netns, tag):
    ns = netns()
    bridge, veth, missing = f"ctb{tag}", f"ctv{tag}", f"ctm{tag}"
    with Netlink(netns=ns.path) as nl:
        nl.add_bridge(bridge)
        with pytest.raises(FileExistsError, match=f"add bridge {bridge}: File exists"):
            nl.add_bridge(bridge)
        with pytest.raises(OSError, match=f"add veth {bridge}") as e:
            nl.add_veth(bridge, f"ctp{tag}")
        assert e.value.errno == errno.EEXIST

        for action, text in [(lambda: nl.delete_link(missing), f"delete link {missing}"),
                             (lambda: nl.set_up(missing), f"set {missing} up"),
                             (lambda: nl.add_address(missing, "10.231.1.1/24"),
                              f"add address 10.231.1.1/24 to {missing}"),
                             (lambda: nl.add_route(gateway="10.231.1.1", dev=missing), missing)]:
            with pytest.raises(OSError, match=text) as e:
                action()
            assert e.value.errno == errno.ENODEV, text
        nl.delete_link(missing, missing_ok=True)  # cleanup after a crash: no error

        nl.add_veth(veth, f"ctp{tag}")
        with pytest.raises(OSError, match=f"set master of {veth} to {missing}.*no link {missing}") as e:
            nl.set_master(veth, missing)
        assert e.value.errno == errno.ENODEV

        nl.add_address(bridge, "10.231.1.1/24")
        with pytest.raises(FileExistsError, match=f"to {bridge}: File exists"):
            nl.add_address(bridge, "10.231.1.1/24")
        # The kernel's own explanation (extended ack) rides along when it gives one.
        with pytest.raises(OSError, match="add route 10.231.5.1/16 dev .*Invalid argument") as e:
            nl.add_route(dst="10.231.5.1/16", dev=bridge)
        assert e.value.errno == errno.EINVAL

        # Caught before asking the kernel.
        for action in [lambda: nl.add_bridge("ct-a-name-too-long"), lambda: nl.add_bridge("ct/x"),
                       lambda: nl.add_address(bridge, "10.231.1.300/24"),
                       lambda: nl.add_address(bridge, "10.231.1.3/33"),
                       lambda: nl.add_route(dst="10.231.0.0/16"),
                       lambda: nl.add_route(gateway="fd00::1", dst="10.231.0.0/16")]:
            with pytest.raises(ValueError):
                action()

        # After all those errors the socket still answers, in step.
        assert nl.link_index(bridge) is not None
        assert {link["name"] for link in nl.links()} == {"lo", bridge, veth, f"ctp{tag}"}


def test_a_socket_in_another_netns_leaves_us_at_home(netns):
    before = _here()
    ns = netns()
    with Netlink(netns=ns.path) as nl:
        assert _here() == before
        assert [link["name"] for link in nl.links()] == ["lo"]
    fd = os.open(ns.path, os.O_RDONLY)
    try:
        with Netlink(netns=fd) as nl:
            assert [link["name"] for link in nl.links()] == ["lo"]
        os.fstat(fd)  # a caller's fd is the caller's: still open
    finally:
        os.close(fd)
    assert _here() == before
    assert in_netns(ns.path, _here) != before and _here() == before

    with pytest.raises(FileNotFoundError):
        Netlink(netns="/nonexistent/ns/net")
    uts = os.open("/proc/self/ns/uts", os.O_RDONLY)
    try:
        with pytest.raises(OSError) as e:
            Netlink(netns=uts)  # not a network namespace
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(uts)

    def fails():
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError):
        in_netns(ns.path, fails)
    assert _here() == before


def test_links_in_our_own_netns(tag):
    """The only test on the host's namespace: a bridge of its own, down, no address, deleted."""
    bridge = f"ctb{tag}"
    with Netlink() as nl:
        assert any(link["name"] == "lo" for link in nl.links())
        nl.add_bridge(bridge)
        try:
            assert bridge in os.listdir("/sys/class/net")
            with open(f"/sys/class/net/{bridge}/ifindex") as f:
                assert nl.link_index(bridge) == int(f.read())
        finally:
            nl.delete_link(bridge)
        assert bridge not in os.listdir("/sys/class/net")


def test_explain_narrates_netlink(netns, tag):
    ns = netns()
    r, w = os.pipe()
    explain.enable(w)
    try:
        with Netlink(netns=ns.path) as nl:
            nl.add_bridge(f"ctb{tag}")
            nl.add_address(f"ctb{tag}", "10.231.2.1/24")
            nl.set_up(f"ctb{tag}")
            nl.add_route(gateway="10.231.2.254")
            nl.links()
    finally:
        os.close(explain._fd)  # narration off again, for the tests that follow
        explain._fd = None
        os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    assert "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)" in text
    assert "setns(" in text
    assert f'netlink(RTM_NEWLINK, {{"ctb{tag}", type bridge}})' in text
    assert f'netlink(RTM_NEWADDR, {{"ctb{tag}", 10.231.2.1/24, brd 10.231.2.255}})' in text
    assert "netlink(RTM_NEWROUTE, {default via 10.231.2.254})" in text
    assert "netlink(RTM_GETLINK, NLM_F_DUMP)" in text


def test_sysctl_in_a_netns_and_here(netns, tag):
    ns = netns()
    ours = sysctl.read_sysctl("net.ipv4.ip_forward")
    assert ours in ("0", "1")
    sysctl.write_sysctl("net.ipv4.ip_forward", 1, netns=ns.path)
    assert sysctl.read_sysctl("net.ipv4.ip_forward", netns=ns.path) == "1"
    assert sysctl.read_sysctl("net/ipv4/ip_forward", netns=ns.path) == "1"
    assert ns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert sysctl.read_sysctl("net.ipv4.ip_forward") == ours  # the host's is untouched

    bridge = f"ctb{tag}"
    with Netlink(netns=ns.path) as nl:
        nl.add_bridge(bridge)
    name = f"net.ipv4.conf.{bridge}.route_localnet"
    assert sysctl.read_sysctl(name, netns=ns.path) == "0"
    sysctl.write_sysctl(name, "1", netns=ns.path)
    assert sysctl.read_sysctl(name, netns=ns.path) == "1"
    with pytest.raises(FileNotFoundError):
        sysctl.read_sysctl(name)  # no such bridge here
    with pytest.raises(OSError) as e:
        sysctl.write_sysctl("net.ipv4.ip_forward", "banana", netns=ns.path)
    assert e.value.errno == errno.EINVAL
    # An interface name may hold a dot: then the name is written as a path, as for sysctl(8).
    path = sysctl.path_of("net/ipv4/conf/eth0.100/forwarding")
    assert path == "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
