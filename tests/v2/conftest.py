"""Tests for a machine whose only cgroup layout is v2 ("unified"), as most machines are now.

They run wherever ``/sys/fs/cgroup`` is a ``cgroup2`` mount: on such a host directly, and
on every other one inside the VM that ``tests/vm`` boots (a Debian kernel booted with
``cgroup_no_v1=all``; see tests/vm/README.md). Elsewhere they are skipped, with a reason
that says how to run them. In the VM (``CARTON_IN_VM=1``) they are never skipped for that:
a VM that is not pure v2 is a broken VM, and its tests must fail.

The suite's own fixtures (``rootfs``, ``carton``, ``state_root``) and its leak check come
from ``tests/conftest.py``; the fixtures here are about cgroups, plus ``oci`` (OCI bundles
run as an engine would, from ``tests/integration/oci_bundle.py``).

Adding a test: put a ``test_v2_<topic>.py`` file here (the name must be unique in all of
``tests/``: the test directories are not packages). It runs in the VM with no other change.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))  # for oci_bundle
CGROUP_ROOT = "/sys/fs/cgroup"


def in_vm():
    return os.environ.get("CARTON_IN_VM") == "1"


def cgroup_filesystems(mountinfo="/proc/self/mountinfo"):
    """``{mount point: fstype}`` of the cgroup file systems mounted here (read directly, not
    through carton.cgroups: these tests check Carton's own detection against it)."""
    found = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0] if right else ""
            if fstype in ("cgroup", "cgroup2"):
                found[left.split()[4]] = fstype
    return found


def is_pure_v2():
    mounts = cgroup_filesystems()
    return mounts.get(CGROUP_ROOT) == "cgroup2" and "cgroup" not in mounts.values()


def pytest_collection_modifyitems(config, items):
    if in_vm() or is_pure_v2():
        return
    skip = pytest.mark.skip(reason="needs a machine with cgroup v2 only; this one is not, so these "
                                   "tests run in a VM instead: pytest tests/vm (see tests/vm/README.md)")
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(skip)


from oci_bundle import oci  # noqa: E402, F401  (a fixture: engines' calls, as in tests/integration)


@pytest.fixture
def cgroup_root():
    """The cgroup2 mount point, ``/sys/fs/cgroup``."""
    return CGROUP_ROOT


@pytest.fixture
def cgroup_of():
    """``cgroup_of(pid)``: a process's cgroup, the path in the ``0::PATH`` line of /proc/PID/cgroup."""
    return read_cgroup


def read_cgroup(pid="self"):
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("0::"):
            return line[3:]
    raise AssertionError(f"no cgroup v2 line in /proc/{pid}/cgroup: {lines}")
