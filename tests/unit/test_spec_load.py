"""Reading and checking ``config.json``: every field into the right object, every mistake named."""

import json
import os
import subprocess
import sys

import pytest

import carton
from carton.errors import CartonError
from carton.spec import load
from carton.spec.load import SpecError, from_dict, load_bundle
from carton.spec.model import (
    Capabilities,
    Device,
    Hook,
    IDMapping,
    Mount,
    Namespace,
    Process,
    Rlimit,
    Spec,
    User,
)


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


@pytest.fixture(autouse=True)
def no_lsm(tmp_path, monkeypatch):
    """Pretend the host has neither AppArmor nor SELinux, whatever the machine has."""
    monkeypatch.setattr(load, "APPARMOR_DIR", str(tmp_path / "no-apparmor"))
    monkeypatch.setattr(load, "SELINUX_DIR", str(tmp_path / "no-selinux"))


def minimal():
    return {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/"},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                                 {"type": "ipc"}, {"type": "network"}]},
    }


def write(bundle, config):
    (bundle / "config.json").write_text(json.dumps(config))


def fails(bundle, config, message):
    with pytest.raises(SpecError) as info:
        from_dict(config, str(bundle))
    assert message in str(info.value)
    assert info.value.exit_code == 1
    return str(info.value)


# -- load_bundle ----------------------------------------------------------------------


def test_load_bundle_minimal(bundle):
    write(bundle, minimal())
    spec = load_bundle(str(bundle))
    assert isinstance(spec, Spec)
    assert spec.oci_version == "1.0.2"
    assert spec.root_path == str(bundle / "rootfs")
    assert spec.root_readonly is False
    assert spec.process.args == ["sh"] and spec.process.cwd == "/"
    assert spec.process.capabilities is None  # not given: leave them as they are
    assert spec.hostname is None and spec.mounts == [] and spec.hooks == {}


def test_relative_bundle_path(bundle, monkeypatch):
    write(bundle, minimal())
    monkeypatch.chdir(bundle.parent)
    spec = load_bundle(bundle.name)
    assert spec.root_path == str(bundle / "rootfs")


def test_spec_error_is_a_carton_error():
    assert issubclass(SpecError, CartonError)
    assert SpecError("x").exit_code == 1


def test_no_config(bundle):
    with pytest.raises(SpecError, match=f"cannot read {bundle}/config.json: no such file"):
        load_bundle(str(bundle))


