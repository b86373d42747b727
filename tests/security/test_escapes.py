"""Escape attempts from a default container, as root: every one must fail.

A default container is what ``carton run ROOTFS CMD`` makes with no security
flag: docker's 14 capabilities, docker's seccomp profile, masked and
read-only paths, its own namespaces. Each test runs twice (the ``door``
fixture): through a bundle configured by ``carton.security.apply_run_options``
(the proof today) and through ``carton run`` itself (once the flags are wired
into cli/run.py). test_privileged.py runs the same attempts where they must
succeed, which proves these tests can fail.

Every attempt is harmless even if it succeeded: see escape_helpers.py.
"""

import os
import socket

import pytest
from escape_helpers import security_lines, status_fields

from carton.security.capabilities import DOCKER_DEFAULT_MASK

DOCKER_MASK = f"{DOCKER_DEFAULT_MASK:016x}"


def sh(script):
    return ["sh", "-c", script]


def attempt(runner, helper, *command, **options):
    """Run the helper's ``command`` in a new container; return what it printed (``ok``, ``EPERM``)."""
    r = runner.run([helper, *command], **options)
    assert r.stdout.strip(), r
    return r.stdout.strip().splitlines()[-1]


# -- what the container has ----------------------------------------------------------------


def test_default_capabilities_and_seccomp(door):
    r = door.run(["cat", "/proc/self/status"])
    assert r.ok, r
    lines = security_lines(r.stdout)
    assert lines == {"CapInh": "0" * 16, "CapPrm": DOCKER_MASK, "CapEff": DOCKER_MASK,
                     "CapBnd": DOCKER_MASK, "CapAmb": "0" * 16, "NoNewPrivs": "0", "Seccomp": "2"}


def test_non_root_user_has_no_effective_capabilities(door):
    """docker: a non-root user gets the default set as its bounding set only."""
    r = door.run(["cat", "/proc/self/status"], user="1000:1000")
    assert r.ok, r
    lines = security_lines(r.stdout)
    assert (lines["CapEff"], lines["CapPrm"], lines["CapInh"], lines["CapAmb"]) == ("0" * 16,) * 4
    assert lines["CapBnd"] == DOCKER_MASK
    assert lines["Seccomp"] == "2"


@pytest.mark.parametrize("opt, expected", [("no-new-privileges", "1"),
                                           ("no-new-privileges=true", "1"),
                                           ("no-new-privileges=false", "0")])
def test_no_new_privileges(door, opt, expected):
    r = door.run(["cat", "/proc/self/status"], security_opts=[opt])
    assert r.ok, r
    fields = status_fields(r.stdout)
    assert (fields["NoNewPrivs"], fields["Seccomp"]) == (expected, "2")
    assert fields["CapEff"] == DOCKER_MASK


def test_no_new_privileges_for_a_non_root_user(door):
    """With no_new_privs the filter is loaded after the uid switch: it must still be there."""
    r = door.run(["cat", "/proc/self/status"], user="1000:1000", security_opts=["no-new-privileges"])
    assert r.ok, r
    fields = status_fields(r.stdout)
    assert (fields["NoNewPrivs"], fields["Seccomp"], fields["CapEff"]) == ("1", "2", "0" * 16)


# -- /proc and /sys ----------------------------------------------------------------------------


def test_write_sysrq_trigger_fails(door):
    """'h' (print help to the kernel log) is the only key ever written, and it must not get there."""
    r = door.run(sh("if [ -e /proc/sysrq-trigger ]; then echo h > /proc/sysrq-trigger && echo WROTE; "
                    "else echo ABSENT; fi"))
    assert "WROTE" not in r.stdout, r
    if "ABSENT" not in r.stdout:
        assert "Read-only file system" in r.stderr, r


