"""Helpers for the escape tests: a helper program that attempts one thing, and two ways in.

The attempts that busybox cannot make (keyctl, ptrace, init_module, reboot,
settimeofday...) are made by ``escape``, a small C program compiled at test
time with ``gcc -static`` (skipped, with the reason, where that fails). Each
of its commands makes one system call and prints ``ok`` or the errno's name
(``EPERM``), so a test can tell "blocked" from "allowed but failed".

Every command is harmless if it ever succeeded, because CI runs on a real
machine: ``reboot`` passes a wrong magic number (the kernel checks the
capability, then refuses the magic: EINVAL, nothing happens); ``settime``
calls settimeofday(NULL, NULL), which checks CAP_SYS_TIME and then changes
nothing; ``init_module`` hands the kernel seven bytes of garbage; ``open``
opens and closes without reading or writing a byte; ``ptrace`` attaches to
a ``sleep`` the test started itself, and detaches.

A container is made through one of two front doors (``Runner``):

* ``bundle``: what ``carton run`` builds (``run_spec``), given the flags by
  ``carton.security.apply_run_options``, written as a bundle's config.json
  and run with ``carton run --bundle`` (works today);
* ``run``: ``carton run [FLAGS] ROOTFS CMD``, the docker-style front door
  (needs ``apply_run_options`` wired into carton/cli/run.py).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import time

_INTEGRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "integration")
if _INTEGRATION not in sys.path:
    sys.path.append(_INTEGRATION)

import oci_bundle  # noqa: E402  (tests/integration: reaping the containers' zombies)

from carton.security import apply_run_options  # noqa: E402
from carton.spec import defaults  # noqa: E402
from carton.spec.model import Linux, Process, Spec, User  # noqa: E402

HELPER_IN_ROOTFS = "/usr/local/bin/escape"

HELPER_SOURCE = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Print "ok" or the errno's name; exit 0 or 1. */
static int report(long rc) {
    if (rc < 0) {
        const char *name = strerrorname_np(errno);
        if (name) printf("%s\n", name); else printf("E%d\n", errno);
        return 1;
    }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "keyctl"))         /* KEYCTL_GET_KEYRING_ID of the session keyring, no create */
        return report(syscall(SYS_keyctl, 0, -3, 0));
    if (!strcmp(cmd, "init_module"))    /* seven bytes of garbage: never a module */
        return report(syscall(SYS_init_module, "garbage", 7UL, ""));
    if (!strcmp(cmd, "reboot"))         /* wrong magic: EINVAL once allowed, nothing happens */
        return report(syscall(SYS_reboot, 0, 0, 0, NULL));
    if (!strcmp(cmd, "settime"))        /* settimeofday(NULL, NULL): a CAP_SYS_TIME check, no change */
        return report(syscall(SYS_settimeofday, NULL, NULL));
    if (!strcmp(cmd, "settime-same")) { /* set the clock to the time it reads */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return report(clock_settime(CLOCK_REALTIME, &ts));
    }
    if (!strcmp(cmd, "sethostname") && argc == 3)
        return report(sethostname(argv[2], strlen(argv[2])));
    if (!strcmp(cmd, "mount") && argc == 3)
        return report(mount("none", argv[2], "tmpfs", 0, "size=4k"));
    if (!strcmp(cmd, "unshare") && argc == 3)
        return report(unshare((int)strtol(argv[2], NULL, 0)));
    if (!strcmp(cmd, "personality") && argc == 3)
        return report(personality(strtoul(argv[2], NULL, 0)));
    if (!strcmp(cmd, "socket") && argc == 5) {
        int fd = socket(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
        if (fd >= 0) close(fd);
        return report(fd);
    }
    if (!strcmp(cmd, "io_uring")) {     /* a ring of one entry, closed at once */
        char params[120] = {0};
        long fd = syscall(425, 1, params);
        if (fd >= 0) close(fd);
        return report(fd);
    }
    if (!strcmp(cmd, "open") && argc == 4) {  /* open and close: no byte read or written */
        int flags = argv[3][0] == 'w' ? O_WRONLY : argv[3][0] == 'a' ? O_WRONLY | O_APPEND
                  : argv[3][0] == 'p' ? O_PATH : O_RDONLY;
        int fd = open(argv[2], flags | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) close(fd);
        return report(fd);
    }
    if (!strcmp(cmd, "stat") && argc == 3) {  /* device:inode of what a path leads to */
        struct stat st;
        if (stat(argv[2], &st) < 0) return report(-1);
        printf("%lu:%lu\n", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
        return 0;
    }
    if (!strcmp(cmd, "ptrace") && argc == 3) {  /* attach, wait for the stop, detach */
        pid_t pid = atoi(argv[2]);
        if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) return report(-1);
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
        return report(0);
    }
    if (!strcmp(cmd, "fds")) {          /* this process's open fds, but the one reading the list */
        DIR *d = opendir("/proc/self/fd");
        if (!d) return report(-1);
        struct dirent *e;
        char path[64], target[4096];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
            snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(path, target, sizeof target - 1);
            target[n < 0 ? 0 : n] = 0;
            printf("%s %s\n", e->d_name, target);
        }
        closedir(d);
        return 0;
    }
    fprintf(stderr, "escape: unknown command\n");
    return 2;
}
"""


