"""apply_run_options: a Spec changed the way `docker run` flags would."""

import json

import pytest

from carton.errors import CartonError
from carton.security import apply_run_options, host_devices, parse_security_opts
from carton.security.capabilities import DOCKER_DEFAULT
from carton.spec import defaults
from carton.spec.model import Linux, Process, Spec, User


def make_spec(uid=0):
    process = Process(["sh"], [f"PATH={defaults.DEFAULT_PATH}"], "/", User(uid, uid))
    linux = Linux(defaults.namespaces(), defaults.MASKED_PATHS, defaults.READONLY_PATHS,
                  cgroups_path="/carton-x")
    return Spec(process, "/tmp/rootfs", mounts=defaults.mounts(), linux=linux)


def sysfs_options(spec):
    return next(m.options for m in spec.mounts if m.type == "sysfs")


def test_default():
    spec = apply_run_options(make_spec())
    caps = spec.process.capabilities
    assert caps.bounding == caps.effective == caps.permitted == list(DOCKER_DEFAULT)
    assert caps.inheritable == caps.ambient == []
    assert spec.linux.seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec.process.no_new_privileges is False
    assert spec.linux.masked_paths == defaults.MASKED_PATHS
    assert spec.linux.readonly_paths == defaults.READONLY_PATHS
    assert "ro" in sysfs_options(spec)
    assert not spec.linux.devices and spec.linux.resources is None


@pytest.mark.parametrize("kwargs", [{}, {"privileged": True}, {"cap_drop": ["ALL"]},
                                    {"security_opts": ["no-new-privileges"]}])
def test_the_config_json_it_makes_loads_back(kwargs, tmp_path):
    """What the spec says survives config.json and Carton's own checks (the bundle door)."""
    from carton.spec.load import from_dict

    spec = make_spec()
    spec.root_path = str(tmp_path)
    apply_run_options(spec, **kwargs)
    again = from_dict(json.loads(json.dumps(spec.to_dict())), str(tmp_path))
    for name in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        assert getattr(again.process.capabilities, name) == getattr(spec.process.capabilities, name)
    assert again.linux.seccomp == spec.linux.seccomp
    assert again.process.no_new_privileges == spec.process.no_new_privileges
    assert len(again.linux.devices) == len(spec.linux.devices)


def test_non_root_user_gets_bounding_only():
    spec = apply_run_options(make_spec(uid=1000))
    assert spec.process.capabilities.to_dict() == {"bounding": list(DOCKER_DEFAULT)}


def test_cap_flags_and_their_syscalls():
    spec = apply_run_options(make_spec(), cap_add=["sys_time"], cap_drop=["NET_RAW"])
    assert "CAP_SYS_TIME" in spec.process.capabilities.effective
    assert "CAP_NET_RAW" not in spec.process.capabilities.bounding
    names = {n for rule in spec.linux.seccomp["syscalls"] for n in rule["names"]}
    assert "clock_settime" in names


def test_privileged():
    spec = make_spec()
    spec.linux.resources = {"pids": {"limit": 10}}
    apply_run_options(spec, privileged=True)
    assert spec.linux.seccomp is None
    assert spec.linux.masked_paths == spec.linux.readonly_paths == []
    assert "ro" not in sysfs_options(spec) and "rw" in sysfs_options(spec)
    assert spec.linux.resources == {"pids": {"limit": 10},
                                    "devices": [{"allow": True, "access": "rwm"}]}
    assert len(spec.process.capabilities.effective) > 30
    paths = [d.path for d in spec.linux.devices]
    assert "/dev/null" in paths and "/dev/console" not in paths and "/dev/ptmx" not in paths
    assert not any(p.startswith("/dev/pts/") for p in paths)


def test_privileged_ignores_a_seccomp_profile():
    spec = apply_run_options(make_spec(), privileged=True, security_opts=["seccomp=/nonexistent.json"])
    assert spec.linux.seccomp is None


