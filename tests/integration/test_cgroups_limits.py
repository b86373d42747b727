"""linux.resources on this machine's real cgroups: written, read back, updated, refused with a reason.

Every cgroup made here is named ``carton-test-<random>`` directly under the
root of each hierarchy, holds only processes these tests started, and is
removed in a ``finally``. Nothing else is moved between cgroups, and no
setting of the host (a controller enabled at the top of a tree) is changed.
Where this machine lacks a knob (no swap accounting, no I/O weights, no
net_cls), the test expects the error that names it instead.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from carton import cgroups
from carton.cgroups import detect
from carton.errors import CartonError

M = 1 << 20
UNLIMITED_V1 = 9223372036854771712


def _name():
    return "carton-test-" + os.urandom(4).hex()


def read(path):
    with open(path) as f:
        return f.read()


class Box:
    """A fresh ``/carton-test-<random>`` cgroup and the processes started in it, all removed on exit."""

    def __init__(self):
        self.mgr = cgroups.manager("/" + _name(), "ignored")
        self.children = []

    def file(self, controller, name):
        return os.path.join(self.mgr.paths[controller], name)

    def value(self, controller, name):
        return read(self.file(controller, name)).strip()

    def start(self, *argv):
        """Start ``argv`` in the cgroup: it waits on stdin until it has been added everywhere."""
        child = subprocess.Popen(
            ["sh", "-c", 'read go && exec "$@"', "sh", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.children.append(child)
        self.mgr.add(child.pid)
        child.stdin.write("go\n")
        child.stdin.close()
        child.stdin = None
        return child

    def close(self):
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
        self.mgr.kill_all(signal.SIGKILL)
        self.mgr.destroy()


@pytest.fixture
def box():
    b = Box()
    if b.mgr.version != 1:
        pytest.skip("these tests are for the cgroup v1 (or hybrid) driver; see the cgroup2 test below")
    try:
        b.mgr.create()
        yield b
    finally:
        b.close()


def test_cpu_and_cpuset(box):
    cpu = {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}
    burst = os.path.exists(box.file("cpu", "cpu.cfs_burst_us"))
    if burst:
        cpu["burst"] = 1000
    assert box.mgr.apply({"cpu": cpu}) == []
    assert box.value("cpu", "cpu.shares") == "512"
    assert box.value("cpu", "cpu.cfs_quota_us") == "50000"
    assert box.value("cpu", "cpu.cfs_period_us") == "100000"
    assert box.value("cpuset", "cpuset.cpus") == "0" and box.value("cpuset", "cpuset.mems") == "0"
    if burst:
        assert box.value("cpu", "cpu.cfs_burst_us") == "1000"
    # update: a longer period with a larger quota, then no quota at all
    box.mgr.apply({"cpu": {"quota": 300000, "period": 200000}}, devices=False)
    assert (box.value("cpu", "cpu.cfs_quota_us"), box.value("cpu", "cpu.cfs_period_us")) == (
        "300000",
        "200000",
    )
    box.mgr.apply({"cpu": {"quota": -1}}, devices=False)
    assert box.value("cpu", "cpu.cfs_quota_us") == "-1"
    with pytest.raises(
        CartonError, match="cannot set linux.resources.cpu.cpus: cannot write .*cpuset.cpus: "
    ):
        box.mgr.apply({"cpu": {"cpus": "4096"}}, devices=False)
    assert box.value("cpuset", "cpuset.cpus") == "0"


def test_memory_limit_reservation_and_swap(box):
    memsw = os.path.exists(box.file("memory", "memory.memsw.limit_in_bytes"))
    if not memsw:
        with pytest.raises(
            CartonError,
            match=r"memory.swap: .*memory.memsw.limit_in_bytes does not exist \(this "
            "kernel does not account swap",
        ):
            box.mgr.apply({"memory": {"limit": 64 * M, "swap": 128 * M}})
        assert box.value("memory", "memory.limit_in_bytes") == str(UNLIMITED_V1)  # nothing was written
        return
    box.mgr.apply({"memory": {"limit": 64 * M, "reservation": 32 * M, "swap": 128 * M}})
    assert box.value("memory", "memory.limit_in_bytes") == str(64 * M)
    assert box.value("memory", "memory.soft_limit_in_bytes") == str(32 * M)
    assert box.value("memory", "memory.memsw.limit_in_bytes") == str(128 * M)

    for limit, swap in ((256 * M, 512 * M), (32 * M, 48 * M), (40 * M, 40 * M)):  # up, down, no swap
        box.mgr.apply({"memory": {"limit": limit, "swap": swap}}, devices=False)
        assert box.value("memory", "memory.limit_in_bytes") == str(limit)
        assert box.value("memory", "memory.memsw.limit_in_bytes") == str(swap)

    with pytest.raises(
        CartonError, match="memory.limit: cannot write .*: Invalid argument .*set memory.swap too"
    ):
        box.mgr.apply({"memory": {"limit": 64 * M}}, devices=False)  # alone, above memory+swap
    box.mgr.apply({"memory": {"limit": -1}}, devices=False)  # lifts memory+swap too
    assert box.value("memory", "memory.limit_in_bytes") == str(UNLIMITED_V1)
    assert box.value("memory", "memory.memsw.limit_in_bytes") == str(UNLIMITED_V1)


def test_swappiness_oom_killer_and_hierarchy(box):
    box.mgr.apply({"memory": {"swappiness": 0, "disableOOMKiller": True, "useHierarchy": True}})
    assert box.value("memory", "memory.swappiness") == "0"
    assert "oom_kill_disable 1" in read(box.file("memory", "memory.oom_control"))
    assert box.mgr.oom_count() == 0


def test_pids(box):
    box.mgr.apply({"pids": {"limit": 2048}})  # what podman sends
    assert box.value("pids", "pids.max") == "2048"
    box.mgr.apply({"pids": {"limit": -1}}, devices=False)
    assert box.value("pids", "pids.max") == "max"


def test_blkio_weight(box):
    directory = box.mgr.paths["blkio"]
    names = [n for n in ("blkio.weight", "blkio.bfq.weight") if os.path.exists(os.path.join(directory, n))]
    if not names:
        with pytest.raises(
            CartonError, match=r"blockIO.weight: .*/blkio.weight does not exist \(nor blkio.bfq.weight"
        ):
            box.mgr.apply({"blockIO": {"weight": 500}})
        return
    box.mgr.apply({"blockIO": {"weight": 500}})
    assert box.value("blkio", names[0]).split()[-1] == "500"


def _block_device():
    """``(major, minor)`` of a disk on this machine (not a loop or zram device), or None."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "zram", "ram")):
            major, minor = read(f"/sys/block/{name}/dev").strip().split(":")
            return int(major), int(minor)
    return None