def build_helper(directory):
    """Compile the helper into ``directory``; return its path, or raise RuntimeError(why)."""
    gcc = shutil.which("gcc")
    if not gcc:
        raise RuntimeError("gcc is not installed: the escape helper cannot be built")
    source = os.path.join(directory, "escape.c")
    binary = os.path.join(directory, "escape")
    with open(source, "w") as f:
        f.write(HELPER_SOURCE)
    r = subprocess.run([gcc, "-static", "-O1", "-o", binary, source], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"gcc -static failed (is libc6-dev installed?): {r.stderr.strip()[-300:]}")
    return binary


# -- reading what a container printed ---------------------------------------------------------


def status_fields(text):
    """``Name: value`` lines of /proc/PID/status, as a dict."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


SECURITY_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")


def security_lines(text):
    fields = status_fields(text)
    return {k: fields.get(k) for k in SECURITY_FIELDS}


# -- the spec `carton run` builds ---------------------------------------------------------


def run_spec(rootfs, args, uid=0, gid=0, hostname="box"):
    """The Spec ``carton run ROOTFS ARGS`` builds before its security flags (cli/run.py):
    docker's mounts, namespaces, masked and read-only paths; a cgroup of its own."""
    env = [f"PATH={defaults.DEFAULT_PATH}", f"HOSTNAME={hostname}", "HOME=/root"]
    process = Process(list(args), env, "/", User(uid, gid))
    linux = Linux(defaults.namespaces(), defaults.MASKED_PATHS, defaults.READONLY_PATHS,
                  cgroups_path=f"/carton-test-{secrets.token_hex(6)}")
    return Spec(process, str(rootfs), hostname=hostname, mounts=defaults.mounts(), linux=linux)


def run_config(rootfs, args, user=None, cap_add=(), cap_drop=(), privileged=False,
               security_opts=()):
    """config.json (a dict) for ``carton run [FLAGS] ROOTFS ARGS``, the flags applied."""
    uid, _, gid = (user or "0").partition(":")
    spec = run_spec(rootfs, args, int(uid), int(gid or uid))
    apply_run_options(spec, cap_add=cap_add, cap_drop=cap_drop, privileged=privileged,
                      security_opts=security_opts)
    return spec.to_dict()


def run_flags(user=None, cap_add=(), cap_drop=(), privileged=False, security_opts=()):
    """The same, as ``carton run`` flags."""
    flags = []
    if user:
        flags += ["-u", user]
    for cap in cap_add:
        flags += ["--cap-add", cap]
    for cap in cap_drop:
        flags += ["--cap-drop", cap]
    if privileged:
        flags.append("--privileged")
    for opt in security_opts:
        flags += ["--security-opt", opt]
    return flags


# -- running containers -------------------------------------------------------------------


