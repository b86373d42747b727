"""The cgroup layer on this machine's real cgroups.

Every cgroup made here is named ``carton-test-<random>`` directly under the
root of each hierarchy, holds only processes this test started, and is
removed in a ``finally``. Nothing else is moved between cgroups.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from carton import cgroups
from carton.cgroups import detect
from carton.errors import CartonError


def _name():
    return "carton-test-" + os.urandom(4).hex()


def _state(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("State:"):
                return line.split()[1]
    return None


def _cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


class Sandbox:
    """A manager for a fresh test cgroup and the processes started in it, cleaned up on exit."""

    def __init__(self):
        self.name = _name()
        self.mgr = cgroups.manager("/" + self.name, "ignored")
        self.children = []

    def start(self, *argv):
        """Start ``argv`` inside the cgroup, as a runtime starts a container's init.

        The child waits on its stdin until it has been added to every
        hierarchy, and only then execs the command: a process that ran (and
        forked) while it was being moved would leave children behind in the
        cgroups it had not been moved to yet.
        """
        child = subprocess.Popen(["sh", "-c", 'read go && exec "$@"', "sh", *argv],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        self.children.append(child)
        self.mgr.add(child.pid)
        child.stdin.write("go\n")
        child.stdin.close()
        child.stdin = None  # so communicate() does not flush a closed pipe
        return child

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
            if child.stdout:
                child.stdout.close()
        try:
            self.mgr.thaw()
        except CartonError:
            pass
        self.mgr.kill_all(signal.SIGKILL)
        self.mgr.destroy()


@pytest.fixture
def box():
    with Sandbox() as sandbox:
        yield sandbox


def test_the_paths_name_our_cgroup_in_every_hierarchy(box):
    assert box.mgr.paths
    for directory in box.mgr.paths.values():
        assert directory.startswith("/sys/fs/cgroup/") and directory.endswith("/" + box.name)
    assert json.loads(json.dumps(box.mgr.paths)) == box.mgr.paths
    # nothing exists until create(): paths are recorded first
    assert not any(os.path.exists(d) for d in box.mgr.paths.values())


def test_lifecycle(box):
    mgr = box.mgr
    mgr.create()
    mgr.create()  # idempotent
    assert all(os.path.isdir(d) for d in mgr.paths.values())

    sleeper = box.start("sleep", "60")
    assert mgr.pids() == [sleeper.pid]
    assert _cgroup_of(sleeper.pid).count(f"/{box.name}\n") >= len(set(mgr.paths.values()))

    mgr.freeze()
    assert mgr.frozen()
    # the v1 freezer shows frozen tasks as D (disk sleep) on recent kernels, T on old ones
    assert _state(sleeper.pid) in ("D", "T")
    again = cgroups.from_paths(json.loads(json.dumps(mgr.paths)))
    assert again.frozen() and again.pids() == [sleeper.pid]
    mgr.thaw()
    assert not mgr.frozen()
    deadline = time.monotonic() + 5
    while _state(sleeper.pid) != "S" and time.monotonic() < deadline:
        time.sleep(0.01)  # running again (R for a moment), then back to its sleep
    assert _state(sleeper.pid) == "S"

    mgr.kill_all(signal.SIGKILL)
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    mgr.destroy()
    assert not any(os.path.exists(d) for d in mgr.paths.values())
    mgr.destroy()  # already gone is fine
    assert not cgroups.from_paths(mgr.paths).frozen()


def test_limits_are_written_and_read_back(box):
    mgr = box.mgr
    mgr.create()
    warnings = mgr.apply({"pids": {"limit": 10}, "memory": {"limit": 64 << 20},
                          "devices": [{"allow": False, "access": "rwm"}]})
    if mgr.version == 1:
        assert warnings == []
        with open(os.path.join(mgr.paths["pids"], "pids.max")) as f:
            assert f.read().strip() == "10"
        with open(os.path.join(mgr.paths["memory"], "memory.limit_in_bytes")) as f:
            assert int(f.read()) == 64 << 20
        with open(os.path.join(mgr.paths["devices"], "devices.list")) as f:
            rules = f.read().splitlines()
        assert "a *:* rwm" not in rules and "c 1:3 rwm" in rules and "c 136:* rwm" in rules
    else:
        assert any("eBPF" in w for w in warnings)
        with open(os.path.join(mgr.paths["unified"], "pids.max")) as f:
            assert f.read().strip() == "10"
        with open(os.path.join(mgr.paths["unified"], "memory.max")) as f:
            assert int(f.read()) == 64 << 20

    sleeper = box.start("sleep", "60")
    stats = mgr.stats()
    assert stats["pids"] == {"current": 1, "limit": 10}
    assert stats["memory"]["usage"]["limit"] == 64 << 20
    assert "total" in stats["cpu"]["usage"]

    mgr.apply({"pids": {"limit": -1}})
    assert mgr.stats()["pids"]["limit"] == 0  # runc reports "max" as 0
    sleeper.kill()
    sleeper.wait()


def test_the_pids_limit_stops_forks(box):
    box.mgr.create()
    box.mgr.apply({"pids": {"limit": 1}})
    shell = box.start("sh", "-c", "/bin/true && echo forked || echo refused")
    out, _ = shell.communicate(timeout=10)
    assert "forked" not in out and ("refused" in out or "fork" in out.lower())


def test_kill_all_catches_a_process_that_keeps_forking(box):
    box.mgr.create()
    box.mgr.apply({"pids": {"limit": 64}})
    shell = box.start("sh", "-c", "while :; do sleep 60 & sleep 0.01; done")
    deadline = time.monotonic() + 5
    while len(box.mgr.pids()) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(box.mgr.pids()) >= 5
    box.mgr.kill_all(signal.SIGKILL)
    assert shell.wait(timeout=5) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while box.mgr.pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert box.mgr.pids() == []
    box.mgr.destroy()
    assert not any(os.path.exists(d) for d in box.mgr.paths.values())


def test_destroy_waits_for_processes_to_leave_and_names_stragglers(box):
    box.mgr.create()
    sleeper = box.start("sleep", "60")
    with pytest.raises(CartonError, match=f"cannot remove the cgroup .*processes still in it: {sleeper.pid}"):
        box.mgr.destroy()
    box.mgr.kill_all(signal.SIGTERM)
    sleeper.wait(timeout=5)
    box.mgr.destroy()
    assert not any(os.path.exists(d) for d in box.mgr.paths.values())


def test_sub_cgroups_are_listed_and_removed(box):
    mgr = box.mgr
    mgr.create()
    directory = mgr._process_dir() if mgr.version == 1 else mgr.paths["unified"]
    inner = os.path.join(directory, "inner")
    os.mkdir(inner)
    sleeper = box.start("sleep", "60")
    with open(os.path.join(inner, "cgroup.procs"), "w") as f:
        f.write(str(sleeper.pid))
    assert mgr.pids() == [sleeper.pid]
    mgr.kill_all(signal.SIGKILL)
    sleeper.wait(timeout=5)
    mgr.destroy()
    assert not os.path.exists(inner) and not os.path.exists(directory)


def test_unsupported_resources_fail_before_writing_anything(box):
    box.mgr.create()
    with pytest.raises(CartonError, match=r"^linux.resources.rdma.mlx5_1.hcaHandles is not supported yet$"):
        box.mgr.apply({"pids": {"limit": 5}, "rdma": {"mlx5_1": {"hcaHandles": 3}}})
    if box.mgr.version == 1:
        with open(os.path.join(box.mgr.paths["pids"], "pids.max")) as f:
            assert f.read().strip() == "max"


def test_relative_paths_go_below_our_own_cgroup():
    mgr = cgroups.manager(None, "carton-test-relative")  # nothing is created
    mounts = detect.read_mounts()
    own = detect.read_own_cgroups()
    if mgr.version == 2:
        return
    memory = [m for m in mounts if "memory" in m.controllers][0]
    expected = memory.point.rstrip("/") + own[memory.key].rstrip("/") + "/carton-test-relative"
    assert mgr.paths["memory"] == expected


def test_systemd_paths_are_refused():
    with pytest.raises(CartonError, match="systemd cgroup paths need --systemd-cgroup, which is not"):
        cgroups.manager("system.slice:carton:web", "web")


def test_errors_name_the_file():
    missing = "/sys/fs/cgroup/pids/" + _name()
    mgr = cgroups.from_paths({"pids": missing})
    with pytest.raises(CartonError) as e:
        mgr.add(os.getpid())  # the cgroup does not exist: nothing is moved
    assert str(e.value) == f"cannot write {missing}/cgroup.procs: No such file or directory"
    with pytest.raises(CartonError, match="no freezer cgroup hierarchy"):
        mgr.freeze()


def test_v2_driver_on_the_cgroup2_mount():
    """The v2 driver, on this machine's cgroup2 mount (the whole machine if unified,
    ``/sys/fs/cgroup/unified`` if hybrid).

    ``create()`` is left out on a hybrid machine: it would enable controllers in
    the root's ``cgroup.subtree_control``, a change to the host we do not make in
    tests. The directory is made with a plain ``mkdir`` instead.
    """
    _, mount = detect.hierarchies(detect.read_mounts())
    if mount is None:
        pytest.skip("no cgroup2 mount")
    directory = os.path.join(mount.point, _name())
    mgr = cgroups.from_paths({"unified": directory})
    assert mgr.version == 2
    if not os.path.exists(os.path.join(mount.point, "cgroup.controllers")):
        pytest.skip("cgroup2 mount without cgroup.controllers")
    os.mkdir(directory)
    child = None
    try:
        if not os.path.exists(os.path.join(directory, "cgroup.freeze")):
            pytest.skip("kernel without the cgroup v2 freezer")
        child = subprocess.Popen(["sh", "-c", 'read go && exec sleep 60'], stdin=subprocess.PIPE, text=True)
        mgr.add(child.pid)
        child.stdin.write("go\n")
        child.stdin.close()
        assert mgr.pids() == [child.pid]
        mgr.freeze()
        assert mgr.frozen()
        mgr.thaw()
        assert not mgr.frozen()
        assert mgr.apply({"devices": [{"allow": False, "access": "rwm"}]}) == []  # the eBPF device filter
        assert mgr.devices_enforced
        with open(os.path.join(mount.point, "cgroup.subtree_control")) as f:
            pids_enabled = "pids" in f.read().split()
        if not pids_enabled:
            with pytest.raises(CartonError, match="pids.max does not exist .*subtree_control"):
                mgr.apply({"pids": {"limit": 5}})
        assert "total" in mgr.stats()["cpu"]["usage"]
        mgr.kill_all(signal.SIGKILL)  # cgroup.kill on Linux 5.14+, else freeze, kill, thaw
        assert child.wait(timeout=5) == -signal.SIGKILL
        mgr.destroy()
        assert not os.path.exists(directory)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        mgr.destroy()


def test_update_leaves_device_rules_alone(box):
    box.mgr.create()
    box.mgr.apply({"devices": [{"allow": False, "access": "rwm"},
                               {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]})
    if box.mgr.version != 1:
        return
    listing = os.path.join(box.mgr.paths["devices"], "devices.list")
    with open(listing) as f:
        before = f.read()
    assert "c 10:229 rwm" in before
    box.mgr.apply({"pids": {"limit": 7}}, devices=False)
    with open(listing) as f:
        assert f.read() == before
    assert box.mgr.stats()["pids"]["limit"] == 7
