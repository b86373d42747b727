"""The generated profiles, loaded by Carton's own loader into a forked child, then probed.

Faster and more precise than a container: each probe is one raw syscall whose
result tells "the filter refused" (EPERM, or ENOSYS for clone3) from "the
kernel got it" (any other result). Every probe is harmless if the kernel gets
it, even though the child runs as root on the host: the arguments are always
wrong in a way the kernel checks *after* the filter and the capability
(a wrong magic for reboot, a too-long hostname, CLONE_NEWNS|CLONE_FS, a path
that does not exist...), or the call only reads.
"""

import ctypes
import errno
import json
import os

import pytest

from carton.linux import seccomp as loader
from carton.security import capabilities, seccomp_profile

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# x86-64 syscall numbers (<asm/unistd_64.h>).
NR = {"getpid": 39, "uname": 63, "personality": 135, "socket": 41, "keyctl": 250, "add_key": 248,
      "unshare": 272, "clone": 56, "clone3": 435, "mount": 165, "reboot": 169, "init_module": 175,
      "settimeofday": 164, "sethostname": 170, "setns": 308, "ptrace": 101, "io_uring_setup": 425,
      "userfaultfd": 323, "bpf": 321, "open_by_handle_at": 304, "chroot": 161, "swapon": 167,
      "pivot_root": 155, "kexec_load": 246, "acct": 163, "perf_event_open": 298, "kcmp": 312,
      "clock_settime": 227, "umount2": 166}

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="the probes use x86-64 syscall numbers")

CLONE_FS = 0x200
CLONE_PTRACE = 0x2000  # not an unshare(2) flag: EINVAL once the kernel sees it
CLONE_NEWNS = 0x20000
CLONE_THREAD = 0x10000
CLONE_NEWUSER = 0x10000000
CLONE_NEWUTS = 0x04000000

# name: (syscall, args). Each is harmless if it reaches the kernel (see the docstring).
PROBES = {
    "getpid": ("getpid", ()),
    "uname": ("uname", (0,)),                                    # EFAULT from the kernel
    "personality query": ("personality", (0xFFFFFFFF,)),
    "personality ADDR_NO_RANDOMIZE": ("personality", (0x0040000,)),
    "socket AF_INET": ("socket", (2, 2, 0)),                     # closed by the child
    "socket AF_VSOCK": ("socket", (40, 1, 0)),
    "socket AF_ALG": ("socket", (38, 5, 0)),
    "keyctl": ("keyctl", (0, -3, 0)),                            # get the session keyring's id
    "add_key": ("add_key", (0, 0, 0, 0, 0)),                     # EFAULT from the kernel
    "unshare user": ("unshare", (CLONE_NEWUSER | CLONE_PTRACE,)),  # EINVAL from the kernel
    "clone newns": ("clone", (CLONE_NEWNS | CLONE_FS, 0, 0, 0, 0)),  # EINVAL from the kernel
    "clone thread": ("clone", (CLONE_THREAD, 0, 0, 0, 0)),      # EINVAL (no CLONE_SIGHAND)
    "clone3": ("clone3", (0, 0)),                                # EINVAL from the kernel
    "mount": ("mount", (b"none", b"/nonexistent/carton-probe", b"tmpfs", 0, 0)),
    "umount2": ("umount2", (b"/nonexistent/carton-probe", 0)),
    "reboot": ("reboot", (0, 0, 0, 0)),                          # wrong magic: EINVAL
    "init_module": ("init_module", (b"garbage", 7, b"")),
    "settimeofday": ("settimeofday", (0, 0)),                    # changes nothing
    "clock_settime": ("clock_settime", (0, 0)),                  # EFAULT from the kernel
    "sethostname": ("sethostname", (b"x" * 65, 65)),            # too long: EINVAL
    "setns": ("setns", (-1, 0)),                                 # EBADF
    "ptrace": ("ptrace", (0x4206, 0, 0, 0)),                     # PTRACE_SEIZE pid 0: ESRCH
    "io_uring_setup": ("io_uring_setup", (0, 0)),                # EINVAL or EFAULT
    "userfaultfd": ("userfaultfd", (0xFFFF,)),                   # bad flags: EINVAL
    "bpf": ("bpf", (0xFFFF, 0, 0)),                              # EINVAL
    "open_by_handle_at": ("open_by_handle_at", (-1, 0, 0)),     # EBADF/EFAULT
    "chroot": ("chroot", (b"/nonexistent/carton-probe",)),
    "swapon": ("swapon", (b"/nonexistent/carton-probe", 0)),
    "pivot_root": ("pivot_root", (b"/nonexistent/carton-probe", b"/nonexistent/carton-probe")),
    "kexec_load": ("kexec_load", (0, 0xFFFF, 0, 0xFFFFFFFF)),   # bad flags and count: EINVAL
    "acct": ("acct", (b"/nonexistent/carton-probe",)),
    "perf_event_open": ("perf_event_open", (0, 0, -1, -1, 0)),  # EFAULT
    "kcmp": ("kcmp", (0, 0, 0xFFFF, 0, 0)),                      # ESRCH/EINVAL
}


