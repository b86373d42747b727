"""``update``, ``pause``/``resume`` and ``events`` on real containers, as an engine drives them.

Containers are made from bundles (``oci_bundle.py``) with a ``cgroupsPath`` of
their own; their cgroup is found through ``state.json``'s ``cgroup_paths`` and
``carton.cgroups.from_paths``, and limits are read back with helpers that know
both cgroup versions' file names, so these tests run on v1 (this host) and in
the cgroup v2 guest of ``tests/vm`` alike.
"""

import json
import os
import queue
import signal
import subprocess
import threading
import time

import oci_bundle
import pytest
from oci_bundle import wait_until

from carton import cgroups
from carton.cli.run import _host_accounts_swap

M = 1 << 20
LOOP = "trap 'exit 3' TERM; while :; do sleep 0.1; done"
BUSY = "while :; do :; done"


def read(path):
    with open(path) as f:
        return f.read()


def manager(oci, cid):
    """The container's cgroup manager, from the paths its state.json recorded."""
    state = json.loads(read(os.path.join(oci.state_dir(cid), "state.json")))
    return cgroups.from_paths(state["cgroup_paths"])


def memory_limit(mgr):
    """The memory limit of the cgroup, in bytes, or ``None`` for none (v1 or v2)."""
    if mgr.version == 1:
        text = read(os.path.join(mgr.paths["memory"], "memory.limit_in_bytes")).strip()
    else:
        text = read(os.path.join(mgr.paths["unified"], "memory.max")).strip()
    return None if text == "max" or int(text) >= 1 << 62 else int(text)


def memory_bundle(oci, args, limit, **kwargs):
    """A bundle whose container may use ``limit`` bytes, and no swap where the kernel counts it."""
    b = oci.bundle(args, **kwargs)
    memory = {"limit": limit}
    if _host_accounts_swap():
        memory["swap"] = limit
    b.linux.setdefault("resources", {})["memory"] = memory
    return b.write()