def test_sysrq_trigger_is_read_only_when_present(door):
    r = door.run(["cat", "/proc/self/mountinfo"])
    assert r.ok, r
    if not os.path.exists("/proc/sysrq-trigger"):
        pytest.skip("this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ is off)")
    line = [entry for entry in r.lines if entry.split()[4] == "/proc/sysrq-trigger"]
    assert line and "ro" in line[-1].split()[5].split(","), r


@pytest.mark.parametrize("path", ["/proc/kcore", "/proc/keys", "/proc/timer_list",
                                  "/proc/sched_debug", "/proc/latency_stats"])
def test_host_kernel_files_are_masked_or_absent(door, path):
    """Masked: /dev/null is bound over it, so it reads empty (kcore would be the host's memory)."""
    r = door.run(sh(f"if [ -e {path} ]; then wc -c < {path}; else echo ABSENT; fi"))
    assert r.ok, r
    assert r.stdout.strip() in ("0", "ABSENT"), r


def test_sys_firmware_is_masked(door):
    r = door.run(sh("ls -A /sys/firmware | wc -l"))
    assert r.ok, r
    assert r.stdout.strip() == "0", r


def test_write_under_sys_fails(door, helper):
    """Opened for appending and closed, never written: EROFS, /sys is read-only."""
    assert attempt(door, helper, "open", "/sys/class/net/lo/tx_queue_len", "a") == "EROFS"


def test_write_proc_sys_fails(door):
    r = door.run(sh("cat /proc/sys/kernel/domainname > /proc/sys/kernel/domainname && echo WROTE"))
    assert "WROTE" not in r.stdout and "Read-only file system" in r.stderr, r


# -- kernel interfaces closed by capabilities and seccomp ---------------------------------------


def test_mount_fails(door, helper):
    r = door.run(sh("mount -t tmpfs none /tmp && echo MOUNTED"))
    assert "MOUNTED" not in r.stdout, r
    assert attempt(door, helper, "mount", "/tmp") == "EPERM"


@pytest.mark.parametrize("flag", ["-U", "-m"])
def test_unshare_fails(door, flag):
    r = door.run(sh(f"unshare {flag} true && echo UNSHARED"))
    assert "UNSHARED" not in r.stdout, r
    assert "Operation not permitted" in r.stderr, r


def test_keyctl_fails(door, helper):
    """The kernel keyring is not namespaced: the filter blocks keyctl whatever the capabilities."""
    assert attempt(door, helper, "keyctl") == "EPERM"


def test_load_kernel_module_fails(door, helper):
    assert attempt(door, helper, "init_module") == "EPERM"


def test_reboot_fails(door, helper):
    assert attempt(door, helper, "reboot") == "EPERM"


def test_set_the_time_fails(door, helper):
    assert attempt(door, helper, "settime") == "EPERM"
    assert attempt(door, helper, "settime-same") == "EPERM"


def test_set_hostname_fails(door, helper):
    """The container has a UTS namespace of its own, and still may not change its hostname
    (docker's rule: sethostname needs CAP_SYS_ADMIN, and the filter blocks it)."""
    before = socket.gethostname()
    r = door.run(sh("hostname evil-host; hostname"))
    assert "Operation not permitted" in r.stderr, r
    assert "evil-host" not in r.stdout
    assert attempt(door, helper, "sethostname", "evil-host") == "EPERM"
    assert socket.gethostname() == before


def test_ptrace_a_host_process_fails(door, helper):
    """A host process is not even visible: the container has its own PID namespace. (With the
    host's PID namespace shared, test_ptrace_with_host_pid_namespace_fails.)"""
    sleeper = door.helper("sleep", "60")
    r = door.run(sh(f"[ -e /proc/{sleeper.pid} ] && echo VISIBLE; {helper} ptrace {sleeper.pid}"))
    assert "VISIBLE" not in r.stdout, r
    assert r.lines[-1] in ("ESRCH", "EPERM"), r


