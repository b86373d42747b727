"""``carton run``: a process in its own namespaces and root filesystem, and every option."""

import os
import subprocess
import sys

import pytest
from carton_testlib import CARTON


def sh(carton, rootfs, script, *options, **kwargs):
    return carton("run", *options, rootfs, "/bin/sh", "-c", script, **kwargs)


def test_the_issue_example(carton, rootfs):
    """PID 1, the hostname, the rootfs, only the container's processes, no host paths in mounts."""
    r = sh(carton, rootfs, "echo $$; hostname; ls /; echo --; ps; echo --; mount")
    assert r.returncode == 0, r.stderr
    head, ps, mounts = r.stdout.split("--\n")
    lines = head.splitlines()
    assert lines[0] == "1"
    hostname = lines[1]
    assert len(hostname) == 12 and all(c in "0123456789abcdef" for c in hostname)
    assert {"bin", "etc", "proc", "dev", "sys", "tmp"} <= set(lines[2:])
    pids = [line.split()[0] for line in ps.splitlines()[1:]]
    assert pids[0] == "1" and len(pids) == 2  # the shell (PID 1) and ps itself
    for host_path in (rootfs, "/tmp", "/work", "/root", "/run/carton", os.path.dirname(CARTON)):
        assert f" {host_path}" not in mounts, f"host path {host_path} in the mount table"
    assert r.stderr == ""


def test_short_form_and_python_m(carton, rootfs, state_root):
    r = subprocess.run([CARTON, "--root", state_root, rootfs, "/bin/echo", "short"],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "short\n")
    r = subprocess.run([sys.executable, "-m", "carton", "--root", state_root, "run", rootfs,
                        "echo", "module"], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "module\n")


def test_own_namespaces(carton, rootfs):
    kinds = ["mnt", "uts", "ipc", "pid", "net", "cgroup"]
    r = sh(carton, rootfs, "for n in " + " ".join(kinds) + "; do readlink /proc/self/ns/$n; done")
    assert r.returncode == 0, r.stderr
    inside = r.stdout.split()
    for kind, link in zip(kinds, inside, strict=True):
        assert link != os.readlink(f"/proc/self/ns/{kind}"), f"{kind} namespace is the host's"


def test_network_none_has_only_loopback_and_it_is_up(carton, rootfs):
    r = sh(carton, rootfs, "ls /sys/class/net; ip -o link show lo;"
                           " ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok", "--network", "none")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "lo" and "UP" in r.stdout and "ping-ok" in r.stdout


def test_dev(carton, rootfs):
    r = sh(carton, rootfs, "ls /dev; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done;"
                           " stat -c '%t,%T %a' /dev/null /dev/zero /dev/full /dev/random"
                           " /dev/urandom /dev/tty;"
                           " grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/mounts; echo x > /dev/null")
    assert r.returncode == 0, r.stderr
    names = set(r.stdout.split("\n\n")[0].split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd",
            "stdin", "stdout", "stderr", "ptmx"} <= names
    assert "sda" not in names and "vda" not in names and "kmsg" not in names
    assert "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n" in r.stdout
    for majmin in ("1,3 666", "1,5 666", "1,7 666", "1,8 666", "1,9 666", "5,0 666"):
        assert majmin in r.stdout
    assert "devpts /dev/pts devpts" in r.stdout and "ptmxmode=666" in r.stdout
    assert "/dev/shm tmpfs" in r.stdout and "mqueue /dev/mqueue mqueue" in r.stdout


def test_proc_and_sys(carton, rootfs):
    r = sh(carton, rootfs, "grep -E ' /(proc|sys) ' /proc/mounts; cat /proc/timer_list | wc -c;"
                           " echo 1 > /proc/sys/kernel/domainname && echo wrote-sys;"
                           " echo h > /proc/sysrq-trigger && echo wrote-sysrq; true")
    assert r.returncode == 0
    assert "proc /proc proc rw,nosuid,nodev,noexec" in r.stdout
    assert "sysfs /sys sysfs ro," in r.stdout
    assert "wrote" not in r.stdout
    assert r.stdout.splitlines()[2].strip() == "0"  # /proc/timer_list is masked


def test_etc_files(carton, rootfs):
    r = sh(carton, rootfs, "cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf",
           "--hostname", "web-1.example")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("web-1.example\n127.0.0.1\tlocalhost\n")
    resolvers = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("nameserver")]
    assert resolvers and not any(ip.startswith("127.") or ip == "::1" for ip in resolvers)
    # Carton wrote these into its state directory, not the user's rootfs.
    assert os.path.getsize(os.path.join(rootfs, "etc", "hostname")) == 0


def test_no_etc_files_without_etc(carton, tmp_path):
    root = tmp_path / "tiny"
    (root / "bin").mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(root / "bin" / "busybox")], check=True)
    r = carton("run", str(root), "/bin/busybox", "ls", "/")
    assert r.returncode == 0, r.stderr
    assert "etc" not in r.stdout.split()


