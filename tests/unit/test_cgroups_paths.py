"""Pure logic of the cgroup layer: reading mountinfo, choosing a layout, placing a cgroupsPath.

No cgroup is touched here: the kernel's files are replaced by sample text
from real machines (v1, systemd hybrid, unified v2, a container without a
cgroup namespace).
"""

import json

import pytest

from carton import cgroups
from carton.cgroups import detect, paths, resources
from carton.errors import CartonError

# An older Ubuntu: v1 only, cpu+cpuacct and net_cls+net_prio mounted together.
V1 = """\
25 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup \
rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup \
rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
37 30 0:33 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer
38 30 0:34 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,devices
39 30 0:35 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup \
rw,cpuset,clone_children
40 30 0:36 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup \
rw,net_cls,net_prio
"""

# systemd's hybrid layout: the same, plus cgroup2 at /sys/fs/cgroup/unified.
HYBRID = V1 + """\
32 30 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:11 - cgroup2 cgroup2 rw,nsdelegate
"""

# Unified: one cgroup2 mount at /sys/fs/cgroup.
V2 = """\
25 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""

OWN_V1 = """\
12:pids:/user.slice/user-1000.slice/session-2.scope
11:net_cls,net_prio:/
10:memory:/user.slice/user-1000.slice/session-2.scope
9:cpuset:/
8:devices:/user.slice
7:freezer:/
6:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
"""

SESSION = "/user.slice/user-1000.slice/session-2.scope"


def mounts(text):
    return detect.parse_mountinfo(text)


def own(text=OWN_V1):
    return detect.parse_proc_cgroup(text)


# -- mountinfo and /proc/self/cgroup --------------------------------------------------


def test_mountinfo_v1_hierarchies():
    found = mounts(V1)
    assert [m.point for m in found] == [
        "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/devices",
        "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/net_cls,net_prio"]
    assert found[0].controllers == ("name=systemd",)  # xattr and release_agent= are mount options
    assert found[1].controllers == ("cpu", "cpuacct")
    assert found[6].controllers == ("cpuset",)         # clone_children is a mount option
    assert all(m.version == 1 and m.root == "/" for m in found)


def test_mountinfo_cgroup2_and_escapes():
    text = V2 + "41 30 0:40 / /mnt/my\\040cgroups rw - cgroup cgroup rw,name=test\n"
    found = mounts(text)
    assert (found[0].point, found[0].version, found[0].controllers) == ("/sys/fs/cgroup", 2, ())
    assert found[1].point == "/mnt/my cgroups"
    assert found[1].controllers == ("name=test",)


def test_proc_cgroup_keys():
    table = own()
    assert table[frozenset({"cpu", "cpuacct"})] == "/user.slice"
    assert table[frozenset({"name=systemd"})] == SESSION
    assert table[frozenset()] == SESSION  # the v2 line, 0::


@pytest.mark.parametrize("text, expected", [
    (V1, "v1"),
    (HYBRID, "hybrid"),
    (V2, "v2"),
    # a VPN tool's net_cls mount on a unified machine does not make it hybrid
    (V2 + "50 30 0:50 / /sys/fs/cgroup/net_cls rw - cgroup net_cls rw,net_cls\n", "v2"),
    ("25 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n", None),
])
def test_layout(text, expected):
    assert detect.layout(mounts(text)) == expected


def test_a_hierarchy_mounted_twice_counts_once_and_sys_fs_cgroup_wins():
    text = "20 1 0:31 / /var/lib/somewhere/memory rw - cgroup cgroup rw,memory\n" + V1
    v1, _ = detect.hierarchies(mounts(text))
    memory = [m for m in v1 if "memory" in m.controllers]
    assert [m.point for m in memory] == ["/sys/fs/cgroup/memory"]


# -- cleaning cgroupsPath -------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    ("/default/web", "/default/web"),
    ("/a/../../b", "/b"),
    ("//a//b/", "/a/b"),
    ("/../../../../etc", "/etc"),
    ("a/b", "a/b"),
    ("../../b", "b"),
    ("./a/./b/..", "a"),
    ("a/../..", "."),
    ("", ""),
])
def test_clean(given, expected):
    assert paths.clean(given) == expected


def test_inner_path_defaults_to_the_id_relative_like_runc():
    assert paths.inner_path(None, "web") == "web"
    assert paths.inner_path("", "web") == "web"
    assert paths.inner_path("/libpod_parent/libpod-abc", "abc") == "/libpod_parent/libpod-abc"


@pytest.mark.parametrize("bad", ["system.slice:docker:web", ":runc:web", "/", ".", "a/.."])
def test_inner_path_refuses(bad):
    with pytest.raises(CartonError) as e:
        paths.inner_path(bad, "web")
    if ":" in bad:
        assert "systemd cgroup paths need --systemd-cgroup, which is not supported yet" in str(e.value)


# -- resolving to directories -------------------------------------------------------


def test_v1_absolute_path_goes_under_every_mount_point():
    result = paths.resolve("/default/web", mounts(V1), own())
    assert result == {
        "name=systemd": "/sys/fs/cgroup/systemd/default/web",
        "cpu": "/sys/fs/cgroup/cpu,cpuacct/default/web",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/default/web",
        "memory": "/sys/fs/cgroup/memory/default/web",
        "pids": "/sys/fs/cgroup/pids/default/web",
        "freezer": "/sys/fs/cgroup/freezer/default/web",
        "devices": "/sys/fs/cgroup/devices/default/web",
        "cpuset": "/sys/fs/cgroup/cpuset/default/web",
        "net_cls": "/sys/fs/cgroup/net_cls,net_prio/default/web",
        "net_prio": "/sys/fs/cgroup/net_cls,net_prio/default/web",
    }
    assert json.loads(json.dumps(result)) == result


def test_v1_relative_path_goes_under_our_own_cgroup_in_each_hierarchy():
    result = paths.resolve("web", mounts(V1), own())
    assert result["memory"] == f"/sys/fs/cgroup/memory{SESSION}/web"
    assert result["devices"] == "/sys/fs/cgroup/devices/user.slice/web"
    assert result["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/user.slice/web"
    assert result["freezer"] == "/sys/fs/cgroup/freezer/web"
    assert result["name=systemd"] == f"/sys/fs/cgroup/systemd{SESSION}/web"


def test_hybrid_also_places_the_container_in_the_unified_hierarchy():
    absolute = paths.resolve("/default/web", mounts(HYBRID), own())
    assert absolute["unified"] == "/sys/fs/cgroup/unified/default/web"
    assert absolute["memory"] == "/sys/fs/cgroup/memory/default/web"
    relative = paths.resolve("web", mounts(HYBRID), own())
    assert relative["unified"] == f"/sys/fs/cgroup/unified{SESSION}/web"


def test_v2_absolute_and_relative():
    assert paths.resolve("/default/web", mounts(V2), own()) == {"unified": "/sys/fs/cgroup/default/web"}
    # relative: next to our own cgroup (its parent), which already holds processes
    assert paths.resolve("web", mounts(V2), own()) == {
        "unified": "/sys/fs/cgroup/user.slice/user-1000.slice/web"}
    assert paths.resolve("web", mounts(V2), own("0::/\n")) == {"unified": "/sys/fs/cgroup/web"}


def test_escape_attempts_stay_inside_the_hierarchy():
    inner = paths.inner_path("/../../../../etc", "web")
    assert paths.resolve(inner, mounts(V2), own()) == {"unified": "/sys/fs/cgroup/etc"}
    inner = paths.inner_path("../../../../x", "web")
    assert paths.resolve(inner, mounts(V1), own())["freezer"] == "/sys/fs/cgroup/freezer/x"


def test_container_without_cgroup_namespace_sees_only_its_subtree():
    # docker without cgroupns: the mount shows /docker/abc at the mount point
    text = "1203 1202 0:31 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    result = paths.resolve("web", mounts(text), own("4:memory:/docker/abc\n"))
    assert result == {"memory": "/sys/fs/cgroup/memory/web"}
    with pytest.raises(CartonError, match="not inside the hierarchy"):
        paths.resolve("web", mounts(text), own("4:memory:/elsewhere\n"))


def test_no_cgroup_filesystem():
    with pytest.raises(CartonError, match="no cgroup filesystem"):
        paths.resolve("/web", mounts("25 0 8:1 / / rw - ext4 /dev/sda1 rw\n"), own())


def test_from_paths_picks_the_driver_by_the_recorded_keys():
    v2 = cgroups.from_paths({"unified": "/sys/fs/cgroup/web"})
    assert v2.version == 2 and v2.paths == {"unified": "/sys/fs/cgroup/web"}
    hybrid = cgroups.from_paths({"memory": "/sys/fs/cgroup/memory/web",
                                 "unified": "/sys/fs/cgroup/unified/web"})
    assert hybrid.version == 1
    assert hybrid.directories() == ["/sys/fs/cgroup/memory/web", "/sys/fs/cgroup/unified/web"]


# -- linux.resources --------------------------------------------------------------------


def test_resources_device_rules_in_runc_order():
    plan = resources.check({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "mrw"},
        {"allow": False, "type": "b", "major": 8, "access": "w"},
    ]})
    assert plan.devices[:3] == [(False, "a *:* rwm"), (True, "c 10:229 rwm"), (False, "b 8:* w")]
    assert plan.devices[3:] == list(resources.DEFAULT_RULES)
    assert plan.spec_devices


def test_resources_device_rules_always_start_from_deny_all():
    plan = resources.check({"devices": [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}]})
    assert plan.devices[:2] == [(False, "a *:* rwm"), (True, "c 1:3 r")]
    plan = resources.check({"devices": [{"allow": True, "access": "rwm"}]})  # allow all: a black-list
    assert plan.devices[:2] == [(False, "a *:* rwm"), (True, "a *:* rwm")]


def test_resources_none_still_confines_devices():
    plan = resources.check(None)
    assert plan.devices[0] == resources.DENY_ALL and (True, "c 1:3 rwm") in plan.devices
    assert (plan.pids, plan.memory, plan.spec_devices) == (None, {}, False)


def test_resources_limits():
    plan = resources.check({"pids": {"limit": 100}, "memory": {"limit": 1 << 30}})
    assert (plan.pids, plan.memory) == (100, {"limit": 1 << 30})
    plan = resources.check({"pids": {"limit": -1}, "memory": {"limit": 0}})
    assert (plan.pids, plan.memory) == (-1, {})


def test_resources_zero_values_from_docker_are_not_settings():
    plan = resources.check({"cpu": {"shares": 0, "cpus": ""}, "blockIO": {}, "hugepageLimits": [],
                            "memory": {"disableOOMKiller": False, "swap": 0}})
    assert (plan.memory, plan.cpu, plan.blkio, plan.hugepages) == ({}, {}, {}, [])


@pytest.mark.parametrize("given, field", [
    ({"rdma": {"mlx5_1": {"hcaHandles": 3}}}, "linux.resources.rdma.mlx5_1.hcaHandles"),
    ({"pids": {"limit": 5, "other": 1}}, "linux.resources.pids.other"),
    ({"future": {"knob": "x"}}, "linux.resources.future.knob"),
])
def test_resources_not_supported_yet_names_the_field(given, field):
    with pytest.raises(CartonError) as e:
        resources.check(given)
    assert str(e.value) == f"{field} is not supported yet"


@pytest.mark.parametrize("rule, message", [
    ({"allow": True, "type": "x", "access": "r"}, "devices[0].type must be a, b or c"),
    ({"allow": True, "type": "c", "access": ""}, "devices[0].access must be made of r, w and m"),
    ({"allow": True, "type": "c", "access": "rwx"}, "devices[0].access must be made of r, w and m"),
    ({"allow": "yes", "access": "r"}, "devices[0].allow must be true or false"),
    ({"allow": True, "type": "c", "major": "1", "access": "r"}, "devices[0].major must be a device number"),
])
def test_resources_bad_device_rules(rule, message):
    with pytest.raises(CartonError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resources.check({"devices": [rule]})


def test_kernel_memory_is_ignored_with_a_warning():
    plan = resources.check({"memory": {"kernel": 1 << 20}})
    assert plan.warnings and "memory.kernel" in plan.warnings[0]
