"""Networking for real: none, host, bridge, named networks, NAT, published ports, the sweep.

Every address here lives on a bridge Carton makes (10.87.0.0/16 by default,
or a subnet the test picks) or in an "outside" network namespace the test
makes and connects to the host with a veth pair of its own: nothing is sent
anywhere else. The session's leak check (tests/conftest.py) fails if a link,
an nftables table, a lease or ``ip_forward`` is left changed.

A network's bridge, Carton's table and ``ip_forward`` stay up after the last
container, as docker0 does, until ``carton network prune``: the tests here
expect only a container's own veth, lease and ports to go with it. The leak
check prunes at the end of a session that started without Carton's bridges.
The tests of prune itself take down the bridges of unused networks (they are
made again by the next container, and carton0 is brought back if it was up)
and are skipped on a machine with custom networks of its own, which prune
would remove.
"""

import json
import os
import random
import signal
import socket
import subprocess
import urllib.request

import pytest
from carton_testlib import have, leftover_state, ok, wait_for

pytestmark = pytest.mark.skipif(not have("ip"), reason="needs iproute2's ip for the test's own netns")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _rand():
    return f"{random.randrange(1 << 24):06x}"


def _port():
    return random.randrange(20000, 30000)


def _store():
    path = os.path.join(os.environ.get("CARTON_NETWORK_DIR") or "/run/carton-network",
                        "state.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"networks": {}, "ports": []}


def _links():
    """The host's links once the namespaces of finished containers are gone.

    A container's veth pair goes with its network namespace, which the kernel
    tears down just after the container's last process exits (Carton does
    not wait for it: bridge.py, _release); a host end whose lease is released
    may still be listed for a few milliseconds.
    """
    def settled():
        live = {lease["veth"] for net in _store()["networks"].values()
                for lease in net["leases"].values()}
        links = set(os.listdir("/sys/class/net"))
        return links if all(not link.startswith("cv") or link in live for link in links) else None
    return wait_for(settled, what="the veth pairs of finished containers to go")


def _no_veths():
    """No container's veth is left (the bridges stay up: see the top of this file)."""
    return wait_for(lambda: not any(link.startswith("cv") for link in os.listdir("/sys/class/net")),
                    what="no veth of a container")


def _no_leases():
    """The store hands out no address and no port (networks may still be up, without leases)."""
    store = _store()
    return not store["ports"] and not any(net["leases"] for net in store["networks"].values())


def _address_of(name_or_id_prefix):
    """A running container's address, from the store (by --name, or id prefix)."""
    def find():
        for net in _store()["networks"].values():
            for ip, lease in net["leases"].items():
                if lease.get("name") == name_or_id_prefix or lease["id"].startswith(name_or_id_prefix):
                    return ip
        return None
    return wait_for(find, what=f"an address for {name_or_id_prefix}")


class Background:
    """A ``carton run`` in the background, stopped (SIGTERM, forwarded) at the end."""

    def __init__(self, carton, *args):
        self.carton = carton
        self.proc = carton.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self):
        """SIGTERM (forwarded to the container); if it is still there after 10 s, delete it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            for entry in os.listdir(self.carton.root):
                try:
                    with open(os.path.join(self.carton.root, entry, "state.json")) as f:
                        state = json.load(f)
                except (OSError, ValueError):
                    continue
                if state.get("carton_pid") == self.proc.pid:
                    self.carton("delete", "--force", entry)
            out, err = self.proc.communicate(timeout=30)
            raise AssertionError(f"the container did not stop on SIGTERM: {err}") from None


_running_backgrounds = []


@pytest.fixture
def background(carton):
    def start(*args):
        b = Background(carton, *args)
        _running_backgrounds.append(b)
        return b
    yield start
    problems = []
    while _running_backgrounds:
        try:
            _running_backgrounds.pop().stop()
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, problems


def _stoppable(command):
    """``command`` under a shell that exits on SIGTERM.

    As PID 1 of its namespace a process ignores every signal it has no
    handler for, SIGTERM included; ``carton run`` forwards the signal, and
    httpd or sleep would go on. (docker stop gives up after 10 s and kills.)
    """
    return ["sh", "-c", f"trap 'exit 0' TERM; {command} & wait"]


def _serve(text, port=80):
    """busybox httpd serving ``text`` at / on ``port``, stopped by SIGTERM."""
    return _stoppable(f"mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && "
                      f"httpd -f -p {port} -h /tmp/www")


def _http_get(url, timeout=10):
    def get():
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None
    return wait_for(get, f"an answer from {url}", timeout)


# -- none, host, container:, the default bridge -------------------------------------------


def test_none_has_only_loopback(carton, rootfs):
    r = carton("run", "--network", "none", rootfs, "ls", "/sys/class/net")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["lo"]


def test_host_sees_the_hosts_links(carton, rootfs):
    r = carton("run", "--network", "host", rootfs, "ls", "/sys/class/net")
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == set(os.listdir("/sys/class/net"))


def test_bridge_is_the_default(carton, rootfs):
    r = carton("run", rootfs, "sh", "-c",
               "ls /sys/class/net; ip -4 -o addr show eth0; ip route; ping -c1 -W2 10.87.0.1 "
               ">/dev/null && echo gateway-ok; cat /etc/hosts")
    assert r.returncode == 0, r.stderr + r.stdout
    words = r.stdout.split()
    assert "eth0" in words and "lo" in words
    assert "inet 10.87.0." in r.stdout
    assert "default via 10.87.0.1 dev eth0" in r.stdout
    assert "gateway-ok" in r.stdout
    address = r.stdout.split("inet ")[1].split("/")[0]
    assert f"{address}\t" in r.stdout  # /etc/hosts names the container's own address
    # After the run: no veth, no lease (the bridge stays: test_the_bridge_stays_up...).
    assert _no_veths()
    assert _no_leases()


def test_two_containers_on_the_default_bridge_reach_each_other_by_address(carton, rootfs,
                                                                          background):
    server = background("run", "--name", f"srv-{_rand()}", rootfs, *_serve("hello-bridge"))
    name = server.proc.args[server.proc.args.index("--name") + 1]
    ip = _address_of(name)
    r = carton("run", rootfs, "sh", "-c",
               f"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{ip}/ && exit 0; "
               "sleep 0.3; done; exit 1")
    assert r.returncode == 0, r.stderr
    assert "hello-bridge" in r.stdout


def test_container_network_mode_shares_the_namespace(carton, rootfs, background):
    name = f"owner-{_rand()}"
    server = background("run", "--name", name, rootfs, *_serve("shared-ns", 8081))
    ip = _address_of(name)
    r = carton("run", "--network", f"container:{name}", rootfs, "sh", "-c",
               "ip -4 -o addr show eth0; for i in 1 2 3 4 5 6 7 8 9 10; do "
               "wget -qO- http://127.0.0.1:8081/ && exit 0; sleep 0.3; done; exit 1")
    assert r.returncode == 0, r.stderr
    assert f"inet {ip}/" in r.stdout and "shared-ns" in r.stdout
    server.stop()


# -- named networks ---------------------------------------------------------------------------


@pytest.fixture
def network(carton):
    name = f"carton-test-{_rand()}"
    r = carton("network", "create", name)
    assert r.returncode == 0, r.stderr
    yield name
    r = carton("network", "rm", name)
    assert r.returncode == 0, r.stderr


def test_named_network_by_name(carton, rootfs, network, background):
    background("run", "--network", network, "--name", "web", rootfs, *_serve("by-name"))
    _address_of("web")
    r = carton("run", "--network", network, "--name", "client", rootfs, "sh", "-c",
               "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web/ && exit 0; sleep 0.3; "
               "done; cat /etc/hosts; exit 1")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "by-name" in r.stdout


def test_network_commands(carton, network):
    r = carton("network", "ls")
    assert r.returncode == 0 and network in r.stdout and "bridge" in r.stdout
    assert "carton0" in r.stdout and "10.87.0.0/24" in r.stdout
    r = carton("network", "inspect", network)
    [info] = json.loads(r.stdout)
    assert info["Name"] == network and info["IPAM"]["Config"][0]["Subnet"].startswith("10.87.")
    assert info["Containers"] == {}
    r = carton("network", "create", network)
    assert r.returncode != 0 and "already exists" in r.stderr


def test_network_rm_in_use_is_refused(carton, rootfs, network, background):
    background("run", "--network", network, "--name", "busy", rootfs, *_stoppable("sleep 60"))
    _address_of("busy")
    r = carton("network", "rm", network)
    assert r.returncode != 0
    assert f"network {network} is in use by container(s) busy" in r.stderr


# -- the outside world: NAT and published ports ---------------------------------------------


class Outside:
    """A network namespace standing for "another host", linked to ours by a veth pair."""

    def __init__(self):
        tag = _rand()
        self.ns = f"carton-test-{tag}"
        self.host_link = f"ct{tag}"
        self.host_ip = f"10.123.{random.randrange(1, 250)}.1"
        self.ip = self.host_ip[:-1] + "2"
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
        run("ip", "netns", "add", self.ns)
        try:
            run("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", "eth0",
                "netns", self.ns)
            run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_link)
            run("ip", "link", "set", self.host_link, "up")
            run("ip", "-n", self.ns, "addr", "add", f"{self.ip}/24", "dev", "eth0")
            run("ip", "-n", self.ns, "link", "set", "eth0", "up")
            run("ip", "-n", self.ns, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise

    def popen(self, *argv, **kwargs):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kwargs)

    def remove(self):
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@pytest.fixture
def outside():
    o = Outside()
    yield o
    o.remove()


_PEER_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
c, addr = s.accept()
print(addr[0], flush=True)
c.sendall(b"hi from outside\\n")
c.close()
"""


