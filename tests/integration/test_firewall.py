"""The firewall layer (network/firewall.py) on the real kernel: real nftables, real namespaces.

The test builds its own small network, like a host with one container and one
neighbour:

    container netns            host                        outside netns
    eth0 10.A.B.2 ---- veth ct..c -- bridge ct..b 10.A.B.1
                                     veth ct..o 10.A.C.1 ---- eth0 10.A.C.2

Each namespace is held by a ``sleep`` process made with unshare(1) (not
``ip netns add``, whose bind mounts under /run/netns would outlive the test),
and runs a small server that answers "NAME PEER_ADDRESS", so a test sees both
that a connection arrived and which source address it arrived from.

Safety: the rules go in a table of the test's own, ``carton-test-<random>``,
deleted after each test whatever happened; the subnets, interface names and
ports (20000-30000) are picked at random and only match this topology.
"""

import os
import random
import subprocess
import sys
import time

import pytest

from carton.errors import CartonError
from carton.linux import nftables
from carton.network import firewall

SERVER = r"""
import select, socket, sys
name, port = sys.argv[1], int(sys.argv[2])
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", port))
tcp.listen(16)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", port))
print("ready", flush=True)
while True:
    for s in select.select([tcp, udp], [], [])[0]:
        if s is tcp:
            c, peer = tcp.accept()
            c.sendall(f"{name} {peer[0]}".encode())
            c.close()
        else:
            _, peer = udp.recvfrom(100)
            udp.sendto(f"{name} {peer[0]}".encode(), peer)
"""

CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if proto == "tcp":
        s = socket.create_connection((host, port), timeout=float(sys.argv[4]))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(float(sys.argv[4]))
        s.sendto(b"hello", (host, port))
    print(s.recv(100).decode())
except OSError as e:
    print("error", type(e).__name__)
"""


def ask(proto, host, port, netns_pid=None, timeout=2.0):
    """What the server at HOST:PORT answers ("NAME PEER"), or "error ..." if nothing does."""
    argv = [sys.executable, "-c", CLIENT, proto, host, str(port), str(timeout)]
    if netns_pid:
        argv = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True, text=True)


def inside(pid, *argv):
    sh("nsenter", f"--net=/proc/{pid}/ns/net", *argv)


def _free_subnets():
    """Two /24s in 10.A.B.0 and 10.A.B+1.0 that no address or route of the host touches."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                           text=True).stdout
    while True:
        a, b = random.randint(100, 250), random.randint(0, 254) & ~1
        if f"10.{a}." not in used:
            return f"10.{a}.{b}", f"10.{a}.{b + 1}"


class Topology:
    """The bridge, two namespaces and their servers; ``close()`` removes every piece."""

    def __init__(self):
        tag = os.urandom(3).hex()
        self.bridge, self.cveth, self.oveth = f"ct{tag}b", f"ct{tag}c", f"ct{tag}o"
        net, out = _free_subnets()
        self.subnet, self.gateway, self.container_ip = f"{net}.0/24", f"{net}.1", f"{net}.2"
        self.host_out_ip, self.outside_ip = f"{out}.1", f"{out}.2"
        self.port = random.randint(20000, 30000)  # the servers' port, in both namespaces
        self.holders, self.servers, self.links = [], [], []

    def build(self):
        self.container = self._netns()
        self.outside = self._netns()
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for veth, pid, host_side, ns_addr, via in (
                (self.cveth, self.container, None, f"{self.container_ip}/24", self.gateway),
                (self.oveth, self.outside, f"{self.host_out_ip}/24", f"{self.outside_ip}/24", None)):
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
            self.links.append(veth)
            if host_side:
                sh("ip", "addr", "add", host_side, "dev", veth)
            else:
                sh("ip", "link", "set", veth, "master", self.bridge)
                # Hairpin mode lets the bridge send a frame back out the port it came
                # in by. A container reaching its own published port needs it when
                # br_netfilter is loaded: br_netfilter DNATs the frame in the bridge
                # and, its new destination being on the same bridge, forwards it there
                # rather than routing it. (Docker turns it on without its proxy too.)
                sh("ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
            sh("ip", "link", "set", veth, "up")
            inside(pid, "ip", "link", "set", "lo", "up")
            inside(pid, "ip", "addr", "add", ns_addr, "dev", "eth0")
            inside(pid, "ip", "link", "set", "eth0", "up")
            if via:
                inside(pid, "ip", "route", "add", "default", "via", via)
        # The outside namespace has no route to the container's subnet, on purpose:
        # only a masqueraded packet (from the host's address) can be answered.
        self._serve("container", self.container)
        self._serve("outside", self.outside)

    def _netns(self):
        holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        self.holders.append(holder)
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare did not make a network namespace"
            time.sleep(0.01)
        return holder.pid

    def _serve(self, name, pid):
        server = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c",
                                   SERVER, name, str(self.port)], stdout=subprocess.PIPE, text=True)
        self.servers.append(server)
        assert server.stdout.readline().strip() == "ready"

    def close(self):
        for process in self.servers + self.holders:
            process.kill()
            process.wait()
        # Deleting one end of a veth deletes both; the namespaces' own ends would
        # also go with their namespace, but asynchronously, after the leak check.
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)