def test_no_bundle(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_bundle(str(tmp_path / "nope"))


def test_config_is_a_directory(bundle):
    (bundle / "config.json").mkdir()
    with pytest.raises(SpecError, match="cannot read .*config.json: is a directory"):
        load_bundle(str(bundle))


def test_invalid_json(bundle):
    (bundle / "config.json").write_text('{\n  "ociVersion": "1.0.0"\n  "root": {}\n}\n')
    with pytest.raises(SpecError) as info:
        load_bundle(str(bundle))
    assert str(info.value) == (f"cannot parse {bundle}/config.json: Expecting ',' delimiter "
                               "at line 3, column 3")


def test_not_utf8(bundle):
    (bundle / "config.json").write_bytes(b'{"ociVersion": "\xff"}')
    with pytest.raises(SpecError, match="not UTF-8"):
        load_bundle(str(bundle))


def test_not_an_object(bundle):
    (bundle / "config.json").write_text("[1, 2]")
    with pytest.raises(SpecError, match="expected a JSON object, found a list"):
        load_bundle(str(bundle))


# -- one mistake at a time -------------------------------------------------------------


def _set(config, dotted, value):
    """Set ``a.b[0].c`` in a config; ``...`` as the value deletes the key."""
    keys = []
    for part in dotted.split("."):
        name, _, index = part.partition("[")
        keys.append(name)
        if index:
            keys.append(int(index[:-1]))
    target = config
    for key in keys[:-1]:
        if isinstance(key, str) and key not in target:
            target[key] = {}
        target = target[key]
    if value is ...:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return config


@pytest.mark.parametrize("field, value, message", [
    # ociVersion
    ("ociVersion", ..., "config.json: ociVersion is required"),
    ("ociVersion", "2.0.0", 'config.json: ociVersion "2.0.0" is not supported (Carton supports 1.x)'),
    ("ociVersion", "0.5.0", "is not supported"),
    ("ociVersion", 1, "config.json: ociVersion must be a string, not a number"),
    # root
    ("root", ..., "config.json: root is required"),
    ("root", "rootfs", "config.json: root must be an object, not a string"),
    ("root.path", ..., "config.json: root.path is required"),
    ("root.path", "", "config.json: root.path must not be empty"),
    ("root.path", "missing", "missing does not exist"),
    ("root.path", "config.json", "config.json is not a directory"),
    ("root.readonly", "yes", "config.json: root.readonly must be true or false, not a string"),
    # process
    ("process", ..., "config.json: process is required"),
    ("process.args", ..., "config.json: process.args is required"),
    ("process.args", [], "config.json: process.args must not be empty"),
    ("process.args", "sh", "config.json: process.args must be a list, not a string"),
    ("process.args", ["sh", 1], "config.json: process.args[1] must be a string, not a number"),
    ("process.cwd", ..., "config.json: process.cwd is required"),
    ("process.cwd", "tmp", 'config.json: process.cwd "tmp" must be an absolute path'),
    ("process.env", ["A=1", "B"], 'config.json: process.env[1] "B" must be NAME=VALUE'),
    ("process.env", ["=1"], "process.env[0]"),
    ("process.env", "A=1", "process.env must be a list"),
    ("process.terminal", 1, "process.terminal must be true or false, not a number"),
    ("process.consoleSize", [24, 80], "process.consoleSize must be an object, not a list"),
    ("process.consoleSize.height", -1, "process.consoleSize.height -1 must be between 0 and 65535"),
    ("process.user", 0, "process.user must be an object"),
    ("process.user.uid", -1, "config.json: process.user.uid -1 must be between 0 and 4294967295"),
    ("process.user.uid", "0", "process.user.uid must be an integer, not a string"),
    ("process.user.uid", 1.0, "process.user.uid must be an integer, not a number"),
    ("process.user.uid", True, "process.user.uid must be an integer, not a boolean"),
    ("process.user.gid", 2**32, "process.user.gid"),
    ("process.user.additionalGids", [1, -2], "process.user.additionalGids[1] -2 must be between"),
    ("process.user.umask", 0o1000, "process.user.umask 512 must be between 0 and 511"),
    ("process.rlimits", [{"type": "RLIMIT_FOO", "hard": 1, "soft": 1}],
     'process.rlimits[0].type "RLIMIT_FOO" is not a resource limit Linux knows'),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1},
                         {"type": "RLIMIT_NOFILE", "hard": 2, "soft": 2}],
     "process.rlimits[1].type RLIMIT_NOFILE is given more than once"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1}], "process.rlimits[0].hard is required"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}],
     "process.rlimits[0].soft 2 is above the hard limit 1"),
    ("process.rlimits", [{"type": "RLIMIT_CORE", "hard": 2**64, "soft": 0}], "process.rlimits[0].hard"),
    ("process.rlimits", [{"hard": 1, "soft": 1}], "process.rlimits[0].type is required"),
    ("process.oomScoreAdj", 1001, "process.oomScoreAdj 1001 must be between -1000 and 1000"),
    ("process.oomScoreAdj", -1001, "process.oomScoreAdj"),
    ("process.noNewPrivileges", "true", "process.noNewPrivileges must be true or false"),
    ("process.capabilities", ["CAP_KILL"], "process.capabilities must be an object"),
    ("process.capabilities.bounding", ["CAP_KILL", "CAP_FOO", "cap_chown"],
     "config.json: process.capabilities.bounding has unknown capabilities: CAP_FOO, cap_chown"),
    ("process.capabilities.ambient", ["CAP_BAR"], "process.capabilities.ambient has unknown"),
    ("process.apparmorProfile", "docker-default",
     "config.json: process.apparmorProfile is set, but AppArmor is not available on this host"),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0",
     "config.json: process.selinuxLabel is set, but SELinux is not available on this host"),
    ("process.ioPriority", {"class": "IOPRIO_CLASS_RT", "priority": 1},
     "config.json: process.ioPriority is not supported by Carton yet"),
    ("process.scheduler", {"policy": "SCHED_FIFO"}, "process.scheduler is not supported"),
    ("process.execCPUAffinity", {"initial": "0"}, "process.execCPUAffinity is not supported"),
    # hostname, domainname
    ("hostname", 7, "config.json: hostname must be a string, not a number"),
    ("hostname", "x" * 65, "is longer than 64 bytes"),
    ("domainname", ["a"], "domainname must be a string"),
    # mounts
    ("mounts", {}, "config.json: mounts must be a list, not an object"),
    ("mounts", ["/proc"], "config.json: mounts[0] must be an object, not a string"),
    ("mounts", [{"type": "proc", "source": "proc"}], "config.json: mounts[0].destination is required"),
    ("mounts", [{"destination": "proc", "type": "proc"}],
     'config.json: mounts[0].destination "proc" must be an absolute path'),
    ("mounts", [{"destination": "/x", "type": "ext4", "source": "/dev/sda1"}],
     'config.json: mounts[0].type "ext4" is not supported'),
    ("mounts", [{"destination": "/x", "type": "overlay", "source": "overlay"}], '"overlay" is not supported'),
    ("mounts", [{"destination": "/x", "source": "/tmp"}],
     "config.json: mounts[0].type is required unless the mount is a bind mount"),
    ("mounts", [{"destination": "/x", "type": "none", "source": "/tmp", "options": ["ro"]}],
     "mounts[0].type is required unless the mount is a bind mount"),
    ("mounts", [{"destination": "/x", "type": "bind", "options": ["rbind"]}],
     "config.json: mounts[0].source is required for a bind mount"),
    ("mounts", [{"destination": "/x", "type": "proc", "options": "ro"}],
     "mounts[0].options must be a list, not a string"),
    ("mounts", [{"destination": "/x", "type": "proc", "options": [1]}],
     "mounts[0].options[0] must be a string, not a number"),
    ("mounts", [{"destination": "/x", "type": "bind", "source": "/tmp", "options": ["rbind"],
                 "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}],
     "config.json: mounts[0].uidMappings asks for an idmapped mount: idmapped mounts are not supported"),
    ("mounts", [{"destination": "/x", "type": "bind", "source": "/tmp", "options": ["rbind"],
                 "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}],
     "idmapped mounts are not supported"),
    ("mounts", [{"destination": "/x", "type": "bind", "source": "/tmp", "options": ["rbind", "idmap"]}],
     "idmapped mounts are not supported"),
    ("mounts", [{"destination": "/x", "type": "proc", "source": 5}], "mounts[0].source must be a string"),
    # linux.namespaces
    ("linux", [], "config.json: linux must be an object, not a list"),
    ("linux.namespaces", [{"type": "pid"}, {"type": "net"}],
     'config.json: linux.namespaces[1].type "net" is not a namespace type'),
    ("linux.namespaces", [{"type": "pid"}, {"type": "pid"}],
     'config.json: linux.namespaces[1].type "pid" is given more than once'),
    ("linux.namespaces", [{"type": "time"}], "time namespaces are not supported by Carton yet"),
    ("linux.namespaces", [{"path": "/proc/self/ns/pid"}], "linux.namespaces[0].type is required"),
    ("linux.namespaces", [{"type": "network", "path": "proc/self/ns/net"}],
     'linux.namespaces[0].path "proc/self/ns/net" must be an absolute path'),
    ("linux.namespaces", [{"type": "network", "path": "/no/such/netns"}],
     "config.json: linux.namespaces[0].path /no/such/netns does not exist"),
    # id mappings and the user namespace
    ("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}],
     "config.json: linux.uidMappings and linux.gidMappings need a user namespace"),
    ("linux.gidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}], "need a user namespace"),
    ("linux.namespaces", [{"type": "user"}, {"type": "mount"}],
     "config.json: linux.uidMappings must not be empty: a new user namespace needs its id mappings"),
    # devices
    ("linux.devices", [{"path": "dev/fuse", "type": "c", "major": 10, "minor": 229}],
     'config.json: linux.devices[0].path "dev/fuse" must be an absolute path'),
    ("linux.devices", [{"path": "/dev/fuse", "type": "x", "major": 10, "minor": 229}],
     'linux.devices[0].type "x" must be c (character), b (block)'),
    ("linux.devices", [{"path": "/dev/fuse", "type": "c", "minor": 229}],
     "linux.devices[0].major is required"),
    ("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": "229"}],
     "linux.devices[0].minor must be an integer, not a string"),
    ("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "uid": -1}],
     "linux.devices[0].uid -1"),
    ("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": "0666"}],
     "linux.devices[0].fileMode must be an integer"),
    ("linux.devices", [{"type": "c", "major": 1, "minor": 3}], "linux.devices[0].path is required"),
    # the rest of linux
    ("linux.sysctl", {"net.ipv4.ip_forward": 1},
     'config.json: linux.sysctl["net.ipv4.ip_forward"] must be a string, not a number'),
    ("linux.sysctl", ["net.ipv4.ip_forward=1"], "linux.sysctl must be an object"),
    ("linux.maskedPaths", ["proc/kcore"], 'linux.maskedPaths[0] "proc/kcore" must be an absolute path'),
    ("linux.readonlyPaths", ["/proc/sys", "sys"], 'linux.readonlyPaths[1] "sys" must be an absolute'),
    ("linux.rootfsPropagation", "recursive", 'config.json: linux.rootfsPropagation "recursive" must be '
     "one of private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable"),
    ("linux.cgroupsPath", 5, "linux.cgroupsPath must be a string"),
    ("linux.resources", [], "config.json: linux.resources must be an object, not a list"),
    ("linux.seccomp", "unconfined", "linux.seccomp must be an object, not a string"),
    ("linux.mountLabel", "system_u:object_r:container_file_t:s0",
     "config.json: linux.mountLabel is set, but SELinux is not available on this host"),
    ("linux.intelRdt", {"closID": "guaranteed_group"}, "config.json: linux.intelRdt is not supported by "
     "Carton yet"),
    ("linux.timeOffsets", {"monotonic": {"secs": 1}}, "linux.timeOffsets is not supported"),
    ("linux.memoryPolicy", {"mode": "MPOL_BIND"}, "linux.memoryPolicy is not supported"),
    ("linux.netDevices", {"eth1": {}}, "linux.netDevices is not supported"),
    ("linux.personality", {"domain": "LINUX32"}, "linux.personality is not supported by Carton yet"),
    ("linux.personality", {"domain": "LINUX", "flags": ["SHORT_INODE"]}, "linux.personality"),
    # hooks
    ("hooks", [], "config.json: hooks must be an object, not a list"),
    ("hooks.prestart", {"path": "/bin/true"}, "hooks.prestart must be a list"),
    ("hooks.createRuntime", [{"args": ["x"]}], "config.json: hooks.createRuntime[0].path is required"),
    ("hooks.poststop", [{"path": "true"}], 'config.json: hooks.poststop[0].path "true" must be an absolute'),
    ("hooks.poststart", [{"path": "/bin/true", "args": "x"}], "hooks.poststart[0].args must be a list"),
    ("hooks.startContainer", [{"path": "/bin/true", "env": [1]}],
     "hooks.startContainer[0].env[0] must be a string"),
    ("hooks.createContainer", [{"path": "/bin/true", "timeout": 0}],
     "config.json: hooks.createContainer[0].timeout 0 must be at least 1"),
    ("hooks.createContainer", [{"path": "/bin/true", "timeout": 1.5}],
     "hooks.createContainer[0].timeout must be an integer"),
    # annotations
    ("annotations", {"a": 1}, 'config.json: annotations["a"] must be a string, not a number'),
    ("annotations", ["a=b"], "config.json: annotations must be an object, not a list"),
])
def test_errors(bundle, field, value, message):
    (bundle / "config.json").write_text("{}")  # something that is not a directory
    fails(bundle, _set(minimal(), field, value), message)