def probe_in_child(profile):
    """Fork; the child loads ``profile`` with Carton's loader, runs every probe, reports errnos."""
    calls = {name: (NR[call], args) for name, (call, args) in PROBES.items()}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_end)
            results = {}
            loader.load(profile)
            for name, (number, args) in calls.items():
                rc = libc.syscall(ctypes.c_long(number), *[_arg(a) for a in args])
                results[name] = "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
                if name == "socket AF_INET" and rc >= 0:
                    os.close(rc)
            os.write(write_end, json.dumps(results).encode())
            os._exit(0)
        except BaseException as e:  # noqa: BLE001
            os.write(write_end, json.dumps({"error": repr(e)}).encode())
            os._exit(1)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    results = json.loads(data)
    assert "error" not in results, results
    return results


def _arg(value):
    if isinstance(value, bytes):
        return ctypes.c_char_p(value)
    return ctypes.c_long(value)


BLOCKED_BY_DEFAULT = ["personality ADDR_NO_RANDOMIZE", "socket AF_VSOCK", "socket AF_ALG", "keyctl",
                      "add_key", "unshare user", "clone newns", "mount", "umount2", "reboot",
                      "init_module", "settimeofday", "clock_settime", "sethostname", "setns",
                      "io_uring_setup", "userfaultfd", "bpf", "open_by_handle_at", "swapon",
                      "pivot_root", "kexec_load", "acct", "perf_event_open", "kcmp"]
ALLOWED_BY_DEFAULT = ["getpid", "uname", "personality query", "socket AF_INET", "clone thread",
                      "ptrace", "chroot"]


@pytest.fixture(scope="module")
def default_results():
    return probe_in_child(seccomp_profile.default_profile())


@pytest.mark.parametrize("name", BLOCKED_BY_DEFAULT)
def test_default_profile_blocks(default_results, name):
    assert default_results[name] == "EPERM"


@pytest.mark.parametrize("name", ALLOWED_BY_DEFAULT)
def test_default_profile_allows(default_results, name):
    assert default_results[name] not in ("EPERM", "ENOSYS")


def test_clone3_gets_enosys_so_libc_falls_back_to_clone(default_results):
    assert default_results["clone3"] == "ENOSYS"


CAPABILITY_PROBES = {
    "CAP_SYS_ADMIN": ["unshare user", "clone newns", "clone3", "mount", "umount2", "sethostname",
                      "setns", "bpf", "perf_event_open"],
    "CAP_SYS_TIME": ["settimeofday", "clock_settime"],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_MODULE": ["init_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp"],
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}


@pytest.mark.parametrize("cap", list(CAPABILITY_PROBES))
def test_a_capability_brings_its_syscalls(cap):
    caps = list(capabilities.DOCKER_DEFAULT) + [cap]
    results = probe_in_child(seccomp_profile.profile_for(caps))
    for name in CAPABILITY_PROBES[cap]:
        # EPERM is the filter's answer (ENOSYS too, for clone3); init_module may get ENOSYS from
        # a kernel without module support, which is past the filter.
        assert results[name] != "EPERM" and (name, results[name]) != ("clone3", "ENOSYS"), \
            (name, results[name])
    # ...and nothing else: keyctl and kexec stay blocked whatever the capability.
    assert results["keyctl"] == results["kexec_load"] == "EPERM"


def test_every_capability_still_blocks_the_keyring_and_kexec():
    results = probe_in_child(seccomp_profile.profile_for(capabilities.available()))
    for name in ("keyctl", "add_key", "kexec_load", "io_uring_setup", "userfaultfd", "swapon",
                 "pivot_root", "socket AF_VSOCK", "personality ADDR_NO_RANDOMIZE"):
        assert results[name] == "EPERM", name


def test_dropping_chroot_blocks_it():
    caps = [c for c in capabilities.DOCKER_DEFAULT if c != "CAP_SYS_CHROOT"]
    assert probe_in_child(seccomp_profile.profile_for(caps))["chroot"] == "EPERM"


def test_docker_format_file_gives_the_same_filter(tmp_path):
    path = tmp_path / "default.json"
    path.write_text(json.dumps(seccomp_profile.docker_profile()))
    loaded = seccomp_profile.load_profile_file(str(path), capabilities.DOCKER_DEFAULT)
    assert probe_in_child(loaded) == probe_in_child(seccomp_profile.default_profile())