def test_hostname_and_name(carton, rootfs, state_root):
    r = sh(carton, rootfs, "hostname; echo $HOSTNAME", "--hostname", "box", "--name", "carton-test-named")
    assert (r.returncode, r.stdout) == (0, "box\nbox\n")


def test_name_in_use(carton, rootfs):
    first = carton.popen("run", "-i", "--name", "carton-test-dup", rootfs, "sh", "-c", "echo up; read x",
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline() == "up\n"
        r = carton("run", "--name", "carton-test-dup", rootfs, "true")
        assert r.returncode == 125
        assert "already in use" in r.stderr
    finally:
        first.stdin.close()
        first.wait(timeout=30)
    # Free again once the first one has gone.
    assert carton("run", "--name", "carton-test-dup", rootfs, "true").returncode == 0


def test_environment(carton, rootfs, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nFROM_FILE=1\nOVERRIDDEN=file\nPASSED_FROM_HOST\n")
    host_env = dict(os.environ, PASSED_FROM_HOST="host-value", PASSED_BY_FLAG="flag-value")
    host_env.pop("UNSET_ON_HOST", None)
    r = carton("run", "--env-file", str(env_file), "-e", "OVERRIDDEN=flag", "-e", "PASSED_BY_FLAG",
               "-e", "UNSET_ON_HOST", "-e", "EMPTY=", "-e", "WITH_EQUALS=a=b", rootfs, "env",
               env=host_env)
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["HOME"] == "/root" and len(env["HOSTNAME"]) == 12
    assert env["FROM_FILE"] == "1" and env["OVERRIDDEN"] == "flag"
    assert env["PASSED_FROM_HOST"] == "host-value" and env["PASSED_BY_FLAG"] == "flag-value"
    assert "UNSET_ON_HOST" not in env and env["EMPTY"] == "" and env["WITH_EQUALS"] == "a=b"
    assert "TERM" not in env
    r = carton("run", "-e", "PATH=/bin", rootfs, "/bin/sh", "-c", "echo $PATH")
    assert r.stdout == "/bin\n"


def test_workdir(carton, scratch_rootfs):
    r = carton("run", "-w", "/tmp", scratch_rootfs, "pwd")
    assert r.stdout == "/tmp\n"
    r = carton("run", "-w", "/new/dir", scratch_rootfs, "pwd")
    assert (r.returncode, r.stdout) == (0, "/new/dir\n")
    r = carton("run", "-w", "/tmp", scratch_rootfs, "./../bin/echo", "relative")
    assert r.stdout == "relative\n"


@pytest.mark.parametrize("user, expected", [
    ("user", "1000 1000 100,1000 /home/user"),
    ("1000", "1000 1000 100,1000 /home/user"),
    ("user:tty", "1000 5 5,100 /home/user"),
    ("user:1234", "1000 1234 100,1234 /home/user"),
    ("4242", "4242 0 0 /"),
    ("4242:4343", "4242 4343 4343 /"),
    ("nobody", "65534 65534 65534 /nonexistent"),
    ("0:0", "0 0 0,10 /root"),
])
def test_user(carton, rootfs, user, expected):
    r = carton("run", "-u", user, rootfs, "/bin/sh", "-c",
               "echo $(id -u) $(id -g) $(id -G | tr ' ' '\\n' | sort -n | tr '\\n' , | sed 's/,$//') $HOME")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected


def test_user_cannot_do_root_things(carton, rootfs):
    r = carton("run", "-u", "user", rootfs, "/bin/sh", "-c",
               "touch /etc/x || echo denied; grep Cap /proc/self/status")
    assert "denied" in r.stdout
    assert "CapEff:\t0000000000000000" in r.stdout


def test_volumes(carton, rootfs, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("hello\n")
    single = tmp_path / "single.txt"
    single.write_text("one file\n")
    r = carton("run", "-v", f"{shared}:/data", "-v", f"{single}:/etc/single.txt:ro", rootfs,
               "/bin/sh", "-c", "cat /data/from-host /etc/single.txt; echo from-ctr > /data/back;"
               " echo x > /etc/single.txt || echo ro-refused")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hello\none file\n") and "ro-refused" in r.stdout
    assert (shared / "back").read_text() == "from-ctr\n"
    assert single.read_text() == "one file\n"
    r = carton("run", "-v", f"{shared}:/data:ro", rootfs, "/bin/sh", "-c",
               "touch /data/nope 2>&1; grep ' /data ' /proc/mounts")
    assert "Read-only file system" in r.stdout and " ro," in r.stdout
    assert not (shared / "nope").exists()


def test_volume_through_a_symlink_stays_inside(carton, scratch_rootfs, tmp_path):
    """A mount destination redirected by a symlink in the rootfs lands inside the rootfs."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(scratch_rootfs, "escape"))
    os.symlink("../../../../../../" + str(outside), os.path.join(scratch_rootfs, "escape2"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "marker").write_text("m")
    r = carton("run", "-v", f"{data}:/escape/mnt", "-v", f"{data}:/escape2/mnt", scratch_rootfs,
               "ls", "/escape/mnt", "/escape2/mnt")
    assert r.returncode == 0, r.stderr
    assert list(outside.iterdir()) == []  # nothing was made on the host side of the link
    assert os.path.isdir(os.path.join(scratch_rootfs, str(outside).lstrip("/"), "mnt"))


def test_read_only(carton, rootfs):
    r = carton("run", "--read-only", rootfs, "/bin/sh", "-c",
               "touch /x 2>&1; touch /dev/shm/ok && echo shm-ok; echo n > /etc/hostname && echo etc-ok;"
               " grep ' / ' /proc/mounts")
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in r.stdout and "shm-ok" in r.stdout
    assert " / " in r.stdout and " ro," in r.stdout.split(" / ")[1]


def test_tmpfs(carton, rootfs):
    r = carton("run", "--tmpfs", "/scratch", "--tmpfs", "/sized:size=1m,mode=1777", rootfs, "/bin/sh", "-c",
               "grep -E ' /(scratch|sized) ' /proc/mounts; echo ok > /scratch/f && cat /scratch/f;"
               " stat -c %a /sized")
    assert r.returncode == 0, r.stderr
    assert "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec" in r.stdout
    assert "size=1024k" in r.stdout and "ok\n1777\n" in r.stdout


def test_stdin_only_with_interactive(carton, rootfs):
    r = carton("run", "-i", rootfs, "cat", input="through stdin\n")
    assert r.stdout == "through stdin\n"
    r = carton("run", rootfs, "cat", input="not passed\n")
    assert (r.returncode, r.stdout) == (0, "")


def test_exit_codes(carton, rootfs):
    assert sh(carton, rootfs, "exit 3").returncode == 3
    assert sh(carton, rootfs, "exit 0").returncode == 0
    r = carton("run", rootfs, "/no/such/thing")
    assert r.returncode == 127 and "/no/such/thing" in r.stderr
    r = carton("run", rootfs, "no-such-command")
    assert r.returncode == 127 and "no-such-command" in r.stderr and "$PATH" in r.stderr
    r = carton("run", rootfs, "/etc")
    assert r.returncode == 126 and "/etc: is a directory" in r.stderr
    r = carton("run", rootfs, "/etc/passwd")
    assert r.returncode == 126 and "/etc/passwd" in r.stderr
    for r in [carton("run", rootfs, "/etc/passwd")]:
        assert len(r.stderr.splitlines()) == 1


def test_no_executable_for_the_user(carton, scratch_rootfs):
    script = os.path.join(scratch_rootfs, "root-only")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(script, 0o700)
    r = carton("run", "-u", "user", scratch_rootfs, "/root-only")
    assert r.returncode == 126 and "Permission denied" in r.stderr


def test_nothing_visible_on_the_host_while_running(carton, rootfs):
    p = carton.popen("run", "-i", rootfs, "sh", "-c", "echo up; read x", stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "up\n"
        with open("/proc/self/mountinfo") as f:
            assert rootfs not in f.read()
    finally:
        p.stdin.write("done\n")
        p.stdin.close()
        assert p.wait(timeout=30) == 0


def test_fds_do_not_leak_into_the_container(carton, rootfs):
    """Only stdio reaches the container, even when carton inherited more (CVE-2024-21626 class)."""
    read_end, write_end = os.pipe()
    try:
        r = carton("run", rootfs, "ls", "/proc/self/fd", pass_fds=(read_end, write_end))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == ["0", "1", "2", "3"]  # 3: ls's own directory fd


def test_signal_dispositions_are_default(carton, rootfs):
    """Python ignores SIGPIPE; the container's process must not inherit that."""
    r = carton("run", rootfs, "grep", "SigIgn", "/proc/self/status")
    assert r.stdout.split() == ["SigIgn:", "0000000000000000"]
    r = carton("run", rootfs, "sh", "-c", "yes | head -1")
    assert (r.returncode, r.stdout) == (0, "y\n")


def test_read_only_with_a_new_workdir(carton, scratch_rootfs):
    r = carton("run", "--read-only", "-w", "/made/here", scratch_rootfs, "pwd")
    assert (r.returncode, r.stdout) == (0, "/made/here\n"), r.stderr


def test_stale_name_is_taken_over(carton, rootfs, state_root):
    """A name left by a carton that died (its container gone) is free again."""
    import json

    dead = "f" * 64
    os.makedirs(os.path.join(state_root, dead))
    with open(os.path.join(state_root, dead, "state.json"), "w") as f:
        json.dump({"id": dead, "status": "running", "pid": 999999999, "start_time": 1}, f)
    os.makedirs(os.path.join(state_root, ".names"), exist_ok=True)
    os.symlink(dead, os.path.join(state_root, ".names", "carton-test-stale"))
    try:
        r = carton("run", "--name", "carton-test-stale", rootfs, "true")
        assert r.returncode == 0, r.stderr
    finally:
        os.unlink(os.path.join(state_root, dead, "state.json"))
        os.rmdir(os.path.join(state_root, dead))