class Result:
    def __init__(self, argv, returncode, stdout, stderr):
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr

    @property
    def ok(self):
        return self.returncode == 0

    @property
    def lines(self):
        return self.stdout.splitlines()

    def __repr__(self):
        return (f"<{' '.join(self.argv[3:8])}...: exit {self.returncode}, stdout {self.stdout!r}, "
                f"stderr {self.stderr!r}>")


class Runner:
    """Makes containers through one front door (``door``: "bundle" or "run"); cleans up after."""

    def __init__(self, carton, rootfs, tmp_path, door):
        self.carton = carton
        self.rootfs = str(rootfs)
        self.tmp = tmp_path
        self.door = door
        self.ids = []
        self.helpers = []
        self.count = 0

    def config(self, args, **options):
        return run_config(self.rootfs, args, **options)

    def run(self, args, pass_fds=(), tweak=None, timeout=30, **options):
        """Run ``args`` in a new container with ``options`` (user, cap_add, cap_drop,
        privileged, security_opts); ``tweak(config)`` edits a bundle's config first."""
        if self.door == "run":
            if tweak is not None:
                raise ValueError("tweak needs the bundle door")
            return self.carton_call(["run", *run_flags(**options), self.rootfs, *args],
                                    pass_fds=pass_fds, timeout=timeout)
        config = self.config(args, **options)
        if tweak is not None:
            tweak(config)
        return self.run_config(config, pass_fds=pass_fds, timeout=timeout)

    def run_config(self, config, pass_fds=(), timeout=30):
        bundle = self.write_bundle(config)
        cid = self.new_id()
        return self.carton_call(["run", "--bundle", bundle, cid], pass_fds=pass_fds,
                                timeout=timeout)

    def write_bundle(self, config):
        self.count += 1
        bundle = self.tmp / f"bundle{self.count}"
        bundle.mkdir()
        with open(bundle / "config.json", "w") as f:
            json.dump(config, f, indent=1)
        return str(bundle)

    def new_id(self):
        cid = oci_bundle.new_id("sec")
        self.ids.append(cid)
        return cid

    def carton_call(self, args, pass_fds=(), timeout=30):
        """``carton --root ROOT ARGS``, stdin /dev/null, output in files (a container's
        init may hold a pipe open), reaping the containers' zombies meanwhile."""
        self.count += 1
        out, err = self.tmp / f"carton-{self.count}.out", self.tmp / f"carton-{self.count}.err"
        argv = self.carton.argv(*args)
        with open(out, "w") as o, open(err, "w") as e:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                    pass_fds=pass_fds)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    proc.wait(0.01)
                    break
                except subprocess.TimeoutExpired:
                    oci_bundle.reap_zombies(keep=(proc.pid,))
                    if time.monotonic() > deadline:
                        raise
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        return Result(argv, proc.returncode, out.read_text(), err.read_text())

    def helper(self, *argv):
        """A process of the test's own on the host (e.g. a ``sleep`` to attack), killed at the end."""
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL)
        oci_bundle._OWN.add(proc.pid)
        self.helpers.append(proc)
        return proc

    def cleanup(self):
        for proc in self.helpers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            oci_bundle._OWN.discard(proc.pid)
        for cid in reversed(self.ids):
            if os.path.exists(os.path.join(self.carton.root, cid)):
                self.carton_call(["delete", "--force", cid])
        oci_bundle.reap_zombies()


def host_block_device():
    """(path, major, minor) of a block device the host can open: the disk under / if possible.

    Only ever opened read-only, and closed without a byte read. A device the
    host itself cannot open (some VMs protect their root disk) would prove nothing.
    """
    import stat

    root_dev = os.stat("/").st_dev
    candidates = []
    for name in sorted(os.listdir("/dev")):
        path = os.path.join("/dev", name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode):
            candidates.append((st.st_rdev != root_dev, path, os.major(st.st_rdev),
                               os.minor(st.st_rdev)))
    for _, path, major, minor in sorted(candidates):
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        except OSError:
            continue
        return path, major, minor
    return None
