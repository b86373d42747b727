"""The escape attempts again, where they must succeed: the tests can fail.

``--privileged`` turns every layer off (docker's meaning); ``--cap-add`` gives
back a capability and, with it, the syscalls the filter keeps for it;
``seccomp=unconfined`` takes the filter away but keeps docker's capabilities,
so what only the filter blocked gets through and what a capability guards
still does not. Only the attempts that are harmless when they succeed are
made (see escape_helpers.py); each one happens inside the container's own
namespaces, or changes nothing.
"""

import json
import os
import socket

import pytest
from escape_helpers import security_lines, status_fields

from carton.security.capabilities import DOCKER_DEFAULT_MASK, available, mask

PRIVILEGED = {"privileged": True}
UNCONFINED = {"security_opts": ["seccomp=unconfined"]}


def sh(script):
    return ["sh", "-c", script]


def attempt(runner, helper, *command, **options):
    r = runner.run([helper, *command], **options)
    assert r.stdout.strip(), r
    return r.stdout.strip().splitlines()[-1]


# -- --privileged --------------------------------------------------------------------------------


def test_privileged_has_every_capability_and_no_filter(door):
    r = door.run(["cat", "/proc/self/status"], **PRIVILEGED)
    assert r.ok, r
    lines = security_lines(r.stdout)
    every = f"{mask(available()):016x}"  # all that carton itself holds
    assert (lines["CapEff"], lines["CapPrm"], lines["CapBnd"]) == (every,) * 3
    assert (lines["Seccomp"], lines["NoNewPrivs"]) == ("0", "0")


def test_privileged_can_mount_and_unshare(door, helper):
    r = door.run(sh("mount -t tmpfs none /tmp && echo MOUNTED; unshare -m true && echo UNSHARED"),
                 **PRIVILEGED)
    assert r.lines == ["MOUNTED", "UNSHARED"], r


def test_privileged_sets_its_own_hostname_only(door, helper):
    before = socket.gethostname()
    r = door.run(sh("hostname privileged-box && hostname"), **PRIVILEGED)
    assert r.lines == ["privileged-box"], r
    assert socket.gethostname() == before


@pytest.mark.parametrize("command, allowed", [
    (["keyctl"], ("ok", "ENOKEY")),
    (["reboot"], ("EINVAL",)),                     # past the checks; the wrong magic stops it
    (["init_module"], ("ENOEXEC", "ENOSYS", "EINVAL", "EBADMSG", "EKEYREJECTED")),  # garbage
    (["settime"], ("ok",)),                        # settimeofday(NULL, NULL): changes nothing
    (["open", "/sys/class/net/lo/tx_queue_len", "a"], ("ok",)),  # the container's own lo
])
def test_privileged_reaches_the_kernel(door, helper, command, allowed):
    assert attempt(door, helper, *command, **PRIVILEGED) in allowed


def test_privileged_sees_host_kernel_files(door):
    r = door.run(sh("wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l"), **PRIVILEGED)
    assert r.ok, r
    size, firmware = (int(x) for x in r.lines)
    assert size > 0
    assert firmware == len(os.listdir("/sys/firmware"))


def test_privileged_can_write_sysrq_help(door):
    """'h' only prints the SysRq help to the kernel log."""
    if not os.path.exists("/proc/sysrq-trigger"):
        pytest.skip("this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ is off)")
    r = door.run(sh("echo h > /proc/sysrq-trigger && echo WROTE"), **PRIVILEGED)
    assert r.lines == ["WROTE"], r


def test_privileged_opens_host_block_device(door, helper):
    """docker --privileged gives every host device; opening (not reading) one is harmless."""
    from escape_helpers import host_block_device

    found = host_block_device()
    if found is None:
        pytest.skip("no block device the host itself can open")
    path = found[0]
    assert attempt(door, helper, "open", path, "r", **PRIVILEGED) == "ok"


def test_privileged_can_ptrace_with_host_pid_namespace(bundle_door, helper):
    """The attach works, on a `sleep` of the test's own, and is undone at once."""
    sleeper = bundle_door.helper("sleep", "60")

    def host_pid(config):
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                         if n["type"] != "pid"]

    r = bundle_door.run([helper, "ptrace", str(sleeper.pid)], tweak=host_pid, **PRIVILEGED)
    assert r.stdout.strip() == "ok", r
    assert sleeper.poll() is None


# -- --cap-add: the capability and its syscalls ---------------------------------------------------


@pytest.mark.parametrize("cap, command, allowed", [
    ("SYS_TIME", ["settime"], ("ok",)),
    ("SYS_BOOT", ["reboot"], ("EINVAL",)),
    ("SYS_MODULE", ["init_module"], ("ENOEXEC", "ENOSYS", "EINVAL", "EBADMSG", "EKEYREJECTED")),
    ("SYS_ADMIN", ["mount", "/tmp"], ("ok",)),
    ("SYS_ADMIN", ["sethostname", "added-box"], ("ok",)),  # the container's own UTS namespace
])
def test_cap_add_allows_its_syscalls(door, helper, cap, command, allowed):
    before = socket.gethostname()
    assert attempt(door, helper, *command) == "EPERM"
    assert attempt(door, helper, *command, cap_add=[cap]) in allowed
    assert socket.gethostname() == before


