"""Seccomp profiles: docker's default from Carton's tables, resolution by capability/arch/kernel,
and reading profile files in docker's and OCI's formats."""

import ctypes
import json

import pytest

from carton.errors import CartonError
from carton.security import seccomp_profile as sp
from carton.security.capabilities import DOCKER_DEFAULT

X86 = {"machine": "x86_64", "kernel": (6, 1)}


def allowed(profile):
    """Syscall names allowed unconditionally (no argument checks) by an OCI profile."""
    return {n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
            and not rule.get("args") for n in rule["names"]}


def rules_for(profile, name):
    return [rule for rule in profile["syscalls"] if name in rule["names"]]


@pytest.fixture(scope="module")
def default():
    return sp.default_profile(**X86)


def test_default_action_and_architectures(default):
    assert default["defaultAction"] == "SCMP_ACT_ERRNO"
    assert default["defaultErrnoRet"] == 1
    assert default["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_architectures_for_arm64():
    assert sp.default_profile("aarch64", (6, 1))["architectures"] == ["SCMP_ARCH_AARCH64",
                                                                     "SCMP_ARCH_ARM"]


def test_unknown_machine_gets_no_architectures():
    assert "architectures" not in sp.default_profile("weird", (6, 1))


@pytest.mark.parametrize("name", ["read", "write", "openat", "execve", "futex", "epoll_wait",
                                  "rt_sigaction", "setuid", "mknod", "capset", "seccomp", "chroot",
                                  "arch_prctl", "modify_ldt", "ptrace", "accept4", "statx"])
def test_ordinary_syscalls_are_allowed(default, name):
    assert name in allowed(default)


@pytest.mark.parametrize("name", sorted(sp.BLOCKED) + [
    "mount", "umount2", "unshare", "setns", "sethostname", "reboot", "init_module",
    "finit_module", "delete_module", "clock_settime", "settimeofday", "stime", "acct", "bpf",
    "perf_event_open", "open_by_handle_at", "iopl", "ioperm", "kcmp", "syslog", "vhangup",
    "quotactl", "fsopen", "open_tree", "lookup_dcookie", "mbind", "set_mempolicy"])
def test_dangerous_syscalls_are_not_allowed(default, name):
    assert not rules_for(default, name), name


def test_blocked_table_does_not_contradict_the_allow_lists():
    listed = {n for _, names in sp.ALLOWED for n in names}
    listed |= {n for _, _, names in sp.BY_CAPABILITY for n in names}
    assert not listed & set(sp.BLOCKED)


def test_personality_only_with_known_values(default):
    rules = rules_for(default, "personality")
    values = sorted(rule["args"][0]["value"] for rule in rules)
    assert values == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(rule["args"][0]["op"] == "SCMP_CMP_EQ" for rule in rules)


def test_socket_blocks_alg_and_vsock(default):
    rules = rules_for(default, "socket")
    assert {"index": 0, "value": 38, "op": "SCMP_CMP_LT"} in [r["args"][0] for r in rules]
    equal = {r["args"][0]["value"] for r in rules if r["args"][0]["op"] == "SCMP_CMP_EQ"}
    assert 40 not in equal and 38 not in equal and equal == {39, 41, 42, 43, 44, 45}


def test_clone_without_namespace_flags_and_clone3_enosys(default):
    (clone,) = rules_for(default, "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = rules_for(default, "clone3")
    assert (clone3["action"], clone3["errnoRet"]) == ("SCMP_ACT_ERRNO", 38)


def test_clone_on_s390_checks_the_second_argument():
    profile = sp.default_profile("s390x", (6, 1))
    (clone,) = rules_for(profile, "clone")
    assert clone["args"][0]["index"] == 1


def test_sys_admin_allows_mount_unshare_and_plain_clone():
    profile = sp.profile_for(list(DOCKER_DEFAULT) + ["CAP_SYS_ADMIN"], **X86)
    names = allowed(profile)
    assert {"mount", "umount2", "unshare", "setns", "sethostname", "clone", "clone3"} <= names
    assert all(not rule.get("args") for rule in rules_for(profile, "clone"))
    assert all(rule["action"] == "SCMP_ACT_ALLOW" for rule in rules_for(profile, "clone3"))


@pytest.mark.parametrize("cap, names", [
    ("CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise"}),
    ("CAP_SYS_MODULE", {"init_module", "finit_module", "delete_module"}),
    ("CAP_SYS_BOOT", {"reboot"}), ("CAP_SYS_TIME", {"clock_settime", "settimeofday"}),
    ("CAP_SYS_PACCT", {"acct"}), ("CAP_SYS_RAWIO", {"iopl", "ioperm"}),
    ("CAP_SYS_NICE", {"mbind", "set_mempolicy"}), ("CAP_SYSLOG", {"syslog"}),
    ("CAP_BPF", {"bpf"}), ("CAP_PERFMON", {"perf_event_open"}),
    ("CAP_DAC_READ_SEARCH", {"open_by_handle_at"}), ("CAP_SYS_TTY_CONFIG", {"vhangup"}),
])
def test_capability_brings_its_syscalls(cap, names):
    assert names <= allowed(sp.profile_for(list(DOCKER_DEFAULT) + [cap], **X86))
    assert not names & allowed(sp.profile_for(DOCKER_DEFAULT, **X86))


def test_dropping_sys_chroot_drops_chroot():
    caps = [c for c in DOCKER_DEFAULT if c != "CAP_SYS_CHROOT"]
    assert "chroot" not in allowed(sp.profile_for(caps, **X86))


def test_capabilities_object_uses_the_bounding_set():
    from carton.security.capabilities import process_capabilities

    caps = process_capabilities(list(DOCKER_DEFAULT) + ["CAP_SYS_TIME"], 1000)  # bounding only
    assert "clock_settime" in allowed(sp.profile_for(caps, **X86))


def test_ptrace_needs_kernel_4_8():
    assert "ptrace" not in allowed(sp.default_profile("x86_64", (4, 4)))
    assert "ptrace" in allowed(sp.default_profile("x86_64", (4, 8)))


def test_arch_specific_rules():
    arm = allowed(sp.default_profile("aarch64", (6, 1)))
    assert "set_tls" in arm and "arch_prctl" not in arm
    assert "set_tls" not in allowed(sp.default_profile(**X86))


def test_every_name_is_a_syscall_libseccomp_knows_or_a_newer_one():
    """Catches typos: libseccomp 2.5 resolves names of every architecture it knows."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp is not installed")
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    newer = {"cachestat", "fchmodat2", "futex_requeue", "futex_wait", "futex_wake",
             "map_shadow_stack", "getxattrat", "listmount", "listxattrat", "mseal",
             "removexattrat", "riscv_hwprobe", "setxattrat", "statmount", "uretprobe",
             "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr"}
    names = {n for rule in sp.docker_profile()["syscalls"] for n in rule["names"]}
    unknown = {n for n in names - newer if lib.seccomp_syscall_resolve_name(n.encode()) == -1}
    assert not unknown


def test_default_profile_is_what_docker_profile_resolves_to(tmp_path):
    path = tmp_path / "default.json"
    path.write_text(json.dumps(sp.docker_profile()))
    assert sp.load_profile_file(str(path), DOCKER_DEFAULT, **X86) == sp.default_profile(**X86)


# -- reading profile files ------------------------------------------------------------------


def write(tmp_path, profile):
    path = tmp_path / "profile.json"
    path.write_text(profile if isinstance(profile, str) else json.dumps(profile))
    return str(path)


def test_oci_profile_passes_through(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
               "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
               "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]}]}
    assert sp.load_profile_file(write(tmp_path, profile), DOCKER_DEFAULT, **X86) == profile


def test_docker_format_includes_excludes(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
               "syscalls": [
                   {"name": "uname", "action": "SCMP_ACT_ERRNO", "comment": "old single name"},
                   {"names": ["a"], "action": "SCMP_ACT_LOG", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                   {"names": ["b"], "action": "SCMP_ACT_LOG", "excludes": {"caps": ["CAP_CHOWN"]}},
                   {"names": ["c"], "action": "SCMP_ACT_LOG", "includes": {"arches": ["arm64"]}},
                   {"names": ["d"], "action": "SCMP_ACT_LOG", "excludes": {"arches": ["amd64"]}},
                   {"names": ["e"], "action": "SCMP_ACT_LOG", "includes": {"minKernel": "7.0"}},
                   {"names": ["f"], "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "5.10"}},
                   {"names": ["g"], "action": "SCMP_ACT_LOG", "includes": {"minKernel": "5.10",
                                                                          "arches": ["amd64"]}},
               ]}
    got = sp.load_profile_file(write(tmp_path, profile), DOCKER_DEFAULT, **X86)
    assert got["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [r["names"] for r in got["syscalls"]] == [["uname"], ["g"]]
    assert "comment" not in got["syscalls"][0]


def test_empty_profile_means_no_filter(tmp_path):
    assert sp.load_profile_file(write(tmp_path, {}), DOCKER_DEFAULT, **X86) is None


@pytest.mark.parametrize("profile, message", [
    ("{not json", "invalid JSON"),
    ("[]", "expected a JSON object"),
    ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}, "defaultAction is missing"),
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "unknown action 'SCMP_ACT_MAYBE'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "ALLOW"}]},
     r"syscalls\[0\].action: unknown action 'ALLOW'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}, "unknown action None"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "not supported by Carton yet"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/l.sock"}, "listenerPath.*not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"],
                                                      "action": "SCMP_ACT_LOG"}]}, "both 'name'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "both 'architectures' and 'archMap'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "unknown architecture"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}, "unknown flag"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_LOG", "args": [{"index": 6, "value": 1,
                                                                "op": "SCMP_CMP_EQ"}]}]}, "0 to 5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 1,
                                                                "op": "SCMP_CMP_ABOUT"}]}]},
     "unknown operator"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": -1,
                                                                "op": "SCMP_CMP_EQ"}]}]},
     "non-negative integer"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_LOG", "includes": {"minKernel": "4"}}]},
     "invalid minKernel"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]},
     "needs syscall names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["a"]}}, "syscalls must be a list"),
])
def test_bad_profiles_give_one_line_errors(tmp_path, profile, message):
    path = write(tmp_path, profile)
    with pytest.raises(CartonError, match=message) as e:
        sp.load_profile_file(path, DOCKER_DEFAULT, **X86)
    assert "\n" not in str(e.value) and path in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(CartonError, match=r"opening seccomp profile \(.*nope.json\) failed: No such file"):
        sp.load_profile_file(str(tmp_path / "nope.json"), DOCKER_DEFAULT)


def test_every_action_and_operator_the_loader_knows():
    from carton.linux import seccomp as loader
    from carton.spec import load

    for action in sp.ACTIONS:
        loader.action(action)
    assert set(sp.OPERATORS) == set(loader.OPERATORS) == set(load.SECCOMP_OPERATORS)
    assert set(sp.FLAGS) == set(loader.FLAGS) == set(load.SECCOMP_FLAGS)
    assert set(sp.ACTIONS) == set(load.SECCOMP_ACTIONS)
