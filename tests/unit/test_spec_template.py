"""``carton spec``: the starter config.json, as runc's, and its rootless variant."""

import json
import os

from carton.spec.load import from_dict
from carton.spec.model import OCI_VERSION
from carton.spec.template import default_config

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def _bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return str(tmp_path)


def _mount(config, destination):
    (found,) = [m for m in config["mounts"] if m["destination"] == destination]
    return found


def test_default_config_is_runc_s():
    config = default_config()
    json.dumps(config)  # plain JSON values only
    assert config["ociVersion"] == OCI_VERSION
    process = config["process"]
    assert process["args"] == ["sh"] and process["terminal"] is True and process["cwd"] == "/"
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["env"][0].startswith("PATH=/usr/local/sbin:") and "TERM=xterm" in process["env"]
    assert process["capabilities"] == {"bounding": CAPS, "effective": CAPS, "permitted": CAPS}
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert process["noNewPrivileges"] is True
    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert config["hostname"] == "carton"

    destinations = [m["destination"] for m in config["mounts"]]
    assert set(destinations) == {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                                 "/sys/fs/cgroup"}
    assert destinations.index("/dev") < destinations.index("/dev/pts")
    assert destinations.index("/sys") < destinations.index("/sys/fs/cgroup")
    assert _mount(config, "/sys")["type"] == "sysfs" and "ro" in _mount(config, "/sys")["options"]
    assert "gid=5" in _mount(config, "/dev/pts")["options"]
    assert _mount(config, "/sys/fs/cgroup")["type"] == "cgroup"

    linux = config["linux"]
    assert [ns["type"] for ns in linux["namespaces"]] == ["pid", "network", "ipc", "uts", "mount",
                                                          "cgroup"]
    assert linux["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "/proc/kcore" in linux["maskedPaths"] and "/sys/firmware" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"] and "/proc/sysrq-trigger" in linux["readonlyPaths"]
    assert "uidMappings" not in linux


def test_default_config_loads(tmp_path):
    bundle = _bundle(tmp_path)
    spec = from_dict(json.loads(json.dumps(default_config())), bundle)
    assert spec.root_path == os.path.join(bundle, "rootfs") and spec.root_readonly
    assert spec.process.capabilities.bounding == CAPS
    assert spec.linux.namespace("user") is None
    assert spec.hostname == "carton"


def test_each_call_is_a_fresh_dict():
    first = default_config()
    first["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    first["mounts"][0]["options"].append("ro")
    first["linux"]["maskedPaths"].clear()
    second = default_config()
    assert second["process"]["capabilities"]["bounding"] == CAPS
    assert "ro" not in second["mounts"][0].get("options", [])
    assert second["linux"]["maskedPaths"]


def test_rootless():
    config = default_config(rootless=True)
    json.dumps(config)
    linux = config["linux"]
    types = [ns["type"] for ns in linux["namespaces"]]
    assert "network" not in types and "user" in types
    assert set(types) == {"pid", "ipc", "uts", "mount", "cgroup", "user"}
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux

    sys_mount = _mount(config, "/sys")
    assert sys_mount["source"] == "/sys" and "rbind" in sys_mount["options"]
    assert "ro" in sys_mount["options"]
    assert not any(m["destination"] == "/sys/fs/cgroup" for m in config["mounts"])
    for m in config["mounts"]:
        assert not any(o.startswith(("uid=", "gid=")) for o in m.get("options", [])), m
    assert "newinstance" in _mount(config, "/dev/pts")["options"]


def test_rootless_loads(tmp_path):
    spec = from_dict(json.loads(json.dumps(default_config(rootless=True))), _bundle(tmp_path))
    assert spec.linux.namespace("user") is not None
    assert spec.linux.uid_mappings[0].host_id == os.geteuid()
    sys_mount = [m for m in spec.mounts if m.destination == "/sys"][0]
    assert sys_mount.type == "bind" and sys_mount.source == "/sys"
    assert spec.linux.resources is None