def test_ptrace_with_host_pid_namespace_fails(bundle_door, helper):
    """Sharing the host's PID namespace, a host root process is visible, and still out of
    reach: it has capabilities the container's root lacks, which takes CAP_SYS_PTRACE."""
    sleeper = bundle_door.helper("sleep", "60")

    def host_pid(config):
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                         if n["type"] != "pid"]

    r = bundle_door.run([helper, "ptrace", str(sleeper.pid)], tweak=host_pid)
    assert r.stdout.strip() == "EPERM", r
    with open(f"/proc/{sleeper.pid}/status") as f:
        assert status_fields(f.read())["TracerPid"] == "0"


def test_raw_socket_after_cap_drop_net_raw(door, helper):
    assert attempt(door, helper, "socket", "2", "3", "1") == "ok"  # AF_INET, SOCK_RAW, ICMP
    assert attempt(door, helper, "socket", "2", "3", "1", cap_drop=["NET_RAW"]) == "EPERM"
    r = door.run(["ping", "-c1", "-W1", "127.0.0.1"], cap_drop=["NET_RAW"])
    assert not r.ok, r
    assert "permission denied" in r.stderr.lower() or "not permitted" in r.stderr.lower(), r


@pytest.mark.parametrize("command", [["personality", "0x0040000"],   # ADDR_NO_RANDOMIZE
                                     ["socket", "40", "1", "0"],      # AF_VSOCK
                                     ["socket", "38", "5", "0"],      # AF_ALG
                                     ["io_uring"],
                                     ["unshare", "0x10000000"]])       # CLONE_NEWUSER
def test_seccomp_only_blocks(door, helper, command):
    """Calls no capability guards, which only the filter keeps from the container."""
    assert attempt(door, helper, *command) == "EPERM"


# -- devices -----------------------------------------------------------------------------------


def test_open_host_block_device_fails(door, helper):
    """mknod works (CAP_MKNOD, as in docker); opening the node is what the devices cgroup refuses."""
    from escape_helpers import host_block_device

    found = host_block_device()
    if found is None:
        pytest.skip("no block device the host itself can open")
    _, major, minor = found
    r = door.run(sh(f"mknod /dev/hostdisk b {major} {minor} && echo MADE; "
                    f"{helper} open /dev/hostdisk r"))
    assert r.lines[-1] == "EPERM", r


# -- the runtime's own doors (CVE classes) -------------------------------------------------------


def test_runtime_executable_not_reachable(door, helper):
    """CVE-2019-5736 class: the container must not reach Carton's interpreter to overwrite it.
    Its path does not exist inside, and no /proc/PID/exe there may be opened for writing
    (each is a program of the container's, running: ETXTBSY, or EACCES)."""
    import sys

    python = os.path.realpath(sys.executable)
    r = door.run(sh(f"[ -e {python} ] && echo REACHABLE; "
                    f"for p in /proc/[0-9]*; do echo $p $({helper} open $p/exe w); done"))
    assert "REACHABLE" not in r.stdout, r
    results = [line.split()[1] for line in r.lines if line.startswith("/proc/")]
    assert results and "ok" not in results, r


def test_inherited_fds_do_not_reach_the_container(door, helper, tmp_path):
    """CVE-2024-21626 class: fds carton inherits (here one to the host's network namespace and
    one to the host's /) must not reach the container's process: it sees 0, 1 and 2 only."""
    netns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    root = os.open("/", os.O_PATH | os.O_CLOEXEC)
    try:
        r = door.run([helper, "fds"], pass_fds=(netns, root))
    finally:
        os.close(netns)
        os.close(root)
    assert r.ok, r
    assert sorted(int(line.split()[0]) for line in r.lines) == [0, 1, 2], r


