"""The fields of a bundle's config.json, each checked from inside the container it made.

Most tests run the bundle in the foreground (``carton run --bundle B ID``) and
read what the container printed.
"""

import json
import os
import subprocess

import pytest
from oci_bundle import mount_points, wait_until

from carton.linux.caps import mask
from carton.rootfs import busybox


def sh(script):
    return ["sh", "-c", script]


def mountinfo_line(text, point):
    """The line of a mountinfo text for mount point ``point`` (the last, the one on top)."""
    lines = [line for line in text.splitlines()
             if " - " in line and len(line.split()) > 5 and line.split()[4] == point]
    assert lines, f"no mount at {point} in:\n{text}"
    return lines[-1]


def mount_options(line):
    return set(line.split()[5].split(","))


def status_field(text, name):
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in {text}")


# -- process ---------------------------------------------------------------------------


def test_hostname_and_domainname(oci):
    b = oci.bundle(sh("cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname"))
    b.config["hostname"] = "box"
    b.config["domainname"] = "example.org"
    b.write()
    assert oci.output(b).split() == ["box", "example.org"]
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read().strip() != "box"


def test_env_and_cwd(oci):
    b = oci.bundle(sh("echo $FOO; echo $EMPTY.; pwd"))
    b.process["env"] += ["FOO=bar baz", "EMPTY="]
    b.process["cwd"] = "/home/user"
    b.write()
    assert oci.output(b).splitlines() == ["bar baz", ".", "/home/user"]


def test_user_groups_and_umask(oci, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o777)
    scratch.chmod(0o777)
    b = oci.bundle(sh("grep -E '^(Uid|Gid|Groups):' /proc/self/status; "
                      "touch /tmp/file; mkdir /tmp/dir; stat -c %a /tmp/file /tmp/dir"))
    b.bind(scratch, "/tmp")
    b.process["user"] = {"uid": 1000, "gid": 100, "additionalGids": [10, 65534], "umask": 0o077}
    b.write()
    out = oci.output(b).splitlines()
    assert out[0].split() == ["Uid:"] + ["1000"] * 4
    assert out[1].split() == ["Gid:"] + ["100"] * 4
    assert sorted(out[2].split()[1:]) == ["10", "65534"]
    assert out[3:] == ["600", "700"]
    assert (scratch / "file").stat().st_uid == 1000
    assert (scratch / "file").stat().st_gid == 100


def test_rlimits(oci):
    b = oci.bundle(sh("grep 'Max open files' /proc/self/limits; grep 'Max core' /proc/self/limits"))
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 5678},
                            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    b.write()
    nofile, core = oci.output(b).splitlines()
    assert nofile.split()[3:5] == ["1234", "5678"]
    assert core.split()[4:6] == ["0", "0"]


def test_oom_score_adj(oci):
    b = oci.bundle(sh("cat /proc/self/oom_score_adj"))
    b.process["oomScoreAdj"] = 432
    b.write()
    assert oci.output(b).strip() == "432"


@pytest.mark.parametrize("value,expected", [(True, "1"), (False, "0")])
def test_no_new_privileges(oci, value, expected):
    b = oci.bundle(sh("grep NoNewPrivs /proc/self/status"))
    b.process["noNewPrivileges"] = value
    b.write()
    assert oci.output(b).split() == ["NoNewPrivs:", expected]


def test_capabilities_of_root(oci):
    b = oci.bundle(sh("grep ^Cap /proc/self/status"))
    kept = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    b.process["capabilities"] = {name: list(kept) for name in
                                 ("bounding", "effective", "permitted", "inheritable")}
    b.write()
    out = oci.output(b)
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd"):
        assert int(status_field(out, field), 16) == mask(kept), (field, out)
    assert int(status_field(out, "CapAmb"), 16) == 0


def test_ambient_capability_of_a_user(oci):
    b = oci.bundle(sh("id -u; grep ^Cap /proc/self/status"))
    b.process["user"] = {"uid": 1000, "gid": 1000}
    caps = ["CAP_NET_BIND_SERVICE"]
    b.process["capabilities"] = {name: list(caps) for name in
                                 ("bounding", "effective", "permitted", "inheritable", "ambient")}
    b.write()
    out = oci.output(b)
    assert out.split()[0] == "1000"
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status_field(out, field), 16) == mask(caps), (field, out)


def test_no_capabilities_for_a_user_without_ambient(oci):
    b = oci.bundle(sh("grep ^Cap /proc/self/status"))
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.write()  # the template's three capabilities, none ambient
    out = oci.output(b)
    for field in ("CapPrm", "CapEff", "CapAmb"):
        assert int(status_field(out, field), 16) == 0, (field, out)
    assert int(status_field(out, "CapBnd"), 16) == mask(
        ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])


# -- root and mounts ----------------------------------------------------------------------


def test_readonly_root(oci, rootfs):
    b = oci.bundle(sh("touch /new-file 2>&1; echo rc=$?; cat /proc/self/mountinfo"))
    out = oci.output(b)
    assert "Read-only file system" in out
    assert "rc=1" in out
    assert "ro" in mount_options(mountinfo_line(out, "/"))
    assert not os.path.exists(os.path.join(rootfs, "new-file"))