def test_top_level_must_be_an_object(bundle):
    fails(bundle, [], "config.json: expected a JSON object, found a list")


# -- rules across fields (runc's) --------------------------------------------------------


def _without(config, *types):
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"]
                                     if ns["type"] not in types]
    return config


def test_hostname_needs_uts(bundle):
    config = _without(minimal(), "uts")
    config["hostname"] = "web"
    fails(bundle, config, "config.json: hostname needs a uts namespace")


def test_domainname_needs_uts(bundle):
    config = _without(minimal(), "uts")
    config["domainname"] = "example.org"
    fails(bundle, config, "config.json: domainname needs a uts namespace")


def test_empty_hostname_is_unset(bundle):
    config = _without(minimal(), "uts")
    config["hostname"] = ""
    assert from_dict(config, str(bundle)).hostname is None


def test_masked_paths_need_a_mount_namespace(bundle):
    config = _without(minimal(), "mount")
    config["linux"]["maskedPaths"] = ["/proc/kcore"]
    fails(bundle, config, "config.json: linux.maskedPaths and linux.readonlyPaths need a mount namespace")
    config["linux"]["maskedPaths"] = []
    config["linux"]["readonlyPaths"] = ["/proc/sys"]
    fails(bundle, config, "need a mount namespace")


@pytest.mark.parametrize("key, without, message", [
    ("net.ipv4.ip_forward", "network", "needs a network namespace"),
    ("net/ipv4/ip_forward", "network", "needs a network namespace"),
    ("kernel.shmmax", "ipc", "needs an ipc namespace"),
    ("fs.mqueue.msg_max", "ipc", "needs an ipc namespace"),
    ("kernel.domainname", "uts", "is not in a namespace of the container's own"),
    ("vm.overcommit_memory", None, "is not in a namespace of the container's own"),
    ("kernel.hostname", None, "conflicts with the hostname field"),
])
def test_sysctl_must_be_namespaced(bundle, key, without, message):
    config = _without(minimal(), without)
    config["linux"]["sysctl"] = {key: "1"}
    got = fails(bundle, config, message)
    assert got.startswith(f'config.json: linux.sysctl["{key}"] ')