def test_working_directory_is_inside_the_container(door):
    """CVE-2024-21626 class, the other half: the process starts in a directory of the container,
    never in one of the host's (carton's own cwd), and `..` from / stays in the container."""
    r = door.run(sh("readlink /proc/self/cwd; cd ..; pwd; [ -e /etc/os-release ] && echo HOST; "
                    "[ -e /bin/busybox ] && echo CONTAINER; true"))
    assert r.ok, r
    assert r.lines == ["/", "/", "CONTAINER"], r


def _without_pid_namespace(config):
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "pid"]


def _python_id():
    import sys

    st = os.stat(os.path.realpath(sys.executable))
    return f"{st.st_dev}:{st.st_ino}"


def test_host_process_exe_unreachable_with_host_pid_namespace(bundle_door, helper):
    """CVE-2019-5736 class, deterministic: even sharing the host's PID namespace, the container's
    root cannot follow /proc/PID/exe of a host root process (pytest: the host's python).
    test_privileged.py shows the same probe reaching it with CAP_SYS_PTRACE."""
    r = bundle_door.run([helper, "stat", f"/proc/{os.getpid()}/exe"], tweak=_without_pid_namespace)
    assert r.stdout.strip() in ("EACCES", "EPERM"), r
    assert _python_id() not in r.stdout


def test_exec_helper_exe_unreachable_during_exec(bundle_door, helper):
    """CVE-2019-5736 class, the race: while `carton exec` joins the container, its helper (a fork
    of the host's python) is in the container's PID namespace. A container process scanning
    /proc/*/exe the whole time must never reach the host's python (Carton makes itself
    non-dumpable there). Only stat(2) is used: nothing is ever opened for writing."""
    import subprocess
    import time

    target = _python_id()
    script = (f"end=$(( $(date +%s) + 4 )); while [ $(date +%s) -lt $end ]; do "
              f"for p in /proc/[0-9]*; do [ \"$({helper} stat $p/exe 2>/dev/null)\" = {target} ] "
              f"&& echo FOUND $p; done; done; echo DONE")
    config = bundle_door.config(sh(script))
    bundle = bundle_door.write_bundle(config)
    cid = bundle_door.new_id()
    out = bundle_door.tmp / "scan.out"
    with open(out, "w") as o:
        scanner = subprocess.Popen(bundle_door.carton.argv("run", "--bundle", bundle, cid),
                                   stdin=subprocess.DEVNULL, stdout=o, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 3
        execs = 0
        while time.monotonic() < deadline:
            r = bundle_door.carton_call(["exec", cid, "true"])
            execs += r.ok
        scanner.wait(timeout=30)
    finally:
        if scanner.poll() is None:
            scanner.kill()
            scanner.wait()
    text = out.read_text()
    assert execs > 0, "no exec got through: the race was not run"
    assert "DONE" in text and "FOUND" not in text, text


def test_masked_paths_cannot_be_redirected_by_the_rootfs(bundle_door, scratch_rootfs):
    """CVE-2025-31133 class: a masked file gets /dev/null bound over it. If the rootfs's own
    /dev/null (no tmpfs on /dev in this config) is a symlink, the runtime must not follow it
    and bind the target, read-write, over the masked path. The target here is harmless (the
    container's own hostname, in its own UTS namespace); an attacker's would be
    /proc/sys/kernel/core_pattern, the host's. Only read, never written."""
    dev_null = os.path.join(scratch_rootfs, "dev", "null")
    if os.path.lexists(dev_null):
        os.unlink(dev_null)
    os.symlink("/proc/sys/kernel/hostname", dev_null)

    def own_dev(config):
        config["root"]["path"] = scratch_rootfs
        config["mounts"] = [m for m in config["mounts"] if not m["destination"].startswith("/dev")]

    r = bundle_door.run(sh("cat /proc/keys; grep ' /proc/keys ' /proc/self/mountinfo"), tweak=own_dev)
    assert "box" not in r.lines[:1], f"/proc/keys shows the hostname: the mask followed the symlink: {r}"
    assert "/sys/kernel/hostname" not in r.stdout, r
