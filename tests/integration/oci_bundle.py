"""Helpers for the tests of the runc-compatible verbs: OCI bundles, and ``carton`` run as an engine would.

A bundle starts from ``carton spec``'s template (``default_config()``), with
the session's busybox rootfs as its (read-only, absolute) root, no terminal,
the test's own ``process.args`` and, always, an absolute
``linux.cgroupsPath`` of its own (``/carton-test-<random>``), so nothing is
ever made below this machine's own cgroups.

``carton create`` and ``run -d`` leave the container's init holding their
stdout and stderr: with pipes, ``subprocess.run`` would wait for the
container's end. So every call here writes them to files instead.

The containers' inits end up children of pytest (a child subreaper). A
PID namespace's init cannot finish dying until every process of its
namespace has been reaped, and processes started by ``exec`` are reaped by
pytest too, so while a call runs we reap our zombie children (never the
call's own process, whose status we want).
"""

import json
import os
import secrets
import signal
import subprocess
import time

import pytest

from carton.spec.template import default_config

CGROUP_ROOT = "/sys/fs/cgroup"
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def new_id(prefix="oci"):
    return f"{prefix}-{secrets.token_hex(4)}"


def wait_until(predicate, timeout=10.0, what="a condition"):
    deadline = time.monotonic() + timeout
    while True:
        reap_zombies()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# Children of the tests' own (helpers started with Popen) whose status Popen will collect.
_OWN = set()


def reap_zombies(keep=()):
    """waitpid() each zombie child of ours except those in ``keep`` (and the tests' helpers)."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        return
    for pid in children:
        if pid in keep or pid in _OWN or proc_state(pid) != "Z":
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid):
    return proc_state(pid) not in (None, "Z", "X")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").decode(errors="replace").split("\0")
    except OSError:
        return None


def mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


class Result:
    """What a ``carton`` call did: its exit code, stdout and stderr (as text)."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return (f"<carton {' '.join(self.argv[3:])}: exit {self.returncode}, "
                f"stdout {self.stdout!r}, stderr {self.stderr!r}>")


class Bundle:
    """``<dir>/config.json``; change ``config`` (or the shortcuts) and call ``write()``."""

    def __init__(self, path, rootfs, args):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        self.config = default_config()
        self.config["root"] = {"path": str(rootfs), "readonly": True}
        self.process["terminal"] = False
        self.process["args"] = list(args)
        self.cgroups_path = f"/carton-test-{secrets.token_hex(6)}"
        self.linux["cgroupsPath"] = self.cgroups_path
        self.write()

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config["linux"]

    @property
    def config_path(self):
        return os.path.join(self.path, "config.json")

    def write(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        return self

    def mount(self, destination, type, source, options=()):
        self.config["mounts"].append({"destination": destination, "type": type,
                                      "source": str(source), "options": list(options)})
        return self.write()

    def bind(self, source, destination, *options):
        """Bind a host directory into the container (at a directory the rootfs already has:
        the session's rootfs must not change, and a new mount point would be made in it)."""
        return self.mount(destination, "bind", source, ["rbind", *(options or ["rw"])])

    def namespace(self, kind, path=None):
        """Set (path given), add, or with ``path=False`` remove a namespace."""
        spaces = [n for n in self.linux["namespaces"] if n["type"] != kind]
        if path is not False:
            spaces.append({"type": kind, "path": path} if path else {"type": kind})
        self.linux["namespaces"] = spaces
        return self.write()

    def cgroup_dirs(self):
        """The container's directory in each cgroup hierarchy mounted here."""
        return [os.path.join(CGROUP_ROOT, h) + self.cgroups_path
                for h in sorted(os.listdir(CGROUP_ROOT))
                if os.path.isdir(os.path.join(CGROUP_ROOT, h))]

    def cgroup_dir(self, hierarchy="pids"):
        return os.path.join(CGROUP_ROOT, hierarchy) + self.cgroups_path

    def cgroups_left(self):
        return [d for d in self.cgroup_dirs() if os.path.exists(d)]


class OCI:
    """Runs ``carton`` for one test, and deletes what it made at the end, whatever happened."""

    def __init__(self, carton, rootfs, tmp_path):
        self.carton = carton
        self.root = carton.root
        self.rootfs = str(rootfs)
        self.tmp = tmp_path
        self.ids = []       # containers to `delete --force` at the end
        self.helpers = []   # processes of the test's own (Popen) to kill at the end
        self.count = 0

    def _next(self):
        self.count += 1
        return self.count

    def bundle(self, args, rootfs=None, name=None):
        return Bundle(self.tmp / (name or f"bundle{self._next()}"), rootfs or self.rootfs, args)

    def __call__(self, *args, timeout=30, global_args=()):
        """Run ``carton [--root ROOT] [GLOBAL_ARGS] ARGS``, stdin /dev/null, output in files."""
        n = self._next()
        out, err = self.tmp / f"carton-{n}.out", self.tmp / f"carton-{n}.err"
        argv = self.carton.argv(*global_args, *args)
        with open(out, "w") as o, open(err, "w") as e:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    proc.wait(0.01)
                    break
                except subprocess.TimeoutExpired:
                    reap_zombies(keep=(proc.pid,))
                    if time.monotonic() > deadline:
                        raise
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        return Result(argv, proc.returncode, out.read_text(), err.read_text())

    def check(self, *args, **kwargs):
        r = self(*args, **kwargs)
        assert r.ok, r
        return r

    # -- containers ---------------------------------------------------------------

    def create(self, bundle, *flags, cid=None):
        """``carton create --bundle B [FLAGS] ID``; returns (id, Result). Deleted at the end."""
        cid = new_id() if cid is None else cid
        self.ids.append(cid)
        return cid, self("create", "--bundle", bundle.path, *flags, cid)

    def created(self, bundle, *flags, cid=None):
        cid, r = self.create(bundle, *flags, cid=cid)
        assert r.ok, r
        return cid

    def started(self, bundle, *flags, cid=None):
        cid = self.created(bundle, *flags, cid=cid)
        self.check("start", cid)
        return cid

    def run(self, bundle, *flags, cid=None, timeout=30):
        """A foreground ``carton run --bundle B ID``: the command's exit code and output."""
        cid = new_id() if cid is None else cid
        self.ids.append(cid)
        return self("run", "--bundle", bundle.path, *flags, cid, timeout=timeout)

    def output(self, bundle, *flags):
        """The stdout of a foreground run that must succeed."""
        r = self.run(bundle, *flags)
        assert r.ok, r
        return r.stdout

    def state(self, cid):
        return json.loads(self.check("state", cid).stdout)

    def status(self, cid):
        return self.state(cid)["status"]

    def wait_status(self, cid, status, timeout=10):
        wait_until(lambda: self.status(cid) == status, timeout, f"{cid} to be {status}")

    def state_dir(self, cid):
        return os.path.join(self.root, cid)

    def helper(self, *argv):
        """A process of the test's own, killed at the end."""
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL)
        _OWN.add(proc.pid)
        self.helpers.append(proc)
        return proc

    def cleanup(self):
        for proc in self.helpers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            _OWN.discard(proc.pid)
        for cid in reversed(self.ids):
            if os.path.exists(self.state_dir(cid)):
                self("delete", "--force", cid)
        reap_zombies()


@pytest.fixture
def oci(carton, rootfs, tmp_path):
    """Runs ``carton`` as an engine would; deletes every container it made, whatever happened.

    A fixture for the conftest.py files of tests/integration and tests/v2 to import.
    """
    o = OCI(carton, rootfs, tmp_path)
    try:
        yield o
    finally:
        o.cleanup()