def test_namespaced_sysctls(bundle):
    config = minimal()
    sysctl = {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shmmax": "1024",
              "fs.mqueue.queues_max": "8", "kernel.domainname": "example.org", "net/core/somaxconn": "1"}
    config["linux"]["sysctl"] = sysctl
    assert from_dict(config, str(bundle)).linux.sysctl == sysctl


@pytest.mark.parametrize("field", ["apparmorProfile", "selinuxLabel", "mountLabel"])
def test_lsm_fields_when_the_host_has_them(bundle, tmp_path, monkeypatch, field):
    """Carton does not apply LSM profiles yet: refused, never silently ignored."""
    monkeypatch.setattr(load, "APPARMOR_DIR", str(tmp_path))
    monkeypatch.setattr(load, "SELINUX_DIR", str(tmp_path))
    config = minimal()
    section = config["linux"] if field == "mountLabel" else config["process"]
    section[field] = "some-profile"
    with pytest.raises(SpecError, match="cannot apply"):
        from_dict(config, str(bundle))


def test_empty_lsm_fields_are_unset(bundle):
    config = minimal()
    config["process"]["apparmorProfile"] = ""
    config["process"]["selinuxLabel"] = ""
    config["linux"]["mountLabel"] = ""
    spec = from_dict(config, str(bundle))
    assert spec.process.apparmor_profile is None and spec.linux.mount_label is None


