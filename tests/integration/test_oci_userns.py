"""User namespaces (``uidMappings``/``gidMappings``): root in the container, someone else outside."""

import os
import shutil
import tempfile

import pytest
from oci_bundle import OCI, wait_until

from carton.rootfs import busybox

HOST_BASE = 200000  # container IDs 0..65535 are host IDs 200000..265535


@pytest.fixture(scope="module")
def open_dir():
    """A directory every user may enter: the container's root (host uid 200000) must reach the
    rootfs and volume sources through it, which pytest's own 0700 temporary directories forbid."""
    path = tempfile.mkdtemp(prefix="carton-test-userns-")
    os.chmod(path, 0o755)
    busybox.build(os.path.join(path, "rootfs"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def oci(carton, open_dir, tmp_path):
    o = OCI(carton, os.path.join(open_dir, "rootfs"), tmp_path)
    try:
        yield o
    finally:
        o.cleanup()


def userns_bundle(oci, script, **kwargs):
    b = oci.bundle(["sh", "-c", script], **kwargs)
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]
    return b.write()


def test_root_inside_is_someone_else_outside(oci):
    b = userns_bundle(oci, "id -u; cat /proc/self/uid_map /proc/self/gid_map; hostname;"
                           " ls /dev/null /dev/zero /sys/fs/cgroup/pids >/dev/null && echo mounts-ok")
    out = oci.output(b).split()
    assert out[0] == "0"
    assert out[1:7] == ["0", str(HOST_BASE), "65536"] * 2
    assert out[-2:] == ["carton", "mounts-ok"]


def test_host_sees_the_mapped_uid_and_files(oci, open_dir):
    import pathlib

    shared = pathlib.Path(tempfile.mkdtemp(dir=open_dir))
    os.chown(shared, HOST_BASE, HOST_BASE)  # the container's root owns it
    b = userns_bundle(oci, "touch /tmp/made-inside; sleep 30")
    b.bind(shared, "/tmp")
    cid = oci.started(b)
    pid = oci.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert uids == [str(HOST_BASE)] * 4
    made = wait_until(lambda: (shared / "made-inside").exists() and shared / "made-inside",
                      what="the file made inside")
    assert (made.stat().st_uid, made.stat().st_gid) == (HOST_BASE, HOST_BASE)
    # exec joins the user namespace too: root inside again.
    r = oci.check("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert r.stdout.split()[:4] == ["0", "0", str(HOST_BASE), "65536"]
    oci.check("delete", "--force", cid)


def test_host_files_are_not_root_inside(oci):
    """The rootfs belongs to the host's root, which is not mapped: nobody, and read-only to us."""
    b = userns_bundle(oci, "stat -c %u /bin/busybox; echo x > /etc/passwd 2>/dev/null || echo refused")
    b.config["root"]["readonly"] = False
    b.write()
    assert oci.output(b).split() == ["65534", "refused"]


def test_a_user_in_the_user_namespace(oci):
    b = userns_bundle(oci, "id -u; id -g; grep CapEff /proc/self/status")
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.write()
    out = oci.output(b).split()
    assert out[:2] == ["1000", "1000"] and out[-1] == "0000000000000000"


def test_mappings_without_a_user_namespace_are_refused(oci):
    b = oci.bundle(["true"])
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": HOST_BASE, "size": 1}]
    b.write()
    cid, r = oci.create(b)
    assert r.returncode == 1 and "user" in r.stderr
    assert not os.path.exists(oci.state_dir(cid))