def test_blkio_throttles(box):
    device = _block_device()
    if device is None:
        pytest.skip("no block device")
    major, minor = device
    box.mgr.apply(
        {
            "blockIO": {
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": M}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
            }
        }
    )
    assert box.value("blkio", "blkio.throttle.read_bps_device") == f"{major}:{minor} {M}"
    assert box.value("blkio", "blkio.throttle.write_iops_device") == f"{major}:{minor} 100"
    box.mgr.apply(
        {"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 0}]}}, devices=False
    )  # 0 removes it
    assert box.value("blkio", "blkio.throttle.read_bps_device") == ""
    with pytest.raises(CartonError, match="throttleReadBpsDevice: cannot write .*: No such device"):
        box.mgr.apply(
            {"blockIO": {"throttleReadBpsDevice": [{"major": 4095, "minor": 0, "rate": M}]}}, devices=False
        )


def test_network_needs_its_hierarchy(box):
    if "net_cls" not in box.mgr.paths:
        with pytest.raises(
            CartonError,
            match="^cannot set linux.resources.network.classID: no net_cls cgroup "
            "hierarchy is mounted on this machine$",
        ):
            box.mgr.apply({"network": {"classID": 0x100001}})
        return
    box.mgr.apply({"network": {"classID": 0x100001}})
    assert box.value("net_cls", "net_cls.classid") == str(0x100001)


def test_unified_needs_cgroup_v2(box):
    with pytest.raises(CartonError, match="linux.resources.unified cannot be applied: it needs cgroup v2"):
        box.mgr.apply({"unified": {"memory.high": "1G"}})


def test_rdma_is_not_supported_yet(box):
    with pytest.raises(CartonError, match="^linux.resources.rdma.mlx5_1.hcaHandles is not supported yet$"):
        box.mgr.apply({"pids": {"limit": 5}, "rdma": {"mlx5_1": {"hcaHandles": 3}}})
    assert box.value("pids", "pids.max") == "max"  # nothing was written


def test_hugepage_limits(box):
    """v1 ``hugetlb`` if mounted; on a hybrid machine without it, the cgroup2 directory, but only
    if the top of the cgroup2 tree already hands hugetlb down (Carton does not change that)."""
    limits = {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}  # as Kubernetes sends it
    if not os.path.exists("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2MB huge pages on this machine")
    if "hugetlb" in box.mgr.paths:
        box.mgr.apply(limits)
        assert box.value("hugetlb", "hugetlb.2MB.limit_in_bytes") == "0"
        return
    if "unified" not in box.mgr.paths:
        with pytest.raises(CartonError, match="no hugetlb cgroup hierarchy is mounted"):
            box.mgr.apply(limits)
        return
    top = os.path.dirname(box.mgr.paths["unified"])
    control = os.path.join(top, "cgroup.subtree_control")
    before = read(control)
    if "hugetlb" in before.split():
        box.mgr.apply(limits)
        assert box.value("unified", "hugetlb.2MB.max") == "0"
    else:
        with pytest.raises(
            CartonError, match=f"not enabled at the top of the cgroup2 tree.*echo \\+hugetlb > {control}"
        ):
            box.mgr.apply(limits)
    assert read(control) == before


def test_check_before_update_and_the_oom_count(box):
    eater = [
        sys.executable,
        "-c",
        "import sys, time; x = bytearray(24 << 20); x[::4096] = b'a' * len(x[::4096]); "
        "sys.stdout.flush(); time.sleep(60)",
    ]
    holder = box.start(*eater)
    deadline = time.monotonic() + 10
    while box.mgr.stats()["memory"]["usage"]["usage"] < 20 * M and time.monotonic() < deadline:
        time.sleep(0.02)
    usage = box.mgr.stats()["memory"]["usage"]["usage"]
    assert usage >= 20 * M
    with pytest.raises(
        CartonError,
        match=f"cannot set linux.resources.memory.limit to {8 * M}: the container "
        "already uses .* bytes \\(memory.checkBeforeUpdate\\)",
    ):
        box.mgr.apply({"memory": {"limit": 8 * M, "checkBeforeUpdate": True}}, devices=False)
    assert box.value("memory", "memory.limit_in_bytes") == str(UNLIMITED_V1)
    holder.kill()
    holder.wait()

    # now a process that wants more than the limit: the kernel's OOM killer takes it
    swap = {"swap": 32 * M} if os.path.exists(box.file("memory", "memory.memsw.limit_in_bytes")) else {}
    box.mgr.apply({"memory": {"limit": 32 * M, **swap}}, devices=False)
    assert box.mgr.oom_count() == 0
    greedy = box.start(sys.executable, "-c", "x = b'a' * (256 << 20)")
    assert greedy.wait(timeout=30) == -signal.SIGKILL
    assert box.mgr.oom_count() >= 1
    stats = box.mgr.stats()
    assert stats["memory"]["usage"]["limit"] == 32 * M
    assert stats["memory"]["usage"]["max"] > 16 * M  # (failcnt stays 0 on some recent kernels)
    assert stats["cpu"]["usage"]["total"] > 0
    json.dumps(stats)  # what `events --stats` prints


def test_stats_shape(box):
    box.mgr.apply({"pids": {"limit": 10}, "memory": {"limit": 64 * M}})
    sleeper = box.start("sleep", "60")
    stats = box.mgr.stats()
    assert set(stats) == {"cpu", "memory", "pids", "blkio", "hugetlb"}
    assert stats["pids"] == {"current": 1, "limit": 10}
    assert set(stats["cpu"]["usage"]) >= {"total", "kernel", "user"}
    assert set(stats["memory"]["usage"]) == {"limit", "usage", "max", "failcnt"}
    assert stats["memory"]["usage"]["limit"] == 64 * M and "rss" in stats["memory"]["raw"]
    assert set(stats["blkio"]) == {"ioServiceBytesRecursive", "ioServicedRecursive"}
    sleeper.kill()
    sleeper.wait()


def test_cgroup2_driver_on_the_cgroup2_mount():
    """The v2 driver on this machine's cgroup2 mount (the whole machine if unified, the
    hybrid ``unified`` mount otherwise), in a directory made with a plain ``mkdir``
    (``create()`` would enable controllers at the top of the tree)."""
    _, mount = detect.hierarchies(detect.read_mounts())
    if mount is None or not os.path.exists(os.path.join(mount.point, "cgroup.controllers")):
        pytest.skip("no cgroup2 mount")
    directory = os.path.join(mount.point, _name())
    mgr = cgroups.from_paths({"unified": directory})
    enabled = read(os.path.join(mount.point, "cgroup.subtree_control")).split()
    os.mkdir(directory)
    try:
        mgr.apply({"unified": {"cgroup.max.depth": "3"}})  # cgroup.* files exist in every cgroup
        assert read(os.path.join(directory, "cgroup.max.depth")).strip() == "3"
        if "cpu" in enabled:
            mgr.apply({"cpu": {"shares": 1024}})
            assert read(os.path.join(directory, "cpu.weight")).strip() == "39"
        else:
            with pytest.raises(
                CartonError,
                match=r"cpu.shares: .*cpu.weight does not exist \(the cpu controller is "
                "not enabled for this cgroup",
            ):
                mgr.apply({"cpu": {"shares": 1024}})
        with pytest.raises(CartonError, match="memory.swappiness is not available on cgroup v2"):
            mgr.apply({"memory": {"swappiness": 10}})
        with pytest.raises(CartonError, match="cgroup.procs belongs to the runtime"):
            mgr.apply({"unified": {"cgroup.procs": str(os.getpid())}})
        assert set(mgr.stats()) == {"cpu", "memory", "pids", "blkio", "hugetlb"}
        if "memory" not in enabled:
            assert mgr.oom_count() is None
    finally:
        mgr.destroy()
    assert read(os.path.join(mount.point, "cgroup.subtree_control")).split() == enabled


# -- through the runtime: the fields real clients send ------------------------------------


def test_a_container_with_the_limits_containerd_and_podman_send(oci, tmp_path):
    if cgroups.manager("/x", "x").version != 1:
        pytest.skip("the host files read here are cgroup v1's")
    b = oci.bundle(["sh", "-c", "sleep 60"])
    b.linux["resources"] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "cpu": {"shares": 1024, "quota": 0, "period": 0},  # containerd's default
        "pids": {"limit": 2048},  # podman's default
        "memory": {"limit": 256 * M, "swappiness": None},
    }
    b.write()
    cid = oci.created(b)
    assert read(os.path.join(b.cgroup_dir("cpu"), "cpu.shares")).strip() == "1024"
    assert read(os.path.join(b.cgroup_dir("pids"), "pids.max")).strip() == "2048"
    assert read(os.path.join(b.cgroup_dir("memory"), "memory.limit_in_bytes")).strip() == str(256 * M)
    update = tmp_path / "update.json"
    update.write_text(
        json.dumps({"cpu": {"shares": 512, "quota": 20000, "period": 100000}, "memory": {"limit": 128 * M}})
    )
    oci.check("update", "-r", str(update), cid)
    assert read(os.path.join(b.cgroup_dir("cpu"), "cpu.shares")).strip() == "512"
    assert read(os.path.join(b.cgroup_dir("cpu"), "cpu.cfs_quota_us")).strip() == "20000"
    assert read(os.path.join(b.cgroup_dir("memory"), "memory.limit_in_bytes")).strip() == str(128 * M)
    update.write_text(json.dumps({"unified": {"memory.high": "1G"}}))
    r = oci("update", "-r", str(update), cid)
    assert r.returncode != 0 and "linux.resources.unified cannot be applied" in r.stderr, r
