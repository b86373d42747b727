"""Pure checks of ``carton run``'s front door: hostnames, names, env, volumes, mount options."""

import pytest

from carton.cli import run
from carton.errors import CartonError
from carton.linux import mount as m
from carton.rootfs import etcfiles, options


@pytest.mark.parametrize("name", ["a", "web-1", "a.b.c", "x" * 63, "a" * 30 + "." + "b" * 33])
def test_good_hostnames(name):
    run._check_hostname(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "a..b", "a_b", "a b", "x" * 64 + ".c", "é"])
def test_bad_hostnames(name):
    with pytest.raises(CartonError):
        run._check_hostname(name)


@pytest.mark.parametrize("name, ok", [("web", True), ("a1_b.c-d", True), ("x", False),
                                      ("_x", False), ("a/b", False), ("a b", False)])
def test_names(name, ok):
    if ok:
        run._check_name(name)
    else:
        with pytest.raises(CartonError):
            run._check_name(name)


def test_env_merge_keeps_first_place_and_last_value():
    assert run._merge_env(["A=1", "B=2"], ["B=3", "C=4", "A=5"]) == ["A=5", "B=3", "C=4"]


def test_env_file_rejects_spaces_in_names(tmp_path):
    f = tmp_path / "env"
    f.write_text("GOOD=1\nBAD NAME=2\n")
    with pytest.raises(CartonError, match="line 2"):
        run._env_files([str(f)])


def test_volume_options(tmp_path):
    mnt = run._volume_mount(f"{tmp_path}:/data:ro,rslave")
    assert (mnt.destination, mnt.type, mnt.options) == ("/data", "bind", ["rbind", "ro", "rslave"])
    assert run._volume_mount(f"{tmp_path}:/data/").destination == "/data"


def test_mount_options():
    o = options.parse(["nosuid", "ro", "rw", "mode=755", "size=1m", "rprivate", "noexec"])
    assert o.flags == m.MS_NOSUID | m.MS_NOEXEC
    assert o.propagation == [m.MS_PRIVATE | m.MS_REC]
    assert o.data == "mode=755,size=1m"
    assert options.parse(["rbind"]).is_bind and not options.parse([]).is_bind


def test_resolv_conf_drops_loopback():
    text = "search example.com\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\n"
    assert etcfiles.resolv_conf(text) == "search example.com\nnameserver 10.0.0.2\n"
    assert "nameserver 8.8.8.8" in etcfiles.resolv_conf("nameserver 127.0.0.1\n")


def test_hosts_names_the_container():
    assert etcfiles.hosts("box", "10.1.2.3").endswith("10.1.2.3\tbox\n")
    assert "box" not in etcfiles.hosts("box")


def test_resolv_conf_with_dns_flags():
    host = "search corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n"
    text = etcfiles.resolv_conf(host, ["1.1.1.1", "9.9.9.9"], ["a.test"])
    assert text.splitlines() == ["search a.test", "options ndots:2", "nameserver 1.1.1.1",
                                 "nameserver 9.9.9.9"]
    assert "nameserver 10.0.0.2" in etcfiles.resolv_conf(host)
    assert "127.0.0.53" not in etcfiles.resolv_conf(host)


def test_hosts_with_extra_entries():
    text = etcfiles.hosts("box", "10.1.2.3", extra=[("db", "10.9.9.9")])
    assert "10.9.9.9\tdb\n" in text and text.endswith("10.1.2.3\tbox\n")