@pytest.mark.parametrize("opts, expected", [(["no-new-privileges"], True),
                                            (["no-new-privileges=true"], True),
                                            (["no-new-privileges:true"], True),
                                            (["no-new-privileges=1"], True),
                                            (["no-new-privileges=false"], False),
                                            (["no-new-privileges", "no-new-privileges=false"], False)])
def test_no_new_privileges(opts, expected):
    assert apply_run_options(make_spec(), security_opts=opts).process.no_new_privileges is expected


def test_seccomp_unconfined_keeps_caps_and_masks():
    spec = apply_run_options(make_spec(), security_opts=["seccomp=unconfined"])
    assert spec.linux.seccomp is None
    assert spec.process.capabilities.effective == list(DOCKER_DEFAULT)
    assert spec.linux.masked_paths == defaults.MASKED_PATHS


def test_seccomp_builtin_is_the_default():
    a = apply_run_options(make_spec(), security_opts=["seccomp=builtin"]).linux.seccomp
    assert a == apply_run_options(make_spec()).linux.seccomp


def test_seccomp_profile_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}))
    assert apply_run_options(make_spec(), security_opts=[f"seccomp={path}"]).linux.seccomp == {
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    spec = apply_run_options(make_spec(), cap_add=["SYS_ADMIN"], security_opts=[f"seccomp={path}"])
    assert spec.linux.seccomp["syscalls"] == [{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]


def test_systempaths_unconfined():
    spec = apply_run_options(make_spec(), security_opts=["systempaths=unconfined"])
    assert spec.linux.masked_paths == spec.linux.readonly_paths == []
    assert spec.linux.seccomp is not None and "ro" in sysfs_options(spec)


def test_apparmor_unconfined_and_label_disable_are_accepted():
    apply_run_options(make_spec(), security_opts=["apparmor=unconfined", "label=disable"])


@pytest.mark.parametrize("opt, message", [
    ("apparmor=docker-default", "AppArmor"),
    ("label=type:container_t", "SELinux"),
    ("label=bogus", "expected disable"),
    ("bogus=1", "unknown option 'bogus'"),
    ("seccomp", "expected KEY=VALUE"),
    ("seccomp=", "needs a value"),
    ("no-new-privileges=maybe", "expected true or false"),
    ("systempaths=confined", "only takes 'unconfined'"),
])
def test_bad_security_opts(opt, message):
    spec = make_spec()
    before = json.dumps(spec.to_dict())
    with pytest.raises(CartonError, match=message) as e:
        apply_run_options(spec, security_opts=[opt])
    assert "\n" not in str(e.value) and "--security-opt" in str(e.value)
    assert json.dumps(spec.to_dict()) == before  # nothing changed


def test_apparmor_and_selinux_messages_say_not_available(monkeypatch):
    import carton.security as sec

    monkeypatch.setattr(sec, "APPARMOR_DIR", "/nonexistent")
    monkeypatch.setattr(sec, "SELINUX_DIR", "/nonexistent")
    with pytest.raises(CartonError, match="AppArmor is not available on this host"):
        apply_run_options(make_spec(), security_opts=["apparmor=my-profile"])
    with pytest.raises(CartonError, match="SELinux is not available on this host"):
        apply_run_options(make_spec(), security_opts=["label=level:s0:c100,c200"])


def test_unknown_capability_changes_nothing():
    spec = make_spec()
    with pytest.raises(CartonError, match="unknown capability"):
        apply_run_options(spec, cap_add=["FLY"])
    assert spec.process.capabilities is None and spec.linux.seccomp is None


def test_parse_keeps_the_last_seccomp():
    assert parse_security_opts(["seccomp=a.json", "seccomp=unconfined"]).seccomp == "unconfined"


def test_host_devices_lists_char_and_block_nodes(tmp_path):
    import os
    import stat

    devices = host_devices()
    assert all(d.type in ("c", "b") for d in devices)
    null = next(d for d in devices if d.path == "/dev/null")
    st = os.stat("/dev/null")
    assert (null.major, null.minor, null.file_mode) == (1, 3, stat.S_IMODE(st.st_mode))
