"""``--explain``: every setup step narrated, with its syscalls and a why, and silence without it."""

import re


def test_explain_narrates_each_step(carton, rootfs):
    r = carton("run", "--explain", rootfs, "/bin/echo", "hi")
    assert r.returncode == 0 and r.stdout == "hi\n"
    text = r.stderr
    steps = re.findall(r"^\[\s*(\d+)\] (.+)$", text, re.M)
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))
    titles = [t for _, t in steps]
    # The road, in order.
    order = ["make a new PID namespace for our next child", "fork the container's init",
             "join the container's cgroup", "make new namespaces", "make all mounts private",
             f"bind {rootfs} onto itself", "mount proc on /proc", "mount tmpfs on /dev",
             "create device nodes in /dev", f"pivot_root into {rootfs}",
             "bring up the loopback device", "switch to uid 0, gid 0", "execve /bin/echo hi"]
    positions = [next(i for i, t in enumerate(titles) if t.startswith(o)) for o in order]
    assert positions == sorted(positions)
    # Each step says why, and the syscalls appear with their arguments.
    assert text.count("     why: ") == len(steps)
    for call in ["unshare(CLONE_NEWPID)", "setns(", "unshare(CLONE_NEWNS|",
                 'mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)',
                 'pivot_root(".", ".")', 'umount2(".", MNT_DETACH)', 'sethostname("',
                 'execve("/bin/echo", ["/bin/echo", "hi"])', "setresuid(0, 0, 0)"]:
        assert call in text, call


def test_explain_with_a_terminal_and_a_user(carton, rootfs):
    r = carton("run", "--explain", "-u", "user", rootfs, "true")
    assert r.returncode == 0
    assert "setresuid(1000, 1000, 1000)" in r.stderr and "setgroups(1, [100])" in r.stderr


def test_explain_shows_where_it_failed(carton, rootfs):
    r = carton("run", "--explain", rootfs, "/bin/bahs")
    assert r.returncode == 127
    lines = r.stderr.strip().splitlines()
    assert "find /bin/bahs in the container" in r.stderr
    assert lines[-1] == "carton: /bin/bahs: no such file in the container"


def test_quiet_without_explain(carton, rootfs):
    r = carton("run", rootfs, "true")
    assert (r.returncode, r.stderr) == (0, "")
