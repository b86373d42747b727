"""Where the cgroup tree cannot be written (no delegation), a container without limits runs.

Each command runs in a mount namespace of its own (``unshare -m``, private
propagation) in which every cgroup file system is bind-remounted read-only,
as it is inside another container or under a service manager that did not
delegate a subtree. Only that namespace's view changes: the host's mounts
stay as they are, and the namespace ends with the command.
"""

import json
import subprocess

import pytest
from carton_testlib import CARTON, have, leftover_state
from oci_bundle import new_id

pytestmark = pytest.mark.skipif(not (have("unshare") and have("findmnt")),
                                reason="needs util-linux's unshare and findmnt")

READ_ONLY_CGROUPS = ('for m in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do '
                     'mount -o remount,bind,ro "$m" || exit 99; done; exec "$@"')


def without_delegation(root, *args):
    """``carton --root ROOT ARGS`` there. Its stderr goes through a file, not a pipe: a
    container made by ``create`` keeps the caller's stdio, and a pipe would stay open."""
    import tempfile

    with tempfile.TemporaryFile("w+") as err:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            READ_ONLY_CGROUPS, "sh", CARTON, "--root", root, *args],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
                           if args[0] in ("run", "state") else subprocess.DEVNULL,
                           stderr=err, text=True, timeout=60)
        err.seek(0)
        r.stderr = err.read()
    return r


def test_a_container_without_limits_still_runs(state_root, rootfs):
    r = without_delegation(state_root, "run", "--network", "none", rootfs, "sh", "-c",
                           "grep memory /proc/self/cgroup; echo ran")
    assert r.returncode == 0, r.stderr
    assert "ran" in r.stdout
    warning = r.stderr.strip().splitlines()
    assert len(warning) == 1 and "no cgroup for the container" in warning[0]
    assert "Read-only file system" in warning[0]
    assert not leftover_state(state_root)


@pytest.mark.parametrize("flags, fields", [
    (["-m", "32m"], "memory"),
    (["--cpus", "0.5", "--pids-limit", "10"], "cpu, pids"),
])
def test_a_container_with_limits_says_what_is_missing(state_root, rootfs, flags, fields):
    r = without_delegation(state_root, "run", "--network", "none", *flags, rootfs, "true")
    assert r.returncode == 125
    [line] = r.stderr.strip().splitlines()
    assert f"cannot apply linux.resources ({fields}) without a cgroup" in line
    assert "Read-only file system" in line and "delegate a cgroup subtree" in line
    assert not leftover_state(state_root)


def test_an_oci_container_without_a_cgroup(oci, state_root):
    """create/start/state/pause/delete, as an engine would, where cgroups are read-only."""
    bundle = oci.bundle(["sleep", "60"])
    cid = new_id("nodeleg")
    r = without_delegation(state_root, "create", "-b", bundle.path, cid)
    assert r.returncode == 0, r.stderr
    try:
        assert "no cgroup for the container" in r.stderr
        r = without_delegation(state_root, "start", cid)
        assert r.returncode == 0, r.stderr
        state = json.loads(without_delegation(state_root, "state", cid).stdout)
        assert state["status"] == "running"
        r = without_delegation(state_root, "pause", cid)
        assert r.returncode == 1
        assert "has no cgroup of its own" in r.stderr
    finally:
        r = without_delegation(state_root, "delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not leftover_state(state_root)
