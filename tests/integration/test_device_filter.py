"""The cgroup v2 device filter on the real kernel: loaded, attached, and deciding as v1 does.

Each test makes its own ``carton-test-<random>`` cgroup in the cgroup2 tree (on a hybrid
machine, ``/sys/fs/cgroup/unified``), attaches a program there, forks a child that moves
itself in and tries to open and make device nodes, and removes the cgroup. Where this
machine also has the v1 devices controller, the same rules are written to a v1 cgroup
and the two must give the same answers: that is what "decides as v1 does" means.

The device nodes are made in the test's temporary directory (not ``nodev``). Opening one
whose driver does not exist fails after the device check (``ENXIO``), so an allowed
access and a denied one (``EPERM``) can be told apart without touching a real device.
"""

import errno
import json
import os
import secrets
import stat

import pytest

from carton import cgroups
from carton.cgroups import detect, devices_bpf, resources

NO_DRIVER = 4000  # a character and block major no driver has here (checked below)

PROBES = {
    # name: (kind, major, minor, how) -- how: an os.open flag, or "mknod"
    "null rw": ("c", 1, 3, os.O_RDWR),
    "zero r": ("c", 1, 5, os.O_RDONLY),
    "zero w": ("c", 1, 5, os.O_WRONLY),
    "zero rw": ("c", 1, 5, os.O_RDWR),
    "char r": ("c", NO_DRIVER, 1, os.O_RDONLY),
    "char rw": ("c", NO_DRIVER, 1, os.O_RDWR),
    "block r": ("b", NO_DRIVER, 0, os.O_RDONLY),
    "mknod c": ("c", 1, 1, "mknod"),
    "mknod b": ("b", NO_DRIVER, 0, "mknod"),
}