@pytest.fixture
def topo():
    """The topology, with IP forwarding on while it exists; one per test, because the
    session's checks want no process of a test left running after it.

    This host runs with net.ipv4.ip_forward=0, and a router (the host between
    the bridge and the outside veth) must forward. The original value is
    written back at the end, whatever happened: the setting is host-wide, and
    the session's leak check compares it too.
    """
    try:
        nftables._libnftables()
    except CartonError as e:
        pytest.skip(str(e))
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forwarding = f.read().strip()
    t = Topology()
    try:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        t.build()
        # What the caller of add_network does (bridge.py): let packets with a loopback
        # source (the host's 127.0.0.1, DNATed to a container) leave by the bridge.
        with open(f"/proc/sys/net/ipv4/conf/{t.bridge}/route_localnet", "w") as f:
            f.write("1")
        yield t
    finally:
        t.close()
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(forwarding)


@pytest.fixture
def table():
    """A table name of this test's own; the table and its lock file are gone afterwards."""
    name = "carton-test-" + os.urandom(4).hex()
    try:
        yield name
    finally:
        if firewall.exists(name):
            nftables.run(f"delete table ip {name}")
        try:
            os.unlink(firewall.lock_path(name))
        except FileNotFoundError:
            pass


def _host_port(topo):
    while True:
        port = random.randint(20000, 30000)
        if port != topo.port:
            return port


# -- masquerade -----------------------------------------------------------------------


def test_masquerade_gives_outgoing_traffic_the_hosts_address(topo, table):
    # Without the rule, the outside cannot answer 10.A.B.2 (it has no route there).
    assert ask("tcp", topo.outside_ip, topo.port, topo.container, timeout=1).startswith("error")

    firewall.add_network(topo.bridge, topo.subnet, table=table)
    assert firewall.dump(table)["networks"] == [{"bridge": topo.bridge, "subnet": topo.subnet}]

    # The packet left by the outside veth with the host's address there as its source.
    assert ask("tcp", topo.outside_ip, topo.port, topo.container) == f"outside {topo.host_out_ip}"
    assert ask("udp", topo.outside_ip, topo.port, topo.container) == f"outside {topo.host_out_ip}"


def test_add_network_twice_is_harmless_and_overlaps_are_refused(topo, table):
    firewall.add_network(topo.bridge, topo.subnet, table=table)
    firewall.add_network(topo.bridge, topo.subnet, table=table)
    assert len(firewall.dump(table)["networks"]) == 1
    overlapping = topo.subnet.replace(".0/24", ".128/25")
    with pytest.raises(CartonError, match="overlaps"):
        firewall.add_network("ctother0", overlapping, table=table)
    assert firewall.dump(table)["networks"] == [{"bridge": topo.bridge, "subnet": topo.subnet}]