# -- what the spec lets through ------------------------------------------------------------


def test_null_is_the_same_as_absent(bundle):
    config = minimal()
    config.update(hostname=None, mounts=None, hooks=None, annotations=None)
    config["process"].update(env=None, user=None, rlimits=None, capabilities=None, consoleSize=None,
                             oomScoreAdj=None, terminal=None, ioPriority=None)
    config["linux"].update(uidMappings=None, devices=None, sysctl=None, resources=None, seccomp=None,
                           intelRdt=None, personality=None)
    spec = from_dict(config, str(bundle))
    assert spec.process.env == [] and spec.process.user.uid == 0 and spec.process.capabilities is None
    assert spec.linux.resources is None and spec.linux.seccomp is None


def test_unknown_fields_are_ignored(bundle):
    config = minimal()
    config["vendorThing"] = {"x": 1}
    config["process"]["commandLine"] = "ignored on Linux"
    config["linux"]["future"] = [1, 2]
    config["mounts"] = [{"destination": "/proc", "type": "proc", "whatever": True}]
    from_dict(config, str(bundle))


def test_personality_linux_is_a_no_op(bundle):
    config = minimal()
    config["linux"]["personality"] = {"domain": "LINUX"}
    from_dict(config, str(bundle))


def test_empty_unsupported_fields_are_nothing(bundle):
    config = minimal()
    config["linux"]["intelRdt"] = {}
    config["process"]["scheduler"] = {}
    from_dict(config, str(bundle))


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1", "1.3.0"])
def test_versions(bundle, version):
    config = minimal()
    config["ociVersion"] = version
    assert from_dict(config, str(bundle)).oci_version == version