def test_outbound_nat_shows_the_hosts_address(carton, rootfs, outside):
    port = _port()
    server = outside.popen("python3", "-c", _PEER_SERVER, str(port), stdout=subprocess.PIPE,
                           text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        r = carton("run", rootfs, "sh", "-c", f"nc {outside.ip} {port} </dev/null")
        assert r.returncode == 0, r.stderr
        assert "hi from outside" in r.stdout
        seen = server.stdout.readline().strip()
        assert seen == outside.host_ip  # masqueraded: the host's address, not 10.87.0.x
    finally:
        server.kill()
        server.wait()


def test_published_tcp_port_from_localhost_and_outside(carton, rootfs, outside, background):
    port = _port()
    background("run", "-p", f"{port}:80", rootfs, *_serve("published"))
    assert "published" in _http_get(f"http://127.0.0.1:{port}/")
    # "Another host": the outside namespace reaches the host's address on its link.
    client = outside.popen("python3", "-c",
                           "import urllib.request,sys,time\n"
                           "for i in range(50):\n"
                           "    try:\n"
                           f"        print(urllib.request.urlopen('http://{outside.host_ip}:{port}/',"
                           " timeout=2).read().decode()); sys.exit(0)\n"
                           "    except OSError: time.sleep(0.2)\n"
                           "sys.exit(1)", stdout=subprocess.PIPE, text=True)
    out, _ = client.communicate(timeout=30)
    assert client.returncode == 0 and "published" in out


# busybox's nc has no UDP; the host's python, bind-mounted read-only, answers instead,
# under a shell that ends the container on SIGTERM, as the other servers here.
_HOST_PYTHON = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro"]
_UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(512)
    s.sendto(b"echo:" + data, peer)
"""


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3") or os.path.islink("/usr")
                    or not os.path.islink("/lib"), reason="needs a merged-/usr host python3")
def test_published_udp_port(carton, rootfs, background):
    port = _port()
    background("run", "-p", f"{port}:5353/udp", *_HOST_PYTHON, "-e", f"ECHO={_UDP_ECHO}",
               rootfs, *_stoppable('/usr/bin/python3 -c "$ECHO"'))
    carton.init_pid()  # published and started

    def ask():
        # A new socket (a new source port) each time: a datagram that reached the
        # container before its server listened got an ICMP error, not an answer.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(b"over-udp", ("127.0.0.1", port))
            return s.recvfrom(512)[0]
        except OSError:
            return None
        finally:
            s.close()
    assert wait_for(ask, what="a UDP answer") == b"echo:over-udp"


def test_a_port_cannot_be_published_twice(carton, rootfs, background):
    port = _port()
    background("run", "--name", f"first-{_rand()}", "-p", f"{port}:80", rootfs,
               *_stoppable("sleep 60"))
    carton.init_pid()  # started: its network was made before
    before = _links()
    r = carton("run", "-p", f"{port}:81", rootfs, "true")
    assert r.returncode == 125
    assert f"port {port}/tcp is already published by container first-" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _links() == before  # the loser left no veth
    assert len(_store()["ports"]) == 1


# -- bad input, and the sweep after a crash ---------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--network", "nope"], "network nope not found"),
    (["--network", "container:nope"], "no such container"),
    (["--network", "none", "-p", "80:80"], "conflicting options"),
    (["-p", "80"], "give the host port"),
    (["-p", "1:2/sctp"], "tcp or udp"),
    (["--network", "container:x", "-h", "y"], "conflicting options: --hostname"),
])
def test_bad_network_input(carton, rootfs, args, message):
    before = _links()
    r = carton("run", *args, rootfs, "true")
    assert r.returncode == 125, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert _links() == before


@pytest.mark.parametrize("args, message", [
    (["create", "--subnet", "10.87.0.0/16", "x-" + _rand()], "overlaps network bridge"),
    (["create", "--subnet", "10.1.2.3/24", "x-" + _rand()], "did you mean 10.1.2.0/24"),
    (["create", "none"], "network mode"),
    (["rm", "nope"], "network nope not found"),
    (["rm", "bridge"], "cannot be removed"),
    (["inspect", "nope"], "network nope not found"),
    (["frob"], "unknown network command"),
    (["prune", "--frob"], "unknown flag: --frob"),
    (["prune", "-x"], "unknown shorthand flag: 'x' in -x"),
    (["prune", "now"], "carton network prune takes no arguments"),
])
def test_bad_network_commands(carton, args, message):
    r = carton("network", *args)
    assert r.returncode == 125, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_kill_9_of_carton_is_swept_by_the_next_start(carton, rootfs):
    port = _port()
    proc = carton.popen("run", "-p", f"{port}:80", rootfs, "sleep", "300",
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = carton.init_pid()
        wait_for(lambda: _store()["ports"], what="the published port")
    finally:
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait()
    assert os.path.exists(f"/proc/{pid}")  # the container lives on, an orphan
    assert any(link.startswith("cv") for link in os.listdir("/sys/class/net"))
    r = carton("run", "--network", "none", rootfs, "true")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not _alive(pid), what="the orphan's end")
    assert _no_leases()
    assert _no_veths()
    assert not leftover_state(carton.root)


def test_a_published_range(carton, rootfs, background):
    port = _port()
    background("run", "-p", f"{port}-{port + 1}:80-81", rootfs,
               *_stoppable("mkdir -p /tmp/a /tmp/b; echo eighty > /tmp/a/index.html; "
                           "echo eighty-one > /tmp/b/index.html; httpd -f -p 80 -h /tmp/a & "
                           "httpd -f -p 81 -h /tmp/b"))
    assert _http_get(f"http://127.0.0.1:{port}/").strip() == "eighty"
    assert "eighty-one" in _http_get(f"http://127.0.0.1:{port + 1}/")


def test_delete_of_a_running_container_releases_its_network(carton, rootfs, background):
    port = _port()
    name = f"del-{_rand()}"
    run = background("run", "--name", name, "-p", f"{port}:80", rootfs, *_stoppable("sleep 60"))
    carton.init_pid()
    [cid] = [e for e in os.listdir(carton.root) if not e.startswith(".")]
    r = carton("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    run.proc.wait(timeout=30)  # its container is gone: the foreground run ends too
    assert _no_leases()
    assert _no_veths()


def test_a_subnet_that_clashes_with_a_host_route_is_refused(carton, rootfs, prunable):
    """A route of the host's own (here: on a bridge the test makes) inside 10.87.0.0/24."""
    ok(carton("network", "prune", "-f"))  # the check is made when carton0 is made
    link = f"ct{_rand()}"
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.87.0.129/25", "dev", link], check=True)
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
        r = carton("run", rootfs, "true")
        assert r.returncode == 125
        assert "subnet 10.87.0.0/24 clashes with the host's route to 10.87.0.128/25" in r.stderr
        assert f"dev {link}" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not _store()["networks"]
        assert "carton0" not in os.listdir("/sys/class/net")
    finally:
        subprocess.run(["ip", "link", "del", link])


def test_networks_are_isolated_from_each_other(carton, rootfs, background):
    """As docker's: a container reaches its own network's neighbours, not another network's."""
    nets = [f"carton-test-{_rand()}" for _ in range(2)]
    for net in nets:
        assert carton("network", "create", net).returncode == 0
    try:
        server = f"iso-{_rand()}"
        background("run", "--network", nets[0], "--name", server, rootfs, *_serve("isolated"))
        ip = _address_of(server)
        # (busybox's own wget -T crashes; its timeout applet does the job)
        probe = (f"for i in 1 2 3 4 5 6; do timeout 1 wget -qO- http://{ip}/ && exit 0; "
                 "sleep 0.3; done; exit 1")
        same = carton("run", "--network", nets[0], rootfs, "sh", "-c", probe)
        assert same.returncode == 0 and "isolated" in same.stdout, same.stderr
        other = carton("run", "--network", nets[1], rootfs, "sh", "-c",
                       f"timeout 2 wget -qO- http://{ip}/ && echo reached")
        assert other.returncode != 0 and "reached" not in other.stdout
    finally:
        while _running_backgrounds:
            _running_backgrounds.pop().stop()
        for net in nets:
            carton("network", "rm", net)


def test_dns_and_extra_hosts(carton, rootfs, network, background):
    """--dns, --dns-search, --add-host; the extra host stays when neighbours change /etc/hosts."""
    background("run", "--network", network, "--name", "first", "--add-host", "db:127.0.0.1",
               "--dns", "10.87.99.99", "--dns-search", "example.test", rootfs,
               *_stoppable("sleep 60"))
    _address_of("first")
    # A second container joins: the first one's /etc/hosts is rewritten with it.
    r = carton("run", "--network", network, "--name", "second", rootfs, "true")
    assert r.returncode == 0, r.stderr
    pid = carton.init_pid()
    with open(f"/proc/{pid}/root/etc/resolv.conf") as f:
        resolv = f.read()
    with open(f"/proc/{pid}/root/etc/hosts") as f:
        hosts = f.read()
    assert "nameserver 10.87.99.99" in resolv and "search example.test" in resolv
    assert resolv.count("nameserver") == 1
    assert "127.0.0.1\tdb" in hosts and "first" in hosts
    r = carton("run", "--add-host", "db:127.0.0.1", "--network", "none", rootfs, "sh", "-c",
               "ping -c1 -W1 db >/dev/null && echo resolved")
    assert "resolved" in r.stdout, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--dns", "nope"], "invalid --dns 'nope'"),
    (["--add-host", "db"], "use NAME:IP"),
    (["--add-host", "-x:1.2.3.4"], "not a host name"),
    (["--add-host", "db:1.2.3"], "use NAME:IP"),
])
def test_bad_dns_and_host_flags(carton, rootfs, args, message):
    r = carton("run", *args, rootfs, "true")
    assert r.returncode == 125 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3") or os.path.islink("/usr")
                    or not os.path.islink("/lib"), reason="needs a merged-/usr host python3")
