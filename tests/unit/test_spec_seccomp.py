"""``linux.seccomp`` names are checked when the config is loaded, not when the filter is."""

import pytest

from carton.spec.load import SpecError, from_dict


def config(tmp_path, seccomp):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return {"ociVersion": "1.2.0", "root": {"path": "rootfs"},
            "process": {"args": ["true"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "mount"}], "seccomp": seccomp}}


def test_a_good_profile_is_kept_as_it_is(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
               "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    assert from_dict(config(tmp_path, profile), str(tmp_path)).linux.seccomp == profile


@pytest.mark.parametrize("profile, words", [
    ({"defaultAction": "SCMP_ACT_BOGUS"}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "not supported"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["NOPE"]}, "flags[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]},
     "syscalls[0].names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "X"}]},
     "syscalls[0].action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]},
     "args[0].index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "EQ"}]}]},
     "args[0].op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}, "listenerPath"),
])
def test_bad_profiles(tmp_path, profile, words):
    with pytest.raises(SpecError, match=words.replace("[", r"\[").replace("]", r"\]")):
        from_dict(config(tmp_path, profile), str(tmp_path))