def test_cap_add_shows_in_the_sets(door):
    r = door.run(["cat", "/proc/self/status"], cap_add=["sys_admin"], cap_drop=["CAP_CHOWN"])
    assert r.ok, r
    expected = f"{DOCKER_DEFAULT_MASK & ~(1 << 0) | 1 << 21:016x}"
    assert status_fields(r.stdout)["CapEff"] == expected
    assert status_fields(r.stdout)["CapBnd"] == expected


def test_cap_drop_all_then_add(door):
    r = door.run(["cat", "/proc/self/status"], cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"])
    assert r.ok, r
    assert status_fields(r.stdout)["CapEff"] == f"{1 << 10:016x}"
    assert status_fields(r.stdout)["Seccomp"] == "2"


# -- seccomp=unconfined: docker's capabilities, no filter -------------------------------------------


def test_unconfined_keeps_the_capabilities(door):
    r = door.run(["cat", "/proc/self/status"], **UNCONFINED)
    assert r.ok, r
    fields = status_fields(r.stdout)
    assert fields["Seccomp"] == "0"
    assert fields["CapEff"] == f"{DOCKER_DEFAULT_MASK:016x}"


@pytest.mark.parametrize("command, allowed", [
    (["keyctl"], ("ok", "ENOKEY")),                  # the filter was all that stood in the way
    (["personality", "0xffffffff"], ("ok",)),
    (["io_uring"], ("ok",)),
    (["unshare", "0x10000000"], ("ok",)),           # a new user namespace needs no capability
])
def test_unconfined_lets_through_what_only_the_filter_blocked(door, helper, command, allowed):
    assert attempt(door, helper, *command, **UNCONFINED) in allowed


@pytest.mark.parametrize("command", [["mount", "/tmp"], ["reboot"], ["settime"],
                                     ["sethostname", "unconfined-box"]])
def test_unconfined_still_needs_the_capabilities(door, helper, command):
    assert attempt(door, helper, *command, **UNCONFINED) == "EPERM"


# -- seccomp=PROFILE.json ----------------------------------------------------------------------------


def test_profile_file_in_docker_format(door, tmp_path):
    """A docker-format profile: allow everything but uname, except for CAP_SYS_ADMIN holders."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                            "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
               "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                             "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    opts = [f"seccomp={path}"]
    r = door.run(sh("grep Seccomp: /proc/self/status; uname -s"), security_opts=opts)
    assert "2" in r.lines[0] and "Linux" not in r.stdout, r
    r = door.run(["uname", "-s"], security_opts=opts, cap_add=["SYS_ADMIN"])
    assert r.lines == ["Linux"], r


def test_profile_file_in_oci_format(door, tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}
    path = tmp_path / "oci.json"
    path.write_text(json.dumps(profile))
    r = door.run(sh("grep Seccomp: /proc/self/status; cd /tmp && pwd -P"),
                 security_opts=[f"seccomp={path}"])
    assert r.lines and r.lines[0].split() == ["Seccomp:", "2"], r
    assert "/tmp" not in r.stdout, r


def test_privileged_reaches_host_exe_with_host_pid_namespace(bundle_door, helper):
    """The control of test_escapes' /proc/PID/exe tests: with CAP_SYS_PTRACE and the host's PID
    namespace, the same stat(2) does reach the host's python. Nothing is opened."""
    import sys

    st = os.stat(os.path.realpath(sys.executable))

    def host_pid(config):
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                         if n["type"] != "pid"]

    r = bundle_door.run([helper, "stat", f"/proc/{os.getpid()}/exe"], tweak=host_pid, **PRIVILEGED)
    assert r.stdout.strip() == f"{st.st_dev}:{st.st_ino}", r


def test_inherited_fds_reach_the_container_when_asked(bundle_door, helper):
    """The control of test_escapes' inherited-fd test: with --preserve-fds 2 (runc's way to pass
    fds on purpose), fds 3 and 4 given to carton (the host's network namespace, the host's /)
    do reach the container's process, so the helper would have seen a leak."""
    import subprocess

    config = bundle_door.config([helper, "fds"])
    bundle = bundle_door.write_bundle(config)
    cid = bundle_door.new_id()
    argv = " ".join(bundle_door.carton.argv("run", "--preserve-fds", "2", "--bundle", bundle, cid))
    r = subprocess.run(["sh", "-c", f"exec 3</proc/self/ns/net 4</; exec {argv}"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    fds = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert sorted(int(fd) for fd in fds) == [0, 1, 2, 3, 4], r
    assert fds["3"].startswith("net:["), r