def test_a_udp_client_that_was_sending_before_the_port_was_published(carton, rootfs, background):
    """Its flow's conntrack entry (made without DNAT) is forgotten when the port is published."""
    port = _port()
    # Carton's table exists (a bridged container runs), so conntrack follows flows.
    background("run", "--name", f"keep-{_rand()}", rootfs, *_stoppable("sleep 60"))
    carton.init_pid()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.sendto(b"early", ("127.0.0.1", port))  # nobody there yet: an un-NATed entry
        background("run", "-p", f"{port}:5353/udp", *_HOST_PYTHON, "-e", f"ECHO={_UDP_ECHO}",
                   rootfs, *_stoppable('/usr/bin/python3 -c "$ECHO"'))

        def ask():  # the same socket, so the same flow as the early datagram
            s.sendto(b"late", ("127.0.0.1", port))
            try:
                return s.recvfrom(512)[0]
            except OSError:
                return None
        assert wait_for(ask, what="an answer on the early flow") == b"echo:late"
    finally:
        s.close()



# -- bridges stay up between containers; carton network prune ---------------------------------


def _ip_forward():
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return f.read().strip()


def _bridges_in_table():
    """The bridges of the networks in Carton's nftables table ([] without a table)."""
    from carton.network import firewall

    return [n["bridge"] for n in firewall.dump()["networks"]]