def test_absolute_root(bundle, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    config = minimal()
    config["root"] = {"path": str(other) + "/", "readonly": True}
    spec = from_dict(config, str(bundle))
    assert spec.root_path == str(other) and spec.root_readonly is True


def test_root_path_is_normalised(bundle):
    config = minimal()
    config["root"]["path"] = "./rootfs/../rootfs"
    assert from_dict(config, str(bundle)).root_path == str(bundle / "rootfs")


def test_user_namespace_joined_by_path_needs_no_mappings(bundle):
    config = minimal()
    config["linux"]["namespaces"].append({"type": "user", "path": "/proc/self/ns/user"})
    spec = from_dict(config, str(bundle))
    assert spec.linux.namespace("user").path == "/proc/self/ns/user"
    assert spec.linux.uid_mappings == []


def test_empty_namespace_path_means_new(bundle):
    config = minimal()
    config["linux"]["namespaces"].append({"type": "cgroup", "path": ""})
    assert from_dict(config, str(bundle)).linux.namespace("cgroup").path is None


def test_fifo_device_needs_no_numbers(bundle):
    config = minimal()
    config["linux"]["devices"] = [{"path": "/dev/myfifo", "type": "p"}]
    dev = from_dict(config, str(bundle)).linux.devices[0]
    assert (dev.path, dev.type, dev.major, dev.minor, dev.file_mode) == ("/dev/myfifo", "p", 0, 0, None)


def test_device_file_mode_keeps_the_permissions(bundle):
    config = minimal()
    # Go's os.FileMode for a character device: ModeDevice|ModeCharDevice|0666.
    config["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                                   "fileMode": (1 << 26) | (1 << 21) | 0o666}]
    assert from_dict(config, str(bundle)).linux.devices[0].file_mode == 0o666


# -- mounts ---------------------------------------------------------------------------------


def mounts_of(bundle, mounts):
    config = minimal()
    config["mounts"] = mounts
    return from_dict(config, str(bundle)).mounts


def test_bind_mount_relative_source_is_the_bundle_s(bundle):
    (m,) = mounts_of(bundle, [{"destination": "/data", "type": "bind", "source": "data",
                               "options": ["rbind", "ro"]}])
    assert (m.destination, m.type, m.source, m.options) == (
        "/data", "bind", str(bundle / "data"), ["rbind", "ro"])


def test_bind_options_make_a_bind_mount_whatever_the_type(bundle):
    mounts = mounts_of(bundle, [
        {"destination": "/a", "source": "/tmp", "options": ["bind"]},
        {"destination": "/b", "type": "none", "source": "/tmp", "options": ["rbind"]},
        {"destination": "/c", "type": "tmpfs", "source": "/tmp", "options": ["rbind"]},
    ])
    assert [(m.type, m.source) for m in mounts] == [("bind", "/tmp")] * 3


def test_bind_type_without_bind_option(bundle):
    (m,) = mounts_of(bundle, [{"destination": "/a", "type": "bind", "source": "/tmp"}])
    assert m.type == "bind" and m.options == ["bind"]


@pytest.mark.parametrize("kind", ["tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"])
def test_kernel_filesystems(bundle, kind):
    (m,) = mounts_of(bundle, [{"destination": "/x", "type": kind, "source": kind,
                               "options": ["nosuid"]}])
    assert (m.destination, m.type, m.source, m.options) == ("/x", kind, kind, ["nosuid"])


def test_kernel_filesystem_without_source(bundle):
    (m,) = mounts_of(bundle, [{"destination": "/proc", "type": "proc"}])
    assert m.source is None and m.options == []


# -- a full config, every field -------------------------------------------------------------


def full_config():
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": True,
            "consoleSize": {"height": 24, "width": 80},
            "user": {"uid": 1000, "gid": 100, "umask": 0o22, "additionalGids": [5, 6]},
            "args": ["/bin/sh", "-c", "echo hi"],
            "env": ["PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY="],
            "cwd": "/home/user",
            "capabilities": {
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"],
                "inheritable": [],
                "ambient": ["CAP_KILL"],
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
                        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 0}],
            "oomScoreAdj": -500,
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "web",
        "domainname": "example.org",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/data", "type": "bind", "source": "/srv/data",
             "options": ["rbind", "rprivate", "ro"]},
        ],
        "hooks": {
            "createRuntime": [{"path": "/usr/bin/netsetup", "args": ["netsetup", "up"],
                               "env": ["X=1"], "timeout": 5}],
            "poststop": [{"path": "/usr/bin/cleanup"}],
        },
        "annotations": {"org.example.key": "value"},
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/self/ns/net"},
                           {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
                           {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                         "fileMode": 0o666, "uid": 0, "gid": 0},
                        {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}],
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "cgroupsPath": "/mygroup/web",
            "resources": {"memory": {"limit": 1 << 30}, "pids": {"limit": 100}},
            "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]},
            "rootfsPropagation": "rslave",
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "personality": {"domain": "LINUX"},
        },
    }