# -- published ports ------------------------------------------------------------------


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_published_port_is_reached_from_the_host_and_from_outside(topo, table, proto):
    host_port = _host_port(topo)
    firewall.add_network(topo.bridge, topo.subnet, table=table)
    firewall.publish("web", None, host_port, proto, topo.container_ip, topo.port, table=table)

    # From the host itself by 127.0.0.1: DNAT in the output chain, then masquerade of the
    # loopback source as the packet leaves by the bridge (so the container sees the gateway).
    assert ask(proto, "127.0.0.1", host_port) == f"container {topo.gateway}"
    # From another namespace, to the host's address on its side: DNAT in prerouting; the
    # container sees the real client (no masquerade for traffic coming in).
    assert ask(proto, topo.host_out_ip, host_port, topo.outside) == f"container {topo.outside_ip}"
    # The container itself, by the host's address (hairpin): masqueraded so the
    # reply goes back through the host and is un-DNATed there.
    assert ask(proto, topo.host_out_ip, host_port, topo.container) == f"container {topo.gateway}"

    assert firewall.dump(table)["ports"] == [{
        "container_id": "web", "host_ip": None, "host_port": host_port, "proto": proto,
        "container_ip": topo.container_ip, "container_port": topo.port}]


def test_published_port_on_one_address_only(topo, table):
    host_port = _host_port(topo)
    firewall.add_network(topo.bridge, topo.subnet, table=table)
    firewall.publish("web", topo.host_out_ip, host_port, "tcp", topo.container_ip, topo.port,
                     table=table)
    assert ask("tcp", topo.host_out_ip, host_port, topo.outside) == f"container {topo.outside_ip}"
    # 127.0.0.1 is a local address too, but not the one published: nothing listens there.
    assert ask("tcp", "127.0.0.1", host_port, timeout=1) == "error ConnectionRefusedError"
    assert firewall.dump(table)["ports"][0]["host_ip"] == topo.host_out_ip


def test_publishing_a_published_port_fails_and_names_the_owner(topo, table):
    host_port = _host_port(topo)
    firewall.publish("web", None, host_port, "tcp", topo.container_ip, topo.port, table=table)
    with pytest.raises(CartonError, match=rf"^port {host_port}/tcp is already published "
                                          r"\(by container web\)$"):
        firewall.publish("db", None, host_port, "tcp", "10.0.0.9", 80, table=table)
    # An address of the host is one of "every address": taken too.
    with pytest.raises(CartonError, match="already published"):
        firewall.publish("db", "127.0.0.1", host_port, "tcp", "10.0.0.9", 80, table=table)
    # Without an owner's name, the error names where the port goes.
    firewall.publish(None, None, host_port, "udp", topo.container_ip, 53, table=table)
    with pytest.raises(CartonError, match=rf"already published \(to {topo.container_ip}:53\)"):
        firewall.publish("db", None, host_port, "udp", "10.0.0.9", 53, table=table)
    # The same port number for another protocol is another port.
    assert len(firewall.dump(table)["ports"]) == 2

    # Only the owner's clean-up takes a port away.
    assert not firewall.unpublish("db", None, host_port, "tcp", table=table)
    assert not firewall.unpublish(None, None, host_port, "udp", "10.0.0.9", 53, table=table)
    assert len(firewall.dump(table)["ports"]) == 2
    assert firewall.unpublish("web", None, host_port, "tcp", topo.container_ip, topo.port,
                              table=table)
    assert firewall.unpublish(None, None, host_port, "udp", topo.container_ip, 53, table=table)
    assert not firewall.unpublish("web", None, host_port, "tcp", table=table)  # gone already


# -- the table's life -----------------------------------------------------------------