def _table_exists():
    from carton.network import firewall

    return firewall.exists()


def _bridge_of(carton, network):
    [info] = json.loads(ok(carton("network", "inspect", network)).stdout)
    return info["Bridge"]


def _up(bridge):
    return bridge in os.listdir("/sys/class/net")


@pytest.fixture
def prunable(carton, rootfs):
    """For a test that prunes: skipped where custom networks of the machine's own would be
    removed by it; carton0 is brought back up afterwards if it was up before."""
    others = [n for n in ok(carton("network", "ls", "-q")).stdout.split() if n != "bridge"]
    if others:
        pytest.skip(f"this machine has networks of its own ({', '.join(others)}), "
                    "which carton network prune would remove")
    was_up = "bridge" in _store()["networks"]
    yield
    if was_up and "bridge" not in _store()["networks"]:
        ok(carton("run", rootfs, "true"))


def test_the_bridge_stays_up_after_the_last_container(carton, rootfs):
    """As docker0: the first container makes carton0, its rules and ip_forward; they stay."""
    ok(carton("run", rootfs, "true"))
    assert _no_veths() and _no_leases()
    assert _up("carton0") and "carton0" in _bridges_in_table()
    assert _store()["networks"]["bridge"]["leases"] == {}
    assert _ip_forward() == "1"
    # The next container finds them made: its run adds only its own veth and address.
    r = ok(carton("run", "--explain", rootfs, "true"))
    assert "make the veth pair" in r.stderr
    assert "make the bridge" not in r.stderr and "masquerade" not in r.stderr