class Events:
    """``carton events`` running in the background; its lines arrive in a queue."""

    def __init__(self, oci, *args):
        self.proc = subprocess.Popen(oci.carton.argv("events", *args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        oci_bundle._OWN.add(self.proc.pid)  # its status is ours to collect, not reap_zombies'
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, timeout=15):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout}s") from None

    def wait_for(self, kind, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, f"events ended before a {kind} event: {self.stderr()}"
            if event["type"] == kind:
                return event

    def wait(self, timeout=10):
        """Its exit code, once it has ended by itself."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            oci_bundle.reap_zombies()  # the container's init is our child: let it go
            assert time.monotonic() < deadline, "events did not end"
            time.sleep(0.02)
        return self.proc.returncode

    def stderr(self):
        return self.proc.stderr.read() if self.proc.poll() is not None else ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        oci_bundle._OWN.discard(self.proc.pid)


@pytest.fixture
def events(oci):
    started = []

    def start(*args):
        e = Events(oci, *args)
        started.append(e)
        return e

    yield start
    for e in started:
        e.close()


# -- update ----------------------------------------------------------------------------


def test_update_raises_and_lowers_the_memory_limit(oci, carton):
    cid = oci.started(memory_bundle(oci, ["sh", "-c", LOOP], 64 * M))
    mgr = manager(oci, cid)
    assert memory_limit(mgr) == 64 * M
    oci.check("update", "--memory", "128m", "--memory-swap", "-1", cid)
    assert memory_limit(mgr) == 128 * M
    oci.check("update", "--memory", "32m", cid)
    assert memory_limit(mgr) == 32 * M
    oci.check("update", "--memory", str(48 * M), cid)  # runc's plain bytes work too
    assert memory_limit(mgr) == 48 * M
    r = carton("update", "-r", "-", cid, input=json.dumps({"memory": {"limit": 40 * M}}))
    assert r.returncode == 0, r
    assert memory_limit(mgr) == 40 * M
    oci.check("update", "--memory", "-1", cid)
    assert memory_limit(mgr) is None
    assert oci.status(cid) == "running"


def test_update_pids_and_cpu(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    mgr = manager(oci, cid)
    oci.check("update", "--pids-limit", "7", "--cpu-share", "512", "--cpu-period", "100000",
              "--cpu-quota", "50000", cid)
    assert mgr.stats()["pids"]["limit"] == 7
    oci.check("update", "--pids-limit", "-1", cid)
    assert mgr.stats()["pids"]["limit"] == 0  # runc's way of saying "unlimited"


def test_update_a_created_container(oci):
    cid = oci.created(memory_bundle(oci, ["sh", "-c", LOOP], 64 * M))
    oci.check("update", "--memory", "32m", cid)
    assert memory_limit(manager(oci, cid)) == 32 * M


def test_update_kernel_memory_is_ignored_with_a_warning(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    r = oci.check("update", "--kernel-memory", "10m", cid)
    assert "--kernel-memory is ignored" in r.stderr


@pytest.mark.parametrize("flags, words", [
    (("--memory", "lots"), ["invalid --memory", "'lots'"]),
    (("--cpu-period", "-5"), ["invalid --cpu-period", "negative"]),
    (("--cpuset-cpus", "0-"), ["invalid --cpuset-cpus"]),
    (("--blkio-weight", "5"), ["blockIO.weight must be between 10 and 1000"]),
])
def test_update_refuses_bad_values(oci, flags, words):
    cid = oci.started(memory_bundle(oci, ["sh", "-c", LOOP], 64 * M))
    r = oci("update", *flags, cid)
    assert r.returncode == 1, r
    assert r.stderr.count("\n") == 1, r
    for word in words:
        assert word in r.stderr
    assert memory_limit(manager(oci, cid)) == 64 * M


def test_update_refuses_bad_json(oci, carton, tmp_path):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    for text in ("{", "[1]", '{"memory": {"limit": "lots"}}'):
        r = carton("update", "-r", "-", cid, input=text)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r


def test_update_a_stopped_container_is_an_error(oci):
    cid = oci.started(oci.bundle(["true"]))
    oci.wait_status(cid, "stopped")
    r = oci("update", "--memory", "64m", cid)
    assert r.returncode == 1, r
    assert f"cannot update container {cid}: it is stopped" in r.stderr


# -- pause and resume -------------------------------------------------------------------


def test_pause_freezes_and_resume_thaws(oci, shared):
    counter = shared / "count"
    b = oci.bundle(["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >> /tmp/count; usleep 2000; done"])
    cid = oci.started(b.bind(shared, "/tmp"))

    def count():
        return counter.stat().st_size if counter.exists() else 0

    wait_until(lambda: count() > 0, what="the counter to start")
    oci.check("pause", cid)
    assert oci.status(cid) == "paused"
    assert manager(oci, cid).frozen()
    frozen_at = count()
    time.sleep(0.5)
    assert count() == frozen_at, "the counter went on while paused"

    oci.check("resume", cid)
    assert oci.status(cid) == "running"
    wait_until(lambda: count() > frozen_at, timeout=5, what="the counter to go on")


# -- events -----------------------------------------------------------------------------


def test_events_stats_are_plausible(oci):
    cid = oci.started(memory_bundle(oci, ["sh", "-c", BUSY], 64 * M))
    first = json.loads(oci.check("events", "--stats", cid).stdout)
    time.sleep(0.5)
    r = oci.check("events", "--stats", cid)
    assert len(r.stdout.splitlines()) == 1
    second = json.loads(r.stdout)
    assert first["type"] == second["type"] == "stats" and second["id"] == cid
    data = second["data"]
    memory = data["memory"]["usage"]
    assert memory["limit"] == 64 * M
    assert 0 < memory["usage"] < 64 * M
    assert data["pids"]["current"] >= 1
    assert data["cpu"]["usage"]["total"] > first["data"]["cpu"]["usage"]["total"] > 0
    assert data["cpu"]["usage"]["total"] - first["data"]["cpu"]["usage"]["total"] >= 0.2e9  # busy: ~0.5 s


def test_events_every_interval(oci, events):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    e = events("--interval", "200ms", cid)
    started = time.monotonic()
    for _ in range(3):
        event = e.next()
        assert event["type"] == "stats" and event["id"] == cid
    assert 0.3 < time.monotonic() - started < 5


def test_events_reports_an_oom_kill(oci, shared, events):
    # The shell waits for the go-ahead, then dd asks for three times the limit and the OOM
    # killer takes it; the shell itself (PID 1) lives on.
    script = ("while [ ! -e /tmp/go ]; do usleep 20000; done;"
              " dd if=/dev/zero of=/dev/null bs=96M count=1; echo $? > /tmp/dd-status; " + LOOP)
    b = memory_bundle(oci, ["sh", "-c", script], 32 * M).bind(shared, "/tmp")
    cid = oci.started(b)
    e = events("--interval", "1s", cid)
    assert e.next()["type"] == "stats"  # events is watching from here on
    (shared / "go").touch()
    event = e.wait_for("oom")
    assert event == {"type": "oom", "id": cid}
    wait_until(lambda: (shared / "dd-status").exists(), what="dd's end")
    assert (shared / "dd-status").read_text() == "137\n"
    assert manager(oci, cid).oom_count() >= 1
    assert oci.status(cid) == "running"


def test_events_ends_when_the_container_stops(oci, events):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    e = events("--interval", "100ms", cid)
    assert e.next()["type"] == "stats"
    oci.check("kill", cid, "KILL")
    assert e.wait() == 0
    assert e.stderr() == ""


def test_events_ends_when_the_container_is_deleted(oci, events):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    e = events("--interval", "10s", cid)
    assert e.next()["type"] == "stats"
    oci.check("delete", "--force", cid)
    assert e.wait() == 0
    assert e.stderr() == ""


def test_events_of_a_stopped_container_is_an_error(oci):
    cid = oci.started(oci.bundle(["true"]))
    oci.wait_status(cid, "stopped")
    for args in (("--stats",), ()):
        r = oci("events", *args, cid)
        assert r.returncode == 1, r
        assert f"container {cid} is not running" in r.stderr


def test_events_bad_interval(oci):
    cid = oci.started(oci.bundle(["sh", "-c", LOOP]))
    r = oci("events", "--interval", "soon", cid)
    assert r.returncode == 1 and "invalid interval" in r.stderr, r


# -- a failed create leaves nothing ------------------------------------------------------


def test_a_create_the_kernel_refuses_leaves_no_cgroup(oci):
    b = oci.bundle(["true"])
    b.linux.setdefault("resources", {})["cpu"] = {"cpus": "99"}
    b.write()
    cid, r = oci.create(b)
    assert r.returncode == 1, r
    assert "cpuset.cpus" in r.stderr and r.stderr.count("\n") == 1
    assert not os.path.exists(oci.state_dir(cid))
    mgr = cgroups.manager(b.cgroups_path, cid)
    assert not any(os.path.exists(d) for d in mgr.paths.values())