def test_full_config(bundle):
    write(bundle, full_config())
    spec = load_bundle(str(bundle))

    assert spec.oci_version == "1.2.0"
    assert spec.root_path == str(bundle / "rootfs") and spec.root_readonly is True
    assert spec.hostname == "web" and spec.domainname == "example.org"
    assert spec.annotations == {"org.example.key": "value"}

    p = spec.process
    assert isinstance(p, Process)
    assert p.args == ["/bin/sh", "-c", "echo hi"]
    assert p.env == ["PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY="]
    assert p.cwd == "/home/user"
    assert p.terminal is True and p.console_size == (24, 80)
    assert isinstance(p.user, User)
    assert (p.user.uid, p.user.gid, p.user.additional_gids, p.user.umask) == (1000, 100, [5, 6], 0o22)
    assert isinstance(p.capabilities, Capabilities)
    assert p.capabilities.bounding == ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"]
    assert p.capabilities.effective == p.capabilities.permitted == p.capabilities.ambient == ["CAP_KILL"]
    assert p.capabilities.inheritable == []
    assert all(isinstance(r, Rlimit) for r in p.rlimits)
    assert [(r.type, r.hard, r.soft) for r in p.rlimits] == [
        ("RLIMIT_NOFILE", 4096, 1024), ("RLIMIT_CORE", 2**64 - 1, 0)]
    assert p.oom_score_adj == -500 and p.no_new_privileges is True

    assert all(isinstance(m, Mount) for m in spec.mounts)
    assert [(m.destination, m.type, m.source) for m in spec.mounts] == [
        ("/proc", "proc", "proc"), ("/dev", "tmpfs", "tmpfs"), ("/data", "bind", "/srv/data")]
    assert spec.mounts[2].options == ["rbind", "rprivate", "ro"]

    assert set(spec.hooks) == {"createRuntime", "poststop"}
    (hook,) = spec.hooks["createRuntime"]
    assert isinstance(hook, Hook)
    assert (hook.path, hook.args, hook.env, hook.timeout) == (
        "/usr/bin/netsetup", ["netsetup", "up"], ["X=1"], 5)
    assert spec.hooks["poststop"][0].timeout is None

    linux = spec.linux
    assert all(isinstance(ns, Namespace) for ns in linux.namespaces)
    assert [ns.type for ns in linux.namespaces] == ["pid", "network", "ipc", "uts", "mount", "cgroup",
                                                    "user"]
    assert linux.namespace("network").path == "/proc/self/ns/net"
    assert linux.namespace("pid").path is None
    assert all(isinstance(m, IDMapping) for m in linux.uid_mappings + linux.gid_mappings)
    assert [(m.container_id, m.host_id, m.size) for m in linux.uid_mappings] == [(0, 100000, 65536)]
    assert all(isinstance(d, Device) for d in linux.devices)
    fuse, sda = linux.devices
    assert (fuse.path, fuse.type, fuse.major, fuse.minor, fuse.file_mode, fuse.uid, fuse.gid) == (
        "/dev/fuse", "c", 10, 229, 0o666, 0, 0)
    assert (sda.type, sda.major, sda.minor, sda.file_mode, sda.uid) == ("b", 8, 0, None, None)
    assert linux.sysctl == {"net.ipv4.ip_forward": "1"}
    assert linux.cgroups_path == "/mygroup/web"
    assert linux.resources == {"memory": {"limit": 1 << 30}, "pids": {"limit": 100}}
    assert linux.seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert linux.rootfs_propagation == "rslave"
    assert linux.masked_paths == ["/proc/kcore"] and linux.readonly_paths == ["/proc/sys"]


def test_full_config_round_trips_through_to_dict(bundle):
    spec = from_dict(full_config(), str(bundle))
    again = from_dict(json.loads(json.dumps(spec.to_dict())), str(bundle))
    assert again.to_dict() == spec.to_dict()


# -- what containerd sends ------------------------------------------------------------------