def test_prune_takes_down_unused_networks_and_leaves_one_in_use(carton, rootfs, background,
                                                                  prunable):
    ok(carton("network", "prune", "-f"))  # from nothing up: ip_forward as the host had it
    forwarding = _ip_forward()
    assert not _table_exists() and not _up("carton0")
    busy, idle, never = (f"carton-test-{_rand()}" for _ in range(3))
    for name in (busy, idle, never):
        ok(carton("network", "create", name))
    try:
        ok(carton("run", rootfs, "true"))  # carton0 up, unused
        ok(carton("run", "--network", idle, rootfs, "true"))  # idle's bridge up, unused
        port = _port()
        background("run", "--network", busy, "--name", f"busy-{_rand()}", "-p", f"{port}:80",
                   rootfs, *_serve("still-here"))
        assert "still-here" in _http_get(f"http://127.0.0.1:{port}/")
        busy_bridge, idle_bridge = _bridge_of(carton, busy), _bridge_of(carton, idle)
        assert _up("carton0") and _up(idle_bridge) and _up(busy_bridge)
        assert _ip_forward() == "1"

        r = ok(carton("network", "prune", "-f"))
        deleted, _, taken = r.stdout.partition("\n\n")
        assert deleted.splitlines()[0] == "Deleted Networks:"
        assert sorted(deleted.splitlines()[1:]) == sorted([idle, never])
        assert taken.splitlines()[0] == "Bridges taken down:"
        assert sorted(taken.splitlines()[1:]) == sorted(["carton0", idle_bridge])
        # The unused ones are gone, bridge, rules and definition...
        assert not _up("carton0") and not _up(idle_bridge)
        assert _bridges_in_table() == [busy_bridge]
        assert ok(carton("network", "ls", "-q")).stdout.split() == ["bridge", busy]
        # ...the one in use is untouched: its bridge, its rules, its published port.
        assert _up(busy_bridge) and _ip_forward() == "1"
        assert "still-here" in _http_get(f"http://127.0.0.1:{port}/")

        # Once its container is gone, it goes too, and with the last bridge the whole table
        # and the ip_forward Carton turned on.
        while _running_backgrounds:
            _running_backgrounds.pop().stop()
        r = ok(carton("network", "prune", "-f"))
        assert r.stdout == f"Deleted Networks:\n{busy}\n\nBridges taken down:\n{busy_bridge}\n"
        assert not _up(busy_bridge) and not _table_exists()
        assert _ip_forward() == forwarding
        assert _store()["networks"] == {} and "forwarding_was" not in _store()
        assert ok(carton("network", "prune", "-f")).stdout == ""  # nothing left to do
    finally:
        for name in (busy, idle, never):
            carton("network", "rm", name)


