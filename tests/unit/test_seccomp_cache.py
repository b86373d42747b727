"""Compiled seccomp filters are kept per profile, and never mixed up."""

import os

import pytest

from carton.linux import seccomp
from carton.security import seccomp_cache

PROFILE = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["reboot"], "action": "SCMP_ACT_ERRNO"}]}
OTHER = {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}


@pytest.fixture
def root(tmp_path):
    try:
        seccomp.preload()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no libseccomp: {e}")
    return str(tmp_path)


def _kept(root):
    directory = os.path.join(root, ".cache", "seccomp")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_compiled_once_then_read_back(root, monkeypatch):
    first = seccomp_cache.program(PROFILE, root)
    assert first and len(first) % 8 == 0
    [name] = _kept(root)
    monkeypatch.setattr(seccomp, "compile", lambda config: pytest.fail("compiled again"))
    assert seccomp_cache.program(PROFILE, root) == first
    assert _kept(root) == [name]


def test_another_profile_gets_its_own_program(root):
    a = seccomp_cache.program(PROFILE, root)
    b = seccomp_cache.program(OTHER, root)
    assert a != b and len(_kept(root)) == 2


def test_a_damaged_file_is_compiled_again(root):
    good = seccomp_cache.program(PROFILE, root)
    [name] = _kept(root)
    with open(os.path.join(root, ".cache", "seccomp", name), "wb") as f:
        f.write(b"1234567")  # not whole instructions
    assert seccomp_cache.program(PROFILE, root) == good


def test_the_program_is_what_libseccomp_makes(root):
    assert seccomp_cache.program(PROFILE, root) == seccomp.compile(PROFILE)


def test_flags(root):
    assert seccomp.kernel_flags({"flags": ["SECCOMP_FILTER_FLAG_LOG"]}) == 2
    with pytest.raises(Exception, match="unknown seccomp flag"):
        seccomp.kernel_flags({"flags": ["NOPE"]})
