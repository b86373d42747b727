"""``carton run``'s resource flags on real cgroups: the kernel enforces what the flags say.

Written for both cgroup versions: the container's cgroup is found through
``carton.cgroups.from_paths(state["cgroup_paths"])`` and read through the
manager (``stats()``) or through the small helpers below, which know each
version's file names. The same tests run on this v1 (hybrid) host and in the
cgroup v2 guest of ``tests/vm``.

A container made by ``carton run`` has a cgroup named after its random id, so
the tests that check that a failed run leaves no cgroup give it a parent of
their own (``--cgroup-parent /carton-test-<random>``) and look below it.
"""

import contextlib
import json
import os
import secrets
import time

import pytest
from carton_testlib import leftover_state

from carton import cgroups

M = 1 << 20


class _WithoutNetwork:
    """``carton`` with ``--network none`` on every ``run``.

    Limits need no network, and a bridge per run costs time, most of all in
    the emulated cgroup v2 guest (tests/vm). Networking is tested in
    test_network.py, and on cgroup v2 in tests/v2/test_v2_network.py.
    """

    def __init__(self, carton):
        self._carton = carton
        self.root = carton.root

    @staticmethod
    def _args(args):
        return ("run", "--network", "none", *args[1:]) if args[:1] == ("run",) else args

    def __call__(self, *args, **kwargs):
        return self._carton(*self._args(args), **kwargs)

    def popen(self, *args, **kwargs):
        return self._carton.popen(*self._args(args), **kwargs)


@pytest.fixture
def carton(carton):
    return _WithoutNetwork(carton)


def read(path):
    with open(path) as f:
        return f.read()


# -- helpers ---------------------------------------------------------------------------


def memory_limit(mgr):
    """The memory limit of the cgroup, in bytes, or ``None`` for none (v1 or v2)."""
    if mgr.version == 1:
        text = read(os.path.join(mgr.paths["memory"], "memory.limit_in_bytes")).strip()
    else:
        text = read(os.path.join(mgr.paths["unified"], "memory.max")).strip()
    return None if text == "max" or int(text) >= 1 << 62 else int(text)


def throttles(mgr):
    """``{(major, minor): {"rbps": n, "wbps": n}}`` from blkio.throttle.* (v1) or io.max (v2)."""
    found = {}
    if mgr.version == 1:
        for key, name in (("rbps", "read_bps_device"), ("wbps", "write_bps_device")):
            for line in read(os.path.join(mgr.paths["blkio"], f"blkio.throttle.{name}")).splitlines():
                device, rate = line.split()
                found.setdefault(tuple(map(int, device.split(":"))), {})[key] = int(rate)
    else:
        for line in read(os.path.join(mgr.paths["unified"], "io.max")).splitlines():
            device, *pairs = line.split()
            entry = found.setdefault(tuple(map(int, device.split(":"))), {})
            for pair in pairs:
                key, _, value = pair.partition("=")
                if key in ("rbps", "wbps") and value != "max":
                    entry[key] = int(value)
    return found


def oom_control_disabled(mgr):
    return "oom_kill_disable 1" in read(os.path.join(mgr.paths["memory"], "memory.oom_control"))