def test_prune_asks_first(carton, rootfs, prunable):
    name = f"carton-test-{_rand()}"
    ok(carton("network", "create", name))
    try:
        ok(carton("run", rootfs, "true"))
        for answer in ("n\n", "", "yes please\n"):
            r = ok(carton("network", "prune", input=answer))
            assert r.stdout == ("WARNING! This will remove all custom networks not used by at "
                                "least one container, and take down the bridges of unused "
                                "networks.\nAre you sure you want to continue? [y/N] ")
            assert _up("carton0") and name in ok(carton("network", "ls", "-q")).stdout.split()
        r = ok(carton("network", "prune", input="y\n"))
        assert f"Deleted Networks:\n{name}\n" in r.stdout and "carton0" in r.stdout
        assert not _up("carton0")
    finally:
        carton("network", "rm", name)


def test_rm_takes_down_the_networks_bridge(carton, rootfs, network):
    ok(carton("run", "--network", network, rootfs, "true"))
    bridge = _bridge_of(carton, network)
    assert _up(bridge) and bridge in _bridges_in_table()
    assert network in _store()["networks"]
    r = ok(carton("network", "rm", network))
    assert r.stdout.split() == [network]
    assert not _up(bridge) and bridge not in _bridges_in_table()
    assert network not in _store()["networks"]
    ok(carton("network", "create", network))  # for the fixture, which removes it


