"""Pure logic of networking: subnets, -p parsing, network definitions, --network choices."""

import pytest

from carton.errors import CartonError
from carton.network import config, modes, ports
from carton.network.addresses import Subnet, to_int, to_text


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTON_DATA_DIR", str(tmp_path / "data"))


def test_subnet_parse_and_math():
    s = Subnet.parse("10.87.0.0/24")
    assert str(s) == "10.87.0.0/24" and s.size == 256
    assert to_text(s.host(1)) == "10.87.0.1"
    assert s.contains(to_int("10.87.0.200")) and not s.contains(to_int("10.87.1.1"))
    assert s.overlaps(Subnet.parse("10.0.0.0/8")) and not s.overlaps(Subnet.parse("10.88.0.0/16"))


@pytest.mark.parametrize("text, message", [
    ("10.87.0.0", "ADDRESS/PREFIX"), ("10.87.0.1/24", "did you mean 10.87.0.0/24"),
    ("10.87.0.0/31", "prefix must be 8 to 30"), ("300.1.1.0/24", "invalid IPv4 address"),
    ("10.87.0.0/x", "ADDRESS/PREFIX"),
])
def test_subnet_errors(text, message):
    with pytest.raises(CartonError, match=message):
        Subnet.parse(text)


def test_publish_forms():
    [p] = ports.parse("8080:80")
    assert (p.host_ip, p.host_port, p.container_port, p.proto) == ("", 8080, 80, "tcp")
    [p] = ports.parse("127.0.0.1:5353:53/udp")
    assert (p.host_ip, p.host_port, p.container_port, p.proto) == ("127.0.0.1", 5353, 53, "udp")
    assert [(p.host_port, p.container_port) for p in ports.parse("8000-8002:80-82")] == [
        (8000, 80), (8001, 81), (8002, 82)]
    assert ports.parse("0.0.0.0:1:2")[0].host_ip == ""


@pytest.mark.parametrize("text, message", [
    ("80", "give the host port"), (":80", "give the host port"), ("8080:80/sctp", "tcp or udp"),
    ("a:80", "not a port"), ("0:80", "1-65535"), ("70000:80", "1-65535"),
    ("8000-8001:80", "same length"), ("9-8:80", "ranges low-high"),
    ("1.2.3:80:80", "not an IPv4 address"), ("[::1]:80:80", "only IPv4"), ("1:2:3:4", r"use \[IP:\]"),
])
def test_publish_errors(text, message):
    with pytest.raises(CartonError, match=message):
        ports.parse(text)


def test_publish_twice_in_one_run():
    with pytest.raises(CartonError, match="published twice"):
        ports.parse_all(["8080:80", "8080:81"])
    with pytest.raises(CartonError, match="published twice"):
        ports.parse_all(["127.0.0.1:8080:80", "8080:81"])
    assert len(ports.parse_all(["127.0.0.1:8080:80", "127.0.0.2:8080:80", "8080:80/udp"])) == 3


def test_default_network_is_built_in():
    [net] = config.all_networks()
    assert (net.name, net.bridge, str(net.subnet)) == ("bridge", "carton0", "10.87.0.0/24")
    assert config.load("bridge").bridge == "carton0"


def test_define_picks_bridges_and_free_subnets():
    a = config.define("front")
    b = config.define("back")
    assert (a.bridge, str(a.subnet)) == ("carton1", "10.87.1.0/24")
    assert (b.bridge, str(b.subnet)) == ("carton2", "10.87.2.0/24")
    assert [n.name for n in config.all_networks()] == ["bridge", "back", "front"]
    config.undefine("front")
    c = config.define("side")  # the freed bridge name and subnet are used again
    assert (c.bridge, str(c.subnet)) == ("carton1", "10.87.1.0/24")


def test_define_refuses_clashes():
    config.define("a", "10.99.0.0/24")
    with pytest.raises(CartonError, match="already exists"):
        config.define("a")
    with pytest.raises(CartonError, match="overlaps network a"):
        config.define("b", "10.99.0.0/16")
    routes = [(Subnet.parse("192.168.7.0/24"), "eth0")]
    with pytest.raises(CartonError, match="clashes with the host's route to 192.168.7.0/24"):
        config.define("c", "192.168.0.0/16", routes)
    # The automatic choice steps around a host route.
    routes = [(Subnet.parse("10.87.1.0/24"), "eth1")]
    assert str(config.define("d", host_routes=routes).subnet) == "10.87.2.0/24"


@pytest.mark.parametrize("name, message", [
    ("", "invalid network name"), ("-x", "invalid network name"), ("a b", "invalid network name"),
    ("none", "network mode"), ("host", "network mode"),
])
def test_bad_network_names(name, message):
    with pytest.raises(CartonError, match=message):
        config.define(name)


def test_unknown_network_and_default_removal():
    with pytest.raises(CartonError, match="network nope not found"):
        config.load("nope")
    with pytest.raises(CartonError, match="cannot be removed"):
        config.undefine("bridge")
    # Moving the default network (the way out of a clash) is allowed, with --subnet.
    with pytest.raises(CartonError, match="give --subnet"):
        config.define("bridge")
    assert str(config.define("bridge", "10.200.0.0/24").subnet) == "10.200.0.0/24"
    assert config.load("bridge").bridge == "carton0"


def test_network_choices(tmp_path):
    assert modes.choose(None, [], str(tmp_path), False).mode == "bridge"
    assert modes.choose("none", [], str(tmp_path), False).mode == "none"
    assert modes.choose("host", [], str(tmp_path), False).hostname
    with pytest.raises(CartonError, match="conflicting options: port publishing"):
        modes.choose("host", ["80:80"], str(tmp_path), False)
    with pytest.raises(CartonError, match="conflicting options: --hostname"):
        modes.choose("container:x", [], str(tmp_path), True)
    with pytest.raises(CartonError, match="no such container"):
        modes.choose("container:x", [], str(tmp_path), False)
    with pytest.raises(CartonError, match="network nope not found"):
        modes.choose("nope", [], str(tmp_path), False)
    choice = modes.choose("bridge", ["8080:80", "53:53/udp"], str(tmp_path), False)
    assert [str(p) for p in choice.published] == ["8080->80/tcp", "53->53/udp"]


def test_addresses_are_handed_out_in_turn_and_wrap_around():
    from carton.network import bridge

    net = config.Network("n", "cartonX", Subnet.parse("10.9.9.0/29"))  # hosts .2 to .6
    rec = {"leases": {}}
    got = []
    for _ in range(5):
        ip = to_text(bridge._free_address(net, rec))
        rec["leases"][ip] = {}
        got.append(ip)
    assert got == ["10.9.9.2", "10.9.9.3", "10.9.9.4", "10.9.9.5", "10.9.9.6"]
    with pytest.raises(CartonError, match="no free address left in 10.9.9.0/29"):
        bridge._free_address(net, rec)
    del rec["leases"]["10.9.9.3"]
    del rec["leases"]["10.9.9.5"]
    assert to_text(bridge._free_address(net, rec)) == "10.9.9.3"  # after .6, wrapping
    rec["leases"]["10.9.9.3"] = {}
    assert to_text(bridge._free_address(net, rec)) == "10.9.9.5"