def running_container(state_root, timeout=15):
    """``(id, state.json)`` of the one container of this test once its process runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir(state_root):
            try:
                state = json.loads(read(os.path.join(state_root, entry, "state.json")))
            except (OSError, ValueError):
                continue
            started = not os.path.exists(os.path.join(state_root, entry, "exec.fifo"))
            if state.get("pid") and state.get("status") != "creating" and started:
                return entry, state
        time.sleep(0.02)
    raise AssertionError("no running container appeared")


@contextlib.contextmanager
def running(carton, rootfs, *flags, command=("sleep", "1000")):
    """A foreground ``carton run FLAGS ROOTFS COMMAND`` in the background: yields its
    ``(id, manager)`` while it runs, then kills it and checks that it went away."""
    import subprocess

    proc = carton.popen("run", *flags, rootfs, *command, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cid = None
    try:
        cid, state = running_container(carton.root)
        yield cid, cgroups.from_paths(state["cgroup_paths"])
    finally:
        if proc.poll() is None:
            if cid is not None:
                carton("kill", cid, "KILL")  # the container's init: carton run then ends with 137
            else:
                proc.kill()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 137, (out, err)


def cpu_seconds(mgr):
    return mgr.stats()["cpu"]["usage"]["total"] / 1e9


def block_device():
    """``(path, major, minor)`` of a whole disk in /dev (from /sys/block), or ``None``."""
    try:
        names = sorted(os.listdir("/sys/block"), key=lambda n: (n.startswith(("loop", "ram", "zram")), n))
    except OSError:
        return None
    for name in names:
        path = f"/dev/{name}"
        try:
            major, minor = map(int, read(f"/sys/block/{name}/dev").split(":"))
            if os.path.exists(path) and os.stat(path).st_rdev == os.makedev(major, minor):
                return path, major, minor
        except (OSError, ValueError):
            continue
    return None


def assert_one_line(r):
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("carton: "), r.stderr


# -- memory and the OOM killer -----------------------------------------------------------

# busybox has no stress tool; both of these really hold the memory: dd fills a buffer of
# bs bytes with one read(2), and the shell keeps the text of $(...) in a variable. dd holds
# just that; the shell needs two to three times the text while it reads it, so "half the
# limit" is only measured with dd.
DD = "dd if=/dev/zero of=/dev/null bs={}M count=1"
VARIABLE = "x=$(head -c {}m /dev/zero | tr '\\0' a); echo ${{#x}}"


@pytest.mark.parametrize("command", [DD, VARIABLE], ids=["dd", "shell-variable"])
def test_three_times_the_limit_is_oom_killed_and_reported(carton, rootfs, command):
    r = carton("run", "--memory", "32m", rootfs, "sh", "-c", command.format(96))
    assert r.returncode == 137, r
    # Carton's one line. The OOM killer may take a process of the pipeline first, and
    # the container's shell then says "Killed" itself before it is taken too.
    lines = r.stderr.splitlines()
    assert lines[-1:] == ["carton: out of memory: limit 32 MiB"], r.stderr
    assert set(lines[:-1]) <= {"Killed"}, r.stderr
    assert r.stdout == ""


def test_half_the_limit_is_fine(carton, rootfs):
    r = carton("run", "--memory", "32m", rootfs, "sh", "-c", DD.format(16) + " 2>/dev/null")
    assert r.returncode == 0, r
    assert "out of memory" not in r.stderr


def test_a_kill_that_is_not_the_oom_killer_is_not_reported(carton, rootfs):
    r = carton("run", "--memory", "32m", rootfs, "sh", "-c", "sleep 10 & kill -9 $!; wait $!; exit $?")
    assert r.returncode == 137, r
    assert "out of memory" not in r.stderr  # (the shell says "Killed")


def test_memory_flags_reach_the_cgroup(carton, rootfs):
    flags = ("-m", "48m", "--memory-reservation", "16m", "--pids-limit", "20")
    with running(carton, rootfs, *flags) as (_, mgr):
        assert memory_limit(mgr) == 48 * M
        stats = mgr.stats()
        assert stats["memory"]["usage"]["limit"] == 48 * M
        assert stats["pids"]["limit"] == 20
        assert 0 < stats["memory"]["usage"]["usage"] < 48 * M


def test_oom_kill_disable(carton, rootfs):
    if cgroups.manager("/x", "x").version == 2:
        r = carton("run", "-m", "32m", "--oom-kill-disable", rootfs, "true")
        assert r.returncode == 125, r
        assert "cgroup v2 cannot turn the OOM killer off" in r.stderr
        assert_one_line(r)
        return
    with running(carton, rootfs, "-m", "32m", "--oom-kill-disable") as (_, mgr):
        assert oom_control_disabled(mgr)


# -- CPU -------------------------------------------------------------------------------


def test_cpus_half_gives_half_a_cpu(carton, rootfs):
    with running(carton, rootfs, "--cpus", "0.5", command=("sh", "-c", "while :; do :; done")) as (_, mgr):
        time.sleep(0.5)  # past the start, into the steady state
        t0, used0 = time.monotonic(), cpu_seconds(mgr)
        time.sleep(3)
        t1, used1 = time.monotonic(), cpu_seconds(mgr)
        throttled = mgr.stats()["cpu"]["throttling"]["throttledPeriods"]
    share = (used1 - used0) / (t1 - t0)
    print(f"--cpus 0.5: {used1 - used0:.3f} s of CPU in {t1 - t0:.3f} s = {share:.3f} CPU; "
          f"throttled in {throttled} periods")
    assert 0.4 <= share <= 0.6
    assert throttled > 0


def test_without_cpus_the_loop_gets_a_whole_cpu(carton, rootfs):
    """The control for the test above: the same loop, unlimited, uses (nearly) a whole CPU."""
    with running(carton, rootfs, command=("sh", "-c", "while :; do :; done")) as (_, mgr):
        time.sleep(0.3)
        t0, used0 = time.monotonic(), cpu_seconds(mgr)
        time.sleep(1.5)
        share = (cpu_seconds(mgr) - used0) / (time.monotonic() - t0)
    assert share > 0.7


def test_cpuset_cpus_pins(carton, rootfs):
    r = carton("run", "--cpuset-cpus", "0", rootfs, "grep", "Cpus_allowed_list", "/proc/self/status")
    assert (r.returncode, r.stdout) == (0, "Cpus_allowed_list:\t0\n"), r


def test_cpu_shares_and_quota_are_accepted(carton, rootfs):
    r = carton("run", "--cpu-shares", "512", "--cpu-period", "50000", "--cpu-quota", "25000", rootfs, "true")
    assert r.returncode == 0, r


# -- pids, block I/O ---------------------------------------------------------------------


def test_pids_limit_stops_the_eleventh_process(carton, rootfs):
    # PID 1 (the shell) and nine sleeps are ten processes; the tenth sleep would be the eleventh.
    r = carton("run", "--pids-limit", "10", rootfs, "sh", "-c",
               "for i in $(seq 1 15); do sleep 30 & echo started $i; done; echo not-stopped")
    assert r.returncode != 0, r
    assert r.stdout.split("\n")[-2] == "started 9", r.stdout
    assert "not-stopped" not in r.stdout
    assert "can't fork" in r.stderr


def test_device_throttles_reach_the_cgroup(carton, rootfs):
    device = block_device()
    if device is None:
        pytest.skip("no block device in /sys/block")
    path, major, minor = device
    with running(carton, rootfs, "--device-read-bps", f"{path}:1mb", "--device-write-bps",
                 f"{path}:512k") as (_, mgr):
        assert throttles(mgr)[(major, minor)] == {"rbps": M, "wbps": 512 * 1024}


# -- failures leave nothing --------------------------------------------------------------


@pytest.fixture
def parent():
    """A cgroup parent of the test's own, ``/carton-test-<random>``; removed at the end."""
    path = f"/carton-test-{secrets.token_hex(6)}"
    mgr = cgroups.manager(path, "unused")
    yield path, mgr
    mgr.destroy()


