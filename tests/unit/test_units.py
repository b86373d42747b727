"""docker's units (``512m``, ``1.5g``, ``--cpus 1.5``) and ``carton run``'s limit flags as OCI resources.

Pure logic: no container, no cgroup. The flags go through the real option
table (``args.parse`` with ``run.OPTIONS``), so a flag's spelling is tested
together with its meaning.
"""

import os
import stat

import pytest

from carton.cli import args, oci, run, units
from carton.errors import CartonError
from carton.runtime.run import human_size

K, M, G = 1 << 10, 1 << 20, 1 << 30


# -- units ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("100", 100), ("100b", 100), ("100B", 100),
    ("1k", K), ("1K", K), ("1kb", K), ("1KB", K), ("1KiB", K), ("1ki", K), ("100k", 100 * K),
    ("512m", 512 * M), ("1mb", M), ("1MB", M), ("1MiB", M), ("1 m", M), ("1 mb", M),
    ("1g", G), ("1.5g", 3 * G // 2), ("1.5G", 3 * G // 2), ("2.25GB", 9 * G // 4),
    ("1t", 1 << 40), ("1p", 1 << 50), ("0.5k", 512), ("0.3k", 307), ("1.0000001k", 1024),
    ("9223372036854775807", 2**63 - 1),  # exact: not rounded through a float
])
def test_ram_in_bytes(text, expected):
    assert units.ram_in_bytes(text) == expected


@pytest.mark.parametrize("text", [
    "", " ", "m", "k1", "-1", "-1m", "1x", "1e3", "1.5.3", ".5", "5.", "1bb", "1ib", "1mi b", "1  m",
    " 1m", "1m ", "1 kk", "0x10", "١٠", "1,5g", "9223372036854775808", "8192p", None,
])
def test_ram_in_bytes_refuses(text):
    with pytest.raises(units.UnitError):
        units.ram_in_bytes(text)


def test_unit_errors_do_not_name_the_flag():
    with pytest.raises(units.UnitError, match=r"^'12q' is not a size: .*like 512m or 1.5g$"):
        units.ram_in_bytes("12q")


def test_memory_value_takes_minus_one():
    assert units.memory_value("-1") == -1
    assert units.memory_value("64m") == 64 * M
    with pytest.raises(units.UnitError):
        units.memory_value("-2")


@pytest.mark.parametrize("text, expected", [
    ("1", 10**9), ("1.5", 15 * 10**8), ("0.5", 5 * 10**8), ("0.01", 10**7), ("2.000000001", 2 * 10**9 + 1),
    ("0", 0),
])
def test_nano_cpus(text, expected):
    assert units.nano_cpus(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "a", "1.5.2", "0.0000000001", "1/2"])
def test_nano_cpus_refuses(text):
    with pytest.raises(units.UnitError):
        units.nano_cpus(text)


@pytest.mark.parametrize("text", ["0", "0-2", "0-2,4", "1,3,5-7", "0-0", "12"])
def test_cpu_lists(text):
    assert units.cpu_list(text) == text


@pytest.mark.parametrize("text", ["", ",", "0,", "-1", "1-", "a", "0-2;4", "3-1", " 1", "0 - 2", "1-2-3"])
def test_cpu_lists_refused(text):
    with pytest.raises(units.UnitError):
        units.cpu_list(text)


def test_integer():
    assert units.integer("10") == 10 and units.integer("-1") == -1
    for bad in ("", "-", "1.5", "ten", "1k", "--1"):
        with pytest.raises(units.UnitError):
            units.integer(bad)