def test_writable_root(oci, scratch_rootfs):
    b = oci.bundle(sh("touch /new-file && echo made"), rootfs=scratch_rootfs)
    b.config["root"]["readonly"] = False
    b.write()
    assert oci.output(b).strip() == "made"
    assert os.path.exists(os.path.join(scratch_rootfs, "new-file"))


def test_bind_mount_options(oci, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("hi from the host\n")
    b = oci.bundle(sh("cat /run/hello; touch /run/x 2>&1; cat /proc/self/mountinfo"))
    b.bind(data, "/run", "ro", "nosuid", "nodev", "noexec")
    out = oci.output(b)
    assert out.startswith("hi from the host\n")
    assert "Read-only file system" in out
    assert mount_options(mountinfo_line(out, "/run")) >= {"ro", "nosuid", "nodev", "noexec"}
    assert not (data / "x").exists()


def test_bind_mount_with_propagation(oci, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("hi\n")
    b = oci.bundle(sh("cat /run/hello"))
    b.bind(data, "/run", "rw", "rslave")
    assert oci.output(b) == "hi\n"


def test_tmpfs_size_and_mode(oci):
    b = oci.bundle(sh("stat -c %a /tmp; grep ' /tmp ' /proc/self/mountinfo"))
    b.mount("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "size=1m", "mode=710"])
    out = oci.output(b).splitlines()
    assert out[0] == "710"
    line = mountinfo_line("\n".join(out[1:]), "/tmp")
    assert line.split(" - ")[1].split()[0] == "tmpfs"
    assert "size=1024k" in line.split(" - ")[1]
    assert mount_options(line) >= {"nosuid", "nodev"}


def test_cgroup_mount_is_read_only_and_the_containers_own(oci):
    # The template mounts the cgroup filesystems read-only at /sys/fs/cgroup.
    b = oci.bundle(sh("cat /sys/fs/cgroup/pids/cgroup.procs; echo --; mkdir /sys/fs/cgroup/pids/x "
                      "2>&1; echo --; grep /sys/fs/cgroup /proc/self/mountinfo"))
    out = oci.output(b).split("--\n")
    assert "1" in out[0].split()  # the container's own cgroup, in its own PID namespace
    assert "Read-only file system" in out[1]
    pids = mountinfo_line(out[2], "/sys/fs/cgroup/pids")
    assert "ro" in mount_options(pids)
    assert pids.split()[3] == "/"  # the root of the mount is the container's cgroup
    assert not os.path.exists(os.path.join(b.cgroup_dir("pids"), "x"))


# -- namespaces --------------------------------------------------------------------------


def test_join_a_network_namespace_by_path(oci):
    helper = oci.helper("unshare", "--net", "sleep", "60")
    own = os.readlink("/proc/self/ns/net")
    theirs = wait_until(lambda: (lambda link: link if link and link != own else None)(
        _readlink(f"/proc/{helper.pid}/ns/net")), what="unshare to make its namespace")
    b = oci.bundle(sh("readlink /proc/self/ns/net"))
    b.namespace("network", f"/proc/{helper.pid}/ns/net")
    assert oci.output(b).strip() == theirs


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def test_without_a_network_namespace_the_hosts_is_shared(oci):
    b = oci.bundle(sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts"))
    b.namespace("network", False)
    net, uts = oci.output(b).split()
    assert net == os.readlink("/proc/self/ns/net")
    assert uts != os.readlink("/proc/self/ns/uts")


def test_devices(oci):
    b = oci.bundle(sh("stat -c '%F %a %u:%g %t:%T' /dev/fuse /dev/my/tty9"))
    b.linux["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600,
         "uid": 0, "gid": 0},
        {"path": "/dev/my/tty9", "type": "c", "major": 4, "minor": 9, "fileMode": 0o620,
         "uid": 1000, "gid": 5},
    ]
    b.write()
    assert oci.output(b).splitlines() == ["character special file 600 0:0 a:e5",
                                          "character special file 620 1000:5 4:9"]


def test_sysctl_in_the_containers_namespaces(oci):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_forward = f.read()
    with open("/proc/sys/kernel/shmmni") as f:
        host_shmmni = f.read()
    b = oci.bundle(sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; "
                      "echo 0 > /proc/sys/net/ipv4/ip_forward 2>&1 || echo read-only"))
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1" if host_forward.strip() == "0" else "0",
                         "kernel.shmmni": "1000"}
    b.write()
    out = oci.output(b).split()
    assert out[0] == b.linux["sysctl"]["net.ipv4.ip_forward"]
    assert out[1] == "1000"
    assert "read-only" in out  # /proc/sys is one of the template's readonlyPaths
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_forward
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read() == host_shmmni


def test_masked_and_readonly_paths(oci, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    b = oci.bundle(sh("wc -c < /proc/cpuinfo; ls /proc/tty | wc -l; "
                      "touch /run/x 2>&1 || true; echo; cat /proc/self/mountinfo"))
    b.bind(data, "/run")
    b.linux["maskedPaths"] += ["/proc/cpuinfo", "/proc/tty"]
    b.linux["readonlyPaths"] += ["/run"]
    b.write()
    out = oci.output(b).splitlines()
    assert out[0].strip() == "0"
    assert out[1].strip() == "0"
    assert "Read-only file system" in out[2]
    assert "ro" in mount_options(mountinfo_line("\n".join(out[3:]), "/run"))
    assert not (data / "x").exists()


@pytest.mark.parametrize("propagation,tag", [
    ("rprivate", None), ("rslave", None), ("private", None), ("slave", None),
    ("rshared", "shared:"), ("shared", "shared:"), ("runbindable", "unbindable"),
])
def test_rootfs_propagation(oci, propagation, tag):
    b = oci.bundle(sh("cat /proc/self/mountinfo"))
    b.linux["rootfsPropagation"] = propagation
    b.write()
    fields = mountinfo_line(oci.output(b), "/").split(" - ")[0].split()[6:]
    if tag:
        assert any(f.startswith(tag) for f in fields), fields
    else:
        assert not any(f.startswith(("shared:", "master:")) for f in fields), fields


@pytest.fixture
def shared_parent(tmp_path):
    """A directory that is a shared mount of its own, as / is on a systemd host."""
    path = str(tmp_path / "shared-parent")
    os.mkdir(path)
    subprocess.run(["mount", "--bind", path, path], check=True)
    try:
        subprocess.run(["mount", "--make-private", path], check=True)
        subprocess.run(["mount", "--make-shared", path], check=True)
        yield path
    finally:
        subprocess.run(["umount", "--recursive", "--lazy", path], check=True)


def _in_shared_parent(oci, shared_parent, propagation):
    rootfs = os.path.join(shared_parent, "rootfs")
    busybox.build(rootfs)
    before = {p for p in mount_points() if p.startswith(shared_parent)}
    b = oci.bundle(sh("echo ok"), rootfs=rootfs)
    if propagation:
        b.linux["rootfsPropagation"] = propagation
    b.write()
    r = oci.run(b)
    leaked = {p for p in mount_points() if p.startswith(shared_parent)} - before
    return r, leaked


@pytest.mark.parametrize("propagation", [None, "rprivate", "rslave", "slave", "rshared", "shared"])
def test_a_rootfs_below_a_shared_mount(oci, shared_parent, propagation):
    r, leaked = _in_shared_parent(oci, shared_parent, propagation)
    assert r.ok and r.stdout == "ok\n", r
    assert not leaked


def test_a_rootfs_below_a_shared_mount_with_private_propagation(oci, shared_parent):
    # runc's tests/integration/mounts_propagation.bats does this, with "private".
    r, leaked = _in_shared_parent(oci, shared_parent, "private")
    assert not leaked
    assert r.ok and r.stdout == "ok\n", r


def test_annotations_in_state(oci):
    b = oci.bundle(["true"])
    b.config["annotations"] = {"org.example.owner": "tests", "io.carton/empty": ""}
    b.write()
    cid = oci.created(b)
    assert oci.state(cid)["annotations"] == b.config["annotations"]
    listed = json.loads(oci.check("list", "--format", "json").stdout)
    assert [s["annotations"] for s in listed if s["id"] == cid] == [b.config["annotations"]]


def test_absolute_cgroups_path(oci):
    b = oci.bundle(sh("cat /proc/self/cgroup; sleep 100"))
    cid = oci.created(b)
    pid = oci.state(cid)["pid"]
    # Every v1 hierarchy (on a hybrid host, joining the cgroup2 tree is Carton's choice).
    v1 = [d for d in b.cgroup_dirs() if not d.startswith("/sys/fs/cgroup/unified/")]
    assert b.cgroup_dir("pids") in v1
    for directory in v1:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            assert pid in [int(p) for p in f.read().split()], directory
    with open(f"/proc/{pid}/cgroup") as f:
        host_view = [line for line in f.read().splitlines() if not line.startswith("0::")]
    assert host_view
    for line in host_view:
        assert line.endswith(":" + b.cgroups_path), line
    oci.check("delete", cid)
    # Inside, with a cgroup namespace, the container's cgroup is the root.
    r = oci.run(oci.bundle(sh("cat /proc/self/cgroup")))
    assert r.ok, r
    lines = r.stdout.splitlines()
    assert lines and all(line.endswith(":/") for line in lines), lines


def test_no_new_mounts_on_the_host(oci, tmp_path, rootfs):
    """A whole container's worth of mounts, and not one of them shows up on the host."""
    data = tmp_path / "data"
    data.mkdir()

    def ours():  # other programs on this machine may mount things meanwhile
        return {p for p in mount_points() if p.startswith((str(tmp_path), rootfs, "/sys/fs/cgroup"))}

    before = ours()
    b = oci.bundle(sh("sleep 100")).bind(data, "/run")
    cid = oci.started(b)
    assert ours() == before
    oci.check("delete", "--force", cid)
    assert ours() == before