def children(mgr):
    """Cgroups below the parent, in every hierarchy."""
    found = []
    for directory in set(mgr.paths.values()):
        if os.path.isdir(directory):
            found += [e.path for e in os.scandir(directory) if e.is_dir()]
    return found


@pytest.mark.parametrize("flags", [
    ("--memory", "5m"), ("--memory", "lots"), ("--memory-swap", "1g"), ("-m", "1g", "--memory-swap", "512m"),
    ("--cpus", "0.5", "--cpu-quota", "20000"), ("--cpus", "100000"), ("--cpuset-cpus", "1-0"),
    ("--pids-limit", "ten"), ("--blkio-weight", "5"), ("--device-read-bps", "/dev/null:1mb"),
    ("--device-write-bps", "/dev/no-such-disk:1mb"), ("--cpu-period", "10"),
], ids=lambda flags: " ".join(flags))
def test_bad_values_fail_before_anything_is_made(carton, rootfs, parent, flags):
    path, mgr = parent
    r = carton("run", "--cgroup-parent", path, *flags, rootfs, "true")
    assert r.returncode == 125, r
    assert_one_line(r)
    assert r.stdout == ""
    assert not leftover_state(carton.root)
    assert not any(os.path.exists(d) for d in mgr.paths.values())  # not even the parent


@pytest.mark.parametrize("flags, words", [
    (("--cpuset-cpus", "99"), ["cpuset.cpus"]),
    (("--cpuset-mems", "99"), ["cpuset.mems"]),
])
def test_a_limit_the_kernel_refuses_leaves_nothing(carton, rootfs, parent, flags, words):
    path, mgr = parent
    r = carton("run", "--cgroup-parent", path, *flags, rootfs, "true")
    assert r.returncode == 125, r
    assert_one_line(r)
    for word in words:
        assert word in r.stderr
    assert not leftover_state(carton.root)
    assert children(mgr) == []  # the container's cgroup went; the parent stays, as with runc


def test_a_good_run_under_a_parent_leaves_only_the_parent(carton, rootfs, parent):
    path, mgr = parent
    r = carton("run", "--cgroup-parent", path, "-m", "32m", rootfs, "sh", "-c", "cat /proc/self/cgroup")
    assert r.returncode == 0, r
    assert children(mgr) == []
    assert path.strip("/") not in r.stdout  # the container's cgroup namespace hides the path