@pytest.mark.parametrize("n, text", [
    (32 * M, "32 MiB"), (6 * M, "6 MiB"), (G, "1 GiB"), (3 * G // 2, "1.5 GiB"), (1536, "1.5 KiB"),
    (100, "100 B"), (0, "0 B"), (1 << 40, "1 TiB"), (100 * M // 3, "33.33 MiB"),
])
def test_human_size(n, text):
    assert human_size(n) == text


# -- carton run: flags -> linux.resources ------------------------------------------------


def resources(*argv, swap=True, cpus=4):
    """``linux.resources`` for ``carton run ARGV ROOTFS CMD`` (swap accounting and CPUs as given)."""
    values, rest = args.parse([*argv, "/rootfs", "true"], run.OPTIONS)
    assert rest == ["/rootfs", "true"]
    return run.build_resources(values, swap_accounting=swap, cpu_count=cpus)


def refused(*argv, match, **kwargs):
    with pytest.raises(CartonError, match=match) as info:
        resources(*argv, **kwargs)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 125


def test_no_flags_no_resources():
    assert resources() is None


def test_memory():
    assert resources("--memory", "512m") == {"memory": {"limit": 512 * M, "swap": G}}
    assert resources("-m", "1.5g", swap=False) == {"memory": {"limit": 3 * G // 2}}
    assert resources("-m1g") == {"memory": {"limit": G, "swap": 2 * G}}
    assert resources("--memory=64m", "--memory-swap", "64m") == {"memory": {"limit": 64 * M, "swap": 64 * M}}
    assert resources("-m", "64m", "--memory-swap", "-1") == {"memory": {"limit": 64 * M, "swap": -1}}
    assert resources("-m", "64m", "--memory-swap", "0") == {"memory": {"limit": 64 * M, "swap": 128 * M}}
    assert resources("-m", "6m", swap=False) == {"memory": {"limit": 6 * M}}
    assert resources("-m", "0") is None  # docker: 0 is "not set"
    assert resources("--memory-swap", "-1") == {"memory": {"swap": -1}}
    assert resources("--memory-reservation", "100m") == {"memory": {"reservation": 100 * M}}
    assert resources("-m", "128m", "--memory-reservation", "128m", swap=False) == {
        "memory": {"limit": 128 * M, "reservation": 128 * M}}
    assert resources("-m", "64m", "--oom-kill-disable", swap=False) == {
        "memory": {"limit": 64 * M, "disableOOMKiller": True}}


def test_oom_kill_disable_without_a_limit_warns(capsys):
    assert resources("--oom-kill-disable") == {"memory": {"disableOOMKiller": True}}
    assert "--oom-kill-disable without --memory" in capsys.readouterr().err


@pytest.mark.parametrize("argv, match", [
    (("-m", "5m"), "invalid --memory 5m: the minimum memory limit is 6 MiB"),
    (("-m", "6291455b"), "minimum memory limit is 6 MiB"),
    (("-m", "lots"), r"invalid --memory: 'lots' is not a size"),
    (("-m", "-1"), "invalid --memory: '-1' is not a size"),
    (("--memory-swap", "1g"), "--memory-swap needs --memory too"),
    (("-m", "1g", "--memory-swap", "512m"), "must be at least --memory"),
    (("-m", "1g", "--memory-swap", "-2"), "invalid --memory-swap: '-2' is not a size"),
    (("--memory-reservation", "1m"), "invalid --memory-reservation 1m: the minimum is 6 MiB"),
    (("-m", "64m", "--memory-reservation", "65m"), "must not be above --memory"),
])
def test_memory_refused(argv, match):
    refused(*argv, match=match)


def test_cpus():
    assert resources("--cpus", "1.5") == {"cpu": {"period": 100000, "quota": 150000}}
    assert resources("--cpus", "0.5") == {"cpu": {"period": 100000, "quota": 50000}}
    assert resources("--cpus", "0.01") == {"cpu": {"period": 100000, "quota": 1000}}
    assert resources("--cpus", "4", cpus=4) == {"cpu": {"period": 100000, "quota": 400000}}
    assert resources("--cpus", "0") is None
    assert resources("-c", "512") == {"cpu": {"shares": 512}}
    assert resources("--cpu-shares", "1") == {"cpu": {"shares": 2}}  # clamped, as docker
    assert resources("--cpu-shares", "300000") == {"cpu": {"shares": 262144}}
    assert resources("--cpu-quota", "50000") == {"cpu": {"quota": 50000}}
    assert resources("--cpu-quota", "-1") == {"cpu": {"quota": -1}}
    assert resources("--cpu-period", "50000", "--cpu-quota", "25000") == {
        "cpu": {"period": 50000, "quota": 25000}}
    assert resources("--cpuset-cpus", "0-2,4", "--cpuset-mems", "0") == {
        "cpu": {"cpus": "0-2,4", "mems": "0"}}
    assert resources("--cpus", "1", "--cpu-shares", "2048", "--cpuset-cpus", "1") == {
        "cpu": {"shares": 2048, "period": 100000, "quota": 100000, "cpus": "1"}}


@pytest.mark.parametrize("argv, match", [
    (("--cpus", "0.5", "--cpu-quota", "20000"), "--cpus and --cpu-quota cannot both be set"),
    (("--cpus", "0.5", "--cpu-period", "20000"), "--cpus and --cpu-period cannot both be set"),
    (("--cpus", "5"), r"the range is from 0.01 to 4.00, as there are only 4 CPUs"),
    (("--cpus", "0.001"), r"the range is from 0.01"),
    (("--cpus", "-1"), r"invalid --cpus: '-1' is not a number of CPUs"),
    (("--cpus", "half"), r"invalid --cpus: 'half'"),
    (("--cpu-shares", "-5"), "must be a positive number"),
    (("--cpu-shares", "many"), r"invalid --cpu-shares: 'many' is not a whole number"),
    (("--cpu-period", "999"), "between 1000 and 1000000"),
    (("--cpu-period", "1000001"), "between 1000 and 1000000"),
    (("--cpu-quota", "999"), "at least 1000 microseconds"),
    (("--cpuset-cpus", "0-"), r"invalid --cpuset-cpus: '0-' is not a list"),
    (("--cpuset-cpus", "2-1"), "goes backwards"),
    (("--cpuset-mems", "a"), r"invalid --cpuset-mems: 'a'"),
])
def test_cpu_refused(argv, match):
    refused(*argv, match=match)


def test_one_cpu_says_is():
    refused("--cpus", "2", cpus=1, match="as there is only 1 CPU available")


def test_pids_and_blkio():
    assert resources("--pids-limit", "10") == {"pids": {"limit": 10}}
    assert resources("--pids-limit", "-1") is None  # unlimited: what a new cgroup has
    assert resources("--pids-limit", "0") is None
    assert resources("--blkio-weight", "10") == {"blockIO": {"weight": 10}}
    assert resources("--blkio-weight", "1000") == {"blockIO": {"weight": 1000}}
    assert resources("--blkio-weight", "0") is None
    refused("--blkio-weight", "9", match="from 10 to 1000")
    refused("--blkio-weight", "1001", match="from 10 to 1000")
    refused("--pids-limit", "ten", match="invalid --pids-limit: 'ten' is not a whole number")


@pytest.fixture
def fake_disk(monkeypatch):
    """``/dev/fake-sda`` is a block device 8:0, ``/dev/fake-sda1`` 8:1; every other path is real."""
    real = os.stat
    numbers = {"/dev/fake-sda": (8, 0), "/dev/fake-sda1": (8, 1)}

    def fake_stat(path, *a, **kw):
        if path in numbers:
            return _Stat(stat.S_IFBLK | 0o660, numbers[path])
        return real(path, *a, **kw)

    monkeypatch.setattr(run.os, "stat", fake_stat)


class _Stat:
    def __init__(self, mode, numbers):
        self.st_mode = mode
        self.st_rdev = os.makedev(*numbers)


def test_device_throttles(fake_disk):
    assert resources("--device-read-bps", "/dev/fake-sda:1mb") == {
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": M}]}}
    assert resources("--device-write-bps", "/dev/fake-sda:100k", "--device-write-bps", "/dev/fake-sda1:2m",
                     "--device-read-bps", "/dev/fake-sda:0") == {
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 100 * K},
                                               {"major": 8, "minor": 1, "rate": 2 * M}]}}


@pytest.mark.parametrize("entry, match", [
    ("/dev/fake-sda", "expected DEVICE:RATE"),
    ("/dev/fake-sda:", "expected DEVICE:RATE"),
    (":1mb", "expected DEVICE:RATE"),
    ("/tmp:1mb", "the device must be a path in /dev"),
    ("/dev/fake-sda:fast", "the rate must be a number of bytes"),
    ("/dev/fake-sda:-1", "the rate must be a number of bytes"),
    ("/dev/null:1mb", "/dev/null is not a block device"),
    ("/dev/no-such-disk:1mb", "/dev/no-such-disk: No such file or directory"),
])
def test_device_throttles_refused(fake_disk, entry, match):
    refused("--device-read-bps", entry, match=match)


def test_cgroup_parent():
    assert run._cgroups_path(None, "abc") == "/carton-abc"
    assert run._cgroups_path("/mine/", "abc") == "/mine/carton-abc"
    assert run._cgroups_path("mine", "abc") == "mine/carton-abc"
    for bad in ("", "/", "//", "a:b:c"):
        with pytest.raises(CartonError, match="invalid --cgroup-parent"):
            run._cgroups_path(bad, "abc")


def test_the_flags_are_in_the_help():
    text = args.usage(run.SYNOPSIS, run.DESCRIPTION, run.OPTIONS)
    for flag in ("-m, --memory", "--memory-swap", "--memory-reservation", "--cpus", "-c, --cpu-shares",
                 "--cpu-period", "--cpu-quota", "--cpuset-cpus", "--cpuset-mems", "--pids-limit",
                 "--blkio-weight", "--device-read-bps", "--device-write-bps", "--oom-kill-disable"):
        assert flag in text


# -- carton update: runc's flags -> linux.resources ----------------------------------------


def update_resources(*argv):
    values, rest = args.parse([*argv, "ID"], oci.UPDATE_OPTIONS, exit_code=1, interspersed=True)
    assert rest == ["ID"]
    return oci._update_flags(values)


def test_update_flags():
    assert update_resources("--memory", "1048576") == {"memory": {"limit": M}}
    assert update_resources("--memory", "512m", "--memory-swap", "1g", "--memory-reservation", "256m") == {
        "memory": {"limit": 512 * M, "swap": G, "reservation": 256 * M}}
    assert update_resources("--memory", "-1") == {"memory": {"limit": -1, "swap": -1}}
    assert update_resources("--memory", "-1", "--memory-swap", "2g") == {
        "memory": {"limit": -1, "swap": 2 * G}}
    assert update_resources("--cpu-share", "512", "--cpu-period", "100000", "--cpu-quota", "-1") == {
        "cpu": {"shares": 512, "period": 100000, "quota": -1}}
    assert update_resources("--cpu-shares", "256") == {"cpu": {"shares": 256}}
    assert update_resources("--cpu-rt-period", "1000000", "--cpu-rt-runtime", "950000") == {
        "cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 950000}}
    assert update_resources("--cpuset-cpus", "0-1", "--cpuset-mems", "0") == {
        "cpu": {"cpus": "0-1", "mems": "0"}}
    assert update_resources("--pids-limit", "20", "--blkio-weight", "300") == {
        "pids": {"limit": 20}, "blockIO": {"weight": 300}}
    assert update_resources("--kernel-memory", "10m") == {}  # ignored, with a warning from update()


@pytest.mark.parametrize("argv, match", [
    (("--memory", "lots"), r"invalid --memory: 'lots' is not a size"),
    (("--memory-swap", "-2"), r"invalid --memory-swap"),
    (("--cpu-share", "-5"), r"invalid --cpu-shares: '-5' is negative"),
    (("--cpu-period", "1.5"), r"invalid --cpu-period: '1.5' is not a whole number"),
    (("--cpuset-cpus", "x"), r"invalid --cpuset-cpus"),
    (("--pids-limit", "many"), r"invalid --pids-limit: 'many'"),
])
def test_update_flags_refused(argv, match):
    with pytest.raises(CartonError, match=match) as info:
        update_resources(*argv)
    assert info.value.exit_code == 1


# -- the out-of-memory line of a foreground run ---------------------------------------------


class _Cgroup:
    def __init__(self, ooms, limit):
        self.ooms, self.limit = ooms, limit

    def oom_count(self):
        return self.ooms

    def stats(self):
        return {"memory": {"usage": {"limit": self.limit}}}


class _Container:
    def __init__(self, cgroup, spec_limit=None):
        from carton.spec.model import Linux

        resources = {"memory": {"limit": spec_limit}} if spec_limit else None
        self.cgroup = cgroup
        self.spec = type("Spec", (), {"linux": Linux(resources=resources)})()


@pytest.mark.parametrize("ooms, limit, spec_limit, line", [
    (1, 32 * M, 32 * M, "carton: out of memory: limit 32 MiB\n"),
    (2, 48 * M, 32 * M, "carton: out of memory: limit 48 MiB\n"),  # the cgroup's, after an update
    (1, 0, 64 * M, "carton: out of memory: limit 64 MiB\n"),       # no counters: the spec's
    (1, 2**64 - 1, None, "carton: out of memory\n"),                # v2's "max"
    (1, 9223372036854771712, None, "carton: out of memory\n"),      # v1's "no limit"
    (0, 32 * M, 32 * M, ""),                                        # a kill, not the OOM killer
    (None, 32 * M, 32 * M, ""),                                     # the kernel cannot tell
])
def test_oom_report(capsys, ooms, limit, spec_limit, line):
    from carton.runtime.run import _report_oom

    _report_oom(_Container(_Cgroup(ooms, limit), spec_limit))
    assert capsys.readouterr().err == line
