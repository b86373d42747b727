"""Shared fixtures: a busybox root filesystem, a way to call ``carton``, and the leak check.

The leak check is the suite's promise that tests leave the machine as they
found it: the session fails if any mount, cgroup, network link, process or
container state that was not there at the start is there at the end.
"""

import os
import subprocess

import pytest
from carton_testlib import (  # noqa: F401  (other test files use CARTON and have)
    CARTON,
    descendants,
    have,
    leaks,
    leftover_state,
    settled_snapshot,
    snapshot,
)

from carton.rootfs import busybox


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: containers need namespaces and mounts")
    for item in items:
        if "unit" not in item.nodeid.split(os.sep)[1:2] and "/unit/" not in item.nodeid:
            item.add_marker(skip)


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
    """Fail the session if anything the tests made is still on the machine at the end.

    Carton's bridges, its nftables table and the ``ip_forward`` it turned on
    stay up after the last container, as docker0 does, until ``carton network
    prune``. So a session that began without any of them (no link ``carton*``,
    no table ``carton*``) runs ``carton network prune -f`` before it looks, and
    a clean machine ends clean; one that began with some (a developer's own
    containers ran here) leaves the bridges alone, and only checks for new things.
    """
    if os.geteuid() != 0:
        yield
        return
    _become_subreaper()
    before = snapshot()
    yield
    reap_orphans()
    problems = {}
    if not _carton_networking(before):
        pruned = Carton(state_root)("network", "prune", "-f")
        if pruned.returncode != 0:
            problems["carton network prune"] = pruned.stderr.strip()
    after = snapshot()
    if after["links"] - before["links"]:
        # A finished container's veth pair goes with its network namespace, which the
        # kernel tears down just after (Carton does not wait for it): give it a moment.
        after = settled_snapshot(before)
    problems.update(leaks(before, after))
    left = leftover_state(state_root)
    if left:
        problems["state"] = left
    child_processes = descendants(os.getpid())
    if child_processes:
        problems["child processes"] = child_processes
    assert not problems, f"the test session left these behind: {problems}"


def _carton_networking(snap):
    """Whether a snapshot shows a bridge or an nftables table of Carton's."""
    return any(link.startswith("carton") for link in snap["links"]) or bool(snap["nft tables"])


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


