"""Shared fixtures: a busybox root filesystem, a way to call ``carton``, and the leak check.

The leak check is the suite's promise that tests leave the machine as they
found it: the session fails if any mount, cgroup, network link, process or
container state that was not there at the start is there at the end.
"""

import os
import shutil
import subprocess
import sys

import pytest

from carton.rootfs import busybox

CARTON = os.path.join(os.path.dirname(sys.executable), "carton")
HERE = os.path.dirname(__file__)


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: containers need namespaces and mounts")
    for item in items:
        if "unit" not in item.nodeid.split(os.sep)[1:2] and "/unit/" not in item.nodeid:
            item.add_marker(skip)


# -- the leak check -----------------------------------------------------------------


def _mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _cgroups():
    found = set()
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        depth = top.count("/") - "/sys/fs/cgroup".count("/")
        if depth >= 4:
            dirs[:] = []
        for d in dirs:
            if "carton" in d:
                found.add(os.path.join(top, d))
    return found


def _links():
    return set(os.listdir("/sys/class/net"))


def _pid_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _foreign_processes():
    """Orphaned processes in PID namespaces other than ours: containers whose runtime is gone.

    Only orphans (parent PID 1) and our own descendants count, so containers
    that another program on the machine is running do not look like our leaks.
    """
    own = _pid_namespace("self")
    mine = set(descendants(os.getpid()))
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ns = _pid_namespace(entry)
            if ns and ns != own and (int(entry) in mine or _ppid(entry) == 1):
                found.add((int(entry), ns))
    return found


def descendants(pid):
    """PIDs of live (non-zombie) descendants of ``pid``."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    result, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def snapshot():
    return {"mounts": _mount_points(), "cgroups": _cgroups(), "links": _links(),
            "processes": _foreign_processes()}


def leaks(before, after):
    found = {}
    for key in before:
        new = after[key] - before[key]
        if new:
            found[key] = sorted(new)
    return found


def _become_subreaper():
    """Containers made by `carton create` outlive that command; their inits come to us, not to
    PID 1 (which on some machines never reaps), and `reap_orphans` collects them."""
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@pytest.fixture(scope="session", autouse=True)
def no_leaks(state_root):
    """Fail the session if anything the tests made is still on the machine at the end."""
    if os.geteuid() != 0:
        yield
        return
    _become_subreaper()
    before = snapshot()
    yield
    reap_orphans()
    after = snapshot()
    problems = leaks(before, after)
    left = leftover_state(state_root)
    if left:
        problems["state"] = left
    child_processes = descendants(os.getpid())
    if child_processes:
        problems["child processes"] = child_processes
    assert not problems, f"the test session left these behind: {problems}"


def leftover_state(root):
    """Container state left in ``root``: any entry but an empty ``.names`` directory."""
    if not os.path.isdir(root):
        return []
    left = [e for e in os.listdir(root) if e != ".names"]
    names = os.path.join(root, ".names")
    if os.path.isdir(names):
        left += [f".names/{n}" for n in os.listdir(names)]
    return left


@pytest.fixture(autouse=True)
def no_state_left(request):
    """After each test: no container state and no child process (points at the test that leaked)."""
    yield
    if os.geteuid() != 0 or "state_root" not in request.fixturenames:
        return
    root = request.getfixturevalue("state_root")
    reap_orphans()
    assert not leftover_state(root), f"container state left behind: {leftover_state(root)}"
    assert not descendants(os.getpid()), "a process started by the test is still running"


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def state_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    """A busybox root filesystem, built once per session. Tests must not change it."""
    path = tmp_path_factory.mktemp("rootfs")
    busybox.build(str(path))
    return str(path)


@pytest.fixture
def scratch_rootfs(tmp_path):
    """A busybox root filesystem of the test's own, which it may change."""
    path = tmp_path / "rootfs"
    busybox.build(str(path))
    return str(path)


class Carton:
    """Runs the ``carton`` command with the session's state root."""

    def __init__(self, root):
        self.root = root

    def argv(self, *args):
        return [CARTON, "--root", self.root, *args]

    def __call__(self, *args, input=None, timeout=60, env=None, **kwargs):
        return subprocess.run(self.argv(*args), input=input, capture_output=True, text=True,
                              timeout=timeout, env=env, **kwargs)

    def popen(self, *args, **kwargs):
        return subprocess.Popen(self.argv(*args), **kwargs)

    def init_pid(self, timeout=10):
        """The host PID of the one running container's init, once it is running."""
        import json
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in os.listdir(self.root):
                try:
                    with open(os.path.join(self.root, entry, "state.json")) as f:
                        state = json.load(f)
                except (OSError, ValueError):
                    continue
                started = not os.path.exists(os.path.join(self.root, entry, "exec.fifo"))
                if state.get("pid") and state.get("status") != "creating" and started:
                    return state["pid"]
            time.sleep(0.02)
        raise AssertionError("no running container appeared")


@pytest.fixture
def carton(state_root):
    return Carton(state_root)


def have(program):
    return shutil.which(program) is not None
