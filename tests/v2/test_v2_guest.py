"""The machine is cgroup v2 only, Carton sees it so, and a container lands in its own cgroup.

The first tests prove the machine (in the VM: that the guest was booted as meant); the
others prove Carton on it: detection picks the v2 driver, and ``carton run`` places the
container's init in ``/sys/fs/cgroup/carton-<id>`` and removes that cgroup afterwards.
"""

import ctypes
import json
import os
import signal
import subprocess

from carton import cgroups
from carton.cgroups import detect

CGROUP2_SUPER_MAGIC = 0x63677270  # <linux/magic.h>
CONTROLLERS = {"cpu", "memory", "pids", "io"}


def _fs_type(path):
    """``statfs(2)``'s ``f_type``: the file system's magic number (the first field, a long)."""
    buf = ctypes.create_string_buffer(256)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(path.encode(), buf) != 0:
        raise OSError(ctypes.get_errno(), "statfs", path)
    return ctypes.c_long.from_buffer(buf).value


def _read(path):
    with open(path) as f:
        return f.read()


def test_sys_fs_cgroup_is_cgroup2_and_there_is_no_v1(cgroup_root):
    assert _fs_type(cgroup_root) == CGROUP2_SUPER_MAGIC
    with open("/proc/self/mountinfo") as f:
        v1 = [line for line in f if " - cgroup " in line]
    assert not v1, f"cgroup v1 hierarchies are mounted: {v1}"
    lines = _read("/proc/self/cgroup").splitlines()
    assert len(lines) == 1 and lines[0].startswith("0::"), lines


def test_the_container_controllers_are_there_and_handed_down(cgroup_root):
    available = set(_read(f"{cgroup_root}/cgroup.controllers").split())
    assert CONTROLLERS <= available
    enabled = set(_read(f"{cgroup_root}/cgroup.subtree_control").split())
    assert CONTROLLERS <= enabled


def test_carton_sees_v2_and_picks_the_v2_driver(cgroup_root):
    mounts = detect.read_mounts()
    assert detect.layout(mounts) == "v2"
    name = "carton-v2-probe-" + os.urandom(4).hex()
    mgr = cgroups.manager("/" + name, "ignored")
    assert type(mgr).__module__ == "carton.cgroups.v2" and mgr.version == 2
    assert mgr.paths == {"unified": f"{cgroup_root}/{name}"}
    assert not os.path.exists(mgr.paths["unified"]), "manager() must not create anything"
    assert type(cgroups.from_paths(json.loads(json.dumps(mgr.paths)))) is type(mgr)


def test_carton_runs_a_container(carton, rootfs):
    result = carton("run", rootfs, "/bin/true")
    assert result.returncode == 0, result.stderr
    result = carton("run", rootfs, "/bin/sh", "-c", "echo hello; exit 3")
    assert (result.returncode, result.stdout) == (3, "hello\n"), result.stderr


def test_the_init_is_placed_in_the_container_cgroup(carton, rootfs, cgroup_root, cgroup_of):
    proc = carton.popen("run", "-i", rootfs, "/bin/sh", "-c", "read go; cat /proc/self/cgroup",
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = None
    try:
        pid = carton.init_pid()
        (entry,) = [e for e in os.listdir(carton.root) if not e.startswith(".")]
        record = json.loads(_read(os.path.join(carton.root, entry, "state.json")))
        directory = record["cgroup_paths"]["unified"]
        assert record["cgroup_paths"] == {"unified": cgroup_root + cgroup_of(pid)}
        assert directory == f"{cgroup_root}/carton-{record['id']}"
        assert _read(f"{directory}/cgroup.procs").split() == [str(pid)]
        assert CONTROLLERS <= set(_read(f"{directory}/cgroup.controllers").split())
        out, err = proc.communicate("go\n", timeout=30)
        assert proc.returncode == 0, err
        assert out == "0::/\n", "the container has a cgroup namespace rooted at its own cgroup"
        assert not os.path.exists(directory), "the container's cgroup is removed when it ends"
    finally:
        if proc.poll() is None:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            proc.communicate(timeout=30)