def test_the_table_goes_when_the_last_network_and_port_go(topo, table):
    host_port = _host_port(topo)
    assert not firewall.exists(table)
    firewall.ensure_table(table)
    firewall.ensure_table(table)  # again: nothing doubled
    rules = nftables.list_json(f"chain ip {table} postrouting")
    assert sum("rule" in o for o in rules) == 4

    firewall.add_network(topo.bridge, topo.subnet, table=table)
    firewall.publish("web", None, host_port, "tcp", topo.container_ip, topo.port, table=table)
    assert ask("tcp", "127.0.0.1", host_port) == f"container {topo.gateway}"

    assert not firewall.remove_table_if_unused(table)  # a network and a port still need it
    assert firewall.unpublish("web", None, host_port, "tcp", table=table)
    assert not firewall.remove_table_if_unused(table)  # the network still does
    assert firewall.remove_network(topo.bridge, topo.subnet, table=table)
    assert not firewall.remove_network(topo.bridge, topo.subnet, table=table)  # already gone
    assert firewall.remove_table_if_unused(table)
    assert not firewall.exists(table)
    assert firewall.dump(table) == {"networks": [], "ports": []}
    assert firewall.remove_table_if_unused(table)  # no table: nothing to do

    # And the rules are really gone: nothing answers the host port any more.
    assert ask("tcp", "127.0.0.1", host_port, timeout=1) == "error ConnectionRefusedError"


def test_containers_cannot_reach_the_hosts_loopback(topo, table):
    """route_localnet=1 on the bridge would let a container send to the host's 127.0.0.0/8;
    the table's guard chain drops such packets (docker and kube-proxy guard it too)."""
    # The host's own server, on its loopback only (127.0.0.2 is local through 127.0.0.0/8).
    server = subprocess.Popen([sys.executable, "-c", SERVER.replace("0.0.0.0", "127.0.0.2"),
                               "host", str(topo.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        # A hostile container: it sends packets for 127.0.0.2 to the host, as raw sockets could.
        inside(topo.container, "ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo",
               "table", "local")
        inside(topo.container, "sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1")
        inside(topo.container, "ip", "route", "add", "127.0.0.2/32", "via", topo.gateway)
        try:
            # Without Carton's table the attack works (this is what the guard is for)...
            assert ask("tcp", "127.0.0.2", topo.port, topo.container) == f"host {topo.container_ip}"
            # ...with it, the packets are dropped.
            firewall.add_network(topo.bridge, topo.subnet, table=table)
            assert ask("tcp", "127.0.0.2", topo.port, topo.container, timeout=1) == \
                "error TimeoutError"
        finally:
            inside(topo.container, "ip", "route", "del", "127.0.0.2/32")
            inside(topo.container, "ip", "route", "add", "local", "127.0.0.0/8", "dev", "lo",
                   "table", "local")
    finally:
        server.kill()
        server.wait()


# -- what reaches nft's text ----------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda t: firewall.add_network('br"; flush ruleset', "10.1.2.0/24", table=t),
    lambda t: firewall.add_network("averylongbridgename", "10.1.2.0/24", table=t),
    lambda t: firewall.add_network("br0", "10.1.2.0/24 }", table=t),
    lambda t: firewall.publish('x" } ; flush ruleset', None, 8080, "tcp", "10.1.2.3", 80, table=t),
    lambda t: firewall.publish("x", "localhost", 8080, "tcp", "10.1.2.3", 80, table=t),
    lambda t: firewall.publish("x", None, 70000, "tcp", "10.1.2.3", 80, table=t),
    lambda t: firewall.publish("x", None, 8080, "icmp", "10.1.2.3", 80, table=t),
    lambda t: firewall.publish("x", None, 8080, "tcp", "10.1.2", 80, table=t),
    lambda t: firewall.ensure_table("filter"),
])
def test_bad_values_are_refused_before_nft_sees_them(table, call):
    with pytest.raises(CartonError, match="invalid"):
        call(table)
    assert not firewall.exists(table)


def test_nft_errors_are_one_line(table):
    with pytest.raises(nftables.NftError) as caught:
        nftables.run(f"delete table ip {table}")
    message = str(caught.value)
    assert message.startswith("nftables: ") and "No such file or directory" in message
    assert message.endswith(f"(in: delete table ip {table})") and "\n" not in message


def test_a_missing_library_names_the_package(monkeypatch):
    def no_library(*args, **kwargs):
        raise OSError("libnftables.so.1: cannot open shared object file")

    monkeypatch.setattr(nftables, "_lib", None)
    monkeypatch.setattr(nftables.ctypes, "CDLL", no_library)
    with pytest.raises(CartonError, match=r"apt-get install libnftables1"):
        nftables.run("list tables")