def test_a_vanished_bridge_is_made_again(carton, rootfs):
    """Someone deletes carton0 (ip link del) and Carton's table behind its back: the store
    still says the network is up, and the next container makes both again."""
    ok(carton("run", rootfs, "true"))
    subprocess.run(["ip", "link", "del", "carton0"], check=True)
    subprocess.run(["nft", "delete", "table", "ip", "carton"], check=True)
    assert "bridge" in _store()["networks"]
    r = ok(carton("run", rootfs, "sh", "-c",
                  "ping -c1 -W2 10.87.0.1 >/dev/null && echo gateway-ok"))
    assert "gateway-ok" in r.stdout
    assert _up("carton0") and "carton0" in _bridges_in_table()
    with open("/proc/sys/net/ipv4/conf/carton0/route_localnet") as f:
        assert f.read().strip() == "1"


@pytest.mark.skipif(os.path.exists(os.path.join(os.environ.get("CARTON_DATA_DIR") or
                                                "/var/lib/carton", "networks", "bridge.json")),
                    reason="the default network was moved on this machine already")
def test_moving_the_default_network_takes_carton0_down_first(carton, rootfs, background,
                                                             prunable):
    """carton0 keeps the subnet it was made with: a move takes it down (refused while in
    use), and the next container makes it on the new subnet; rm moves it back."""
    ok(carton("run", rootfs, "true"))
    assert _up("carton0")
    name = f"hold-{_rand()}"
    background("run", "--name", name, rootfs, *_stoppable("sleep 60"))
    _address_of(name)
    r = carton("network", "create", "bridge", "--subnet", "10.87.250.0/24")
    assert r.returncode == 125
    assert f"network bridge is in use by container(s) {name}" in r.stderr
    while _running_backgrounds:
        _running_backgrounds.pop().stop()
    try:
        ok(carton("network", "create", "bridge", "--subnet", "10.87.250.0/24"))
        assert not _up("carton0")
        r = ok(carton("run", rootfs, "ip", "-4", "-o", "addr", "show", "eth0"))
        assert "inet 10.87.250." in r.stdout
    finally:
        r = carton("network", "rm", "bridge")
    assert r.returncode == 0, r.stderr
    assert not _up("carton0")
    r = ok(carton("run", rootfs, "ip", "-4", "-o", "addr", "show", "eth0"))
    assert "inet 10.87.0." in r.stdout


def test_a_link_that_is_not_a_bridge_is_left_alone(carton, rootfs, prunable):
    """A first container that fails half-way takes its network down again, but a carton0
    that is not a bridge is not Carton's: it is refused, and neither used nor deleted."""
    ok(carton("network", "prune", "-f"))
    # A veth pair (not every kernel has the dummy driver); deleting one end deletes both.
    subprocess.run(["ip", "link", "add", "carton0", "type", "veth", "peer", "name",
                    f"ct{_rand()}"], check=True)
    try:
        r = carton("run", rootfs, "true")
        assert r.returncode == 125
        assert "the host has a link carton0 that is not a bridge" in r.stderr
        assert _up("carton0") and "bridge" not in _store()["networks"] and _no_leases()
        assert not _table_exists()
    finally:
        subprocess.run(["ip", "link", "del", "carton0"], check=True)