CONTAINERD_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                   "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                   "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def containerd_config(container_id, rootfs):
    """Shaped like the config containerd's default spec (plus a CRI sandbox's touches) writes."""
    return {
        "ociVersion": "1.1.0",
        "process": {
            "user": {"uid": 0, "gid": 0, "additionalGids": [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27]},
            "args": ["nginx", "-g", "daemon off;"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOSTNAME=web-7d4b9c", "NGINX_VERSION=1.25.3"],
            "cwd": "/",
            "capabilities": {"bounding": CONTAINERD_CAPS, "effective": CONTAINERD_CAPS,
                             "permitted": CONTAINERD_CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
            "oomScoreAdj": 1000,
        },
        "root": {"path": rootfs},
        "hostname": "web-7d4b9c",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/etc/hosts", "type": "bind",
             "source": f"/var/lib/containerd/sandboxes/{container_id}/hosts",
             "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/etc/resolv.conf", "type": "bind",
             "source": f"/var/lib/containerd/sandboxes/{container_id}/resolv.conf",
             "options": ["rbind", "rprivate", "rw"]},
        ],
        "annotations": {"io.kubernetes.cri.container-type": "container",
                        "io.kubernetes.cri.sandbox-id": container_id},
        "linux": {
            "resources": {
                "devices": [{"allow": False, "access": "rwm"},
                            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                            {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                            {"allow": True, "type": "c", "major": 136, "access": "rwm"}],
                "memory": {"limit": 268435456, "swap": 268435456},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                "pids": {"limit": 4096},
            },
            "cgroupsPath": f"/default/{container_id}",
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                           {"type": "network"}],
            "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0",
                       "net.ipv4.ping_group_range": "0 2147483647"},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                         "fileMode": 438, "uid": 0, "gid": 0}],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["accept", "accept4", "access", "brk", "close", "read", "write"],
                              "action": "SCMP_ACT_ALLOW"},
                             {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                              "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}],
            },
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def test_containerd_config(tmp_path):
    container_id = "7c1a3bb2e54f"
    bundle = tmp_path / "io.containerd.runtime.v2.task" / "default" / container_id
    (bundle / "rootfs").mkdir(parents=True)
    write(bundle, containerd_config(container_id, str(bundle / "rootfs")))

    spec = load_bundle(str(bundle))
    assert spec.oci_version == "1.1.0"
    assert spec.root_path == str(bundle / "rootfs") and spec.root_readonly is False
    assert spec.process.capabilities.bounding == CONTAINERD_CAPS
    assert spec.process.capabilities.ambient == []
    assert spec.process.user.additional_gids[-1] == 27
    assert spec.process.oom_score_adj == 1000
    assert spec.linux.cgroups_path == f"/default/{container_id}"
    assert spec.linux.resources["devices"][0] == {"allow": False, "access": "rwm"}
    assert spec.linux.resources["cpu"]["quota"] == 50000
    assert len(spec.linux.masked_paths) == 11
    assert spec.linux.devices[0].file_mode == 0o666
    assert spec.linux.seccomp["syscalls"][1]["names"] == ["personality"]
    assert [m.type for m in spec.mounts][-3:] == ["cgroup", "bind", "bind"]
    assert spec.mounts[-1].source.endswith(f"{container_id}/resolv.conf")
    assert spec.annotations["io.kubernetes.cri.sandbox-id"] == container_id


# -- capabilities table ---------------------------------------------------------------------


def test_capability_table():
    assert len(load.CAPABILITIES) == 41
    assert sorted(load.CAPABILITIES.values()) == list(range(41))
    assert load.CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert load.CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40
    assert all(name.startswith("CAP_") for name in load.CAPABILITIES)


def test_rlimit_table_matches_the_kernel():
    import resource

    for name, number in load.RLIMITS.items():
        assert getattr(resource, name, number) == number, name


def test_tables_agree_with_the_kernel_layer():
    """The spec layer keeps its own copies (it must not import ctypes); they must not drift."""
    caps = pytest.importorskip("carton.linux.caps")
    process = pytest.importorskip("carton.linux.process")
    if hasattr(caps, "NUMBERS"):
        assert caps.NUMBERS == load.CAPABILITIES
    if hasattr(process, "RLIMITS"):
        assert process.RLIMITS == load.RLIMITS


# -- speed ------------------------------------------------------------------------------------


def _imported(statement):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(carton.__file__)))
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement],
                         capture_output=True, text=True, check=True, cwd=repo).stderr
    return {line.rsplit("|", 1)[1].strip() for line in out.splitlines()
            if line.startswith("import time:") and "|" in line} - {"package"}


def test_imports_only_json_and_os():
    """Nothing beyond what ``json`` itself needs (it brings ``re``), and no dataclasses."""
    extra = _imported("import carton.spec.load") - _imported("import json")
    assert not {m for m in extra if not m.startswith("carton")}, extra
    assert "dataclasses" not in extra