CASES = {
    "defaults": resources.check({}).devices,
    "privileged": resources.check({"devices": [{"allow": True, "access": "rwm"}]}).devices,
    "a spec's rule": resources.check({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": NO_DRIVER, "minor": 1, "access": "r"}]}).devices,
    "no hole in a wider exception": [(False, "a *:* rwm"), (True, "c *:* rwm"), (False, "c 1:3 rwm")],
    "exact removal": [(False, "a *:* rwm"), (True, "c 1:5 rwm"), (False, "c 1:5 w")],
    "one exception holds every bit": [(False, "a *:* rwm"), (True, "c 1:* r"), (True, "c *:5 w")],
    "black list": [(True, "a *:* rwm"), (False, "c 1:5 w"), (False, "b *:* m")],
    "nothing": [(False, "a *:* rwm")],
}


def _unified_root():
    for mount in detect.read_mounts():
        if mount.version == 2:
            return mount.point
    pytest.skip("no cgroup2 mount")


def _v1_devices_root():
    for mount in detect.read_mounts():
        if mount.version == 1 and "devices" in mount.controllers:
            return mount.point
    return None


@pytest.fixture
def nodes(tmp_path):
    if os.statvfs(tmp_path).f_flag & os.ST_NODEV:
        pytest.skip(f"{tmp_path} is on a nodev mount, where no device node opens")
    with open("/proc/devices") as f:
        assert f" {NO_DRIVER} " not in f.read().replace("\n", " "), "pick another NO_DRIVER major"
    for name, (kind, major, minor, how) in PROBES.items():
        if how != "mknod":
            mode = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
            os.mknod(tmp_path / name.replace(" ", "-"), mode | 0o666, os.makedev(major, minor))
    return tmp_path


@pytest.fixture
def cgroup_dir():
    """A fresh cgroup2 directory of the test's own; removed at the end."""
    path = os.path.join(_unified_root(), f"carton-test-{secrets.token_hex(6)}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


def probe(procs_files, nodes):
    """In a forked child moved into the cgroups (their ``cgroup.procs``), try every probe:
    ``{name: "ok" or the errno's name}``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_end)
            for procs in procs_files:
                with open(procs, "w") as f:
                    f.write("0")
            results = {}
            for name, (kind, major, minor, how) in PROBES.items():
                path = os.path.join(nodes, name.replace(" ", "-"))
                try:
                    if how == "mknod":
                        mode = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
                        os.mknod(path, mode | 0o600, os.makedev(major, minor))
                        os.unlink(path)
                    else:
                        os.close(os.open(path, how | os.O_NONBLOCK | os.O_CLOEXEC))
                    results[name] = "ok"
                except OSError as e:
                    results[name] = errno.errorcode[e.errno]
            os.write(write_end, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return json.loads(text)


def allowed(results):
    """The probes the device check let through (all but EPERM; ENXIO is "allowed, no driver")."""
    return {name for name, result in results.items() if result != "EPERM"}


def test_default_rules_on_the_kernel(cgroup_dir, nodes):
    devices_bpf.install(cgroup_dir, devices_bpf.program(devices_bpf.replay(CASES["defaults"])))
    results = probe([os.path.join(cgroup_dir, "cgroup.procs")], nodes)
    assert results["null rw"] == "ok" and results["zero rw"] == "ok"
    assert results["char r"] == "EPERM" and results["block r"] == "EPERM"
    assert results["mknod c"] == "ok" and results["mknod b"] == "ok"  # made, but not opened


@pytest.mark.parametrize("case", CASES)
def test_the_filter_decides_as_the_v1_devices_cgroup(cgroup_dir, nodes, case):
    rules = CASES[case]
    devices_bpf.install(cgroup_dir, devices_bpf.program(devices_bpf.replay(rules)))
    v2 = probe([os.path.join(cgroup_dir, "cgroup.procs")], nodes)
    assert set(v2.values()) <= {"ok", "EPERM", "ENXIO"}, v2
    v1_root = _v1_devices_root()
    if v1_root is None:
        pytest.skip("no v1 devices controller here to compare with")
    v1_dir = os.path.join(v1_root, f"carton-test-{secrets.token_hex(6)}")
    os.mkdir(v1_dir)
    try:
        for allow, rule in rules:
            with open(os.path.join(v1_dir, "devices.allow" if allow else "devices.deny"), "w") as f:
                f.write(rule)
        v1 = probe([os.path.join(v1_dir, "cgroup.procs")], nodes)
    finally:
        os.rmdir(v1_dir)
    assert v2 == v1


def test_a_new_filter_replaces_the_old_one(cgroup_dir, nodes):
    devices_bpf.install(cgroup_dir, devices_bpf.program(devices_bpf.replay(CASES["nothing"])))
    assert "null rw" not in allowed(probe([os.path.join(cgroup_dir, "cgroup.procs")], nodes))
    first = devices_bpf.attached(cgroup_dir)
    devices_bpf.install(cgroup_dir, devices_bpf.program(devices_bpf.replay(CASES["defaults"])))
    second = devices_bpf.attached(cgroup_dir)
    assert len(first) == len(second) == 1 and first != second
    assert "null rw" in allowed(probe([os.path.join(cgroup_dir, "cgroup.procs")], nodes))


def test_the_v2_driver_attaches_it(cgroup_dir):
    mgr = cgroups.from_paths({"unified": cgroup_dir})
    assert mgr.apply({"devices": [{"allow": False, "access": "rwm"}]}) == []
    assert mgr.devices_enforced and len(devices_bpf.attached(cgroup_dir)) == 1
    mgr.apply({}, devices=False)  # update leaves it
    assert len(devices_bpf.attached(cgroup_dir)) == 1


def test_a_program_the_verifier_refuses_says_why():
    from carton.linux import bpf
    from carton.linux.libc import describe

    with pytest.raises(PermissionError) as e:  # EACCES: r0 is returned unset
        devices_bpf.load([bpf.exit_insn()])
    assert describe(e.value) == "bpf(BPF_PROG_LOAD): Permission denied (the verifier says: R0 !read_ok)"
    assert "exit" in e.value.verifier_log
