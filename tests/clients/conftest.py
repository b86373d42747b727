"""Fixtures that drive real OCI clients (containerd's ``ctr``, ``podman``) against a runtime.

The runtime under test is ``runtime_binary()``: ``$CARTON_CLIENT_RUNTIME`` if set, else the
``carton`` script next to the test's Python. While that runtime lacks the runc-compatible verbs
(``RUNTIME create --help`` fails) the tests skip; ``CARTON_CLIENT_RUNTIME=/usr/sbin/runc``
proves the harness with runc.

Each client runs with everything of its own in a temporary directory:

* containerd runs in a private mount namespace with a temporary directory bound over ``/run``
  (the shim hard-codes ``/run/containerd/s``); every ``ctr`` joins that namespace with nsenter.
  It is started through ``setsid -f`` while pytest is not a subreaper, so that neither it nor
  its shims are pytest's descendants (the suite checks that each test leaves none behind).
* podman gets its own containers.conf, storage.conf (vfs) and registries.conf.

Their containers use the cgroup parents ``/carton-test`` (ctr's namespace name) and
``/carton-test-podman``: names the session leak check looks for, and that teardown removes.

Environment:
  CARTON_CLIENT_RUNTIME=PATH    the runtime to test (default: carton next to sys.executable)
  CARTON_REQUIRE_CLIENTS=1      fail instead of skipping when a client or the runtime is missing
  CARTON_CLIENT_TRACE=FILE      append each runtime call (cwd, selected env, argv) to FILE
  CARTON_CLIENT_SECCOMP=unconfined   run podman without its default seccomp profile
"""

import ctypes
import fcntl
import itertools
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

import pytest

from carton.rootfs import busybox

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RUNTIME = os.path.join(os.path.dirname(sys.executable), "carton")
IMAGE = "docker.io/library/busybox:latest"
NAMESPACE = "carton-test"  # ctr's namespace; ctr puts containers in the cgroup /<namespace>/<id>
PODMAN_CGROUP_PARENT = "/carton-test-podman"
CGROUP_ROOT = "/sys/fs/cgroup"
TIMEOUT = 30
# Where a runtime keeps its state when podman calls it without --root.
DEFAULT_STATE_ROOTS = ("/run/carton", "/run/runc", "/run/crun")


def runtime_binary():
    """The runtime the client tests drive: $CARTON_CLIENT_RUNTIME, else Carton's own script."""
    return os.environ.get("CARTON_CLIENT_RUNTIME") or DEFAULT_RUNTIME


def clients_required():
    return os.environ.get("CARTON_REQUIRE_CLIENTS") == "1"


def need(ok, reason):
    """Skip (or, with CARTON_REQUIRE_CLIENTS=1, fail) unless ``ok``."""
    if ok:
        return
    if clients_required():
        pytest.fail(f"{reason} (and CARTON_REQUIRE_CLIENTS=1)", pytrace=False)
    pytest.skip(reason)


def have(program):
    return shutil.which(program) is not None


# -- ordering and marking ---------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line("markers", "clients: drives real containerd/podman (deselect: -m 'not clients')")


def pytest_collection_modifyitems(config, items):
    """Mark the client tests and run them last: they are the slowest and need the most setup."""
    ours, others = [], []
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.clients)
            ours.append(item)
        else:
            others.append(item)
    items[:] = others + ours


# -- processes, cgroups, mounts ---------------------------------------------------------


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _mnt_ns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid):
    """True while ``pid`` runs (a zombie counts as gone)."""
    stat = _read(f"/proc/{pid}/stat")
    return stat is not None and stat.rsplit(")", 1)[1].split()[0] != "Z"


def _all_pids():
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _descendants(pids):
    children = {}
    for pid in _all_pids():
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(pid)
    result, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def _wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.02)
    return [p for p in pids if _alive(p)]


def _kill(pids, sig=signal.SIGKILL, still_ours=lambda pid: True):
    for pid in pids:
        if still_ours(pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


class not_a_subreaper:
    """While in this block, orphans of our children go to PID 1, not to us.

    The suite's session fixture makes pytest a child subreaper (so that containers made by
    ``carton create`` come back to it). A daemon started for the whole session, such as
    containerd, must not: every test checks that it leaves no descendant of pytest behind.
    """

    PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37

    def __enter__(self):
        self.prctl = ctypes.CDLL(None, use_errno=True).prctl
        flag = ctypes.c_int(0)
        self.prctl(self.PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
        self.was = flag.value
        self.prctl(self.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        return self

    def __exit__(self, *exc):
        self.prctl(self.PR_SET_CHILD_SUBREAPER, self.was, 0, 0, 0)


def wait_processes_gone(ours, timeout=10):
    """Wait until no live process satisfies ``ours(pid)``; return those still there."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in _all_pids() if ours(p) and _alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def cgroup_dirs(name):
    """Every cgroup called ``name`` right under a hierarchy's root (cgroup v2, or each v1 one)."""
    tops = [CGROUP_ROOT] + [os.path.join(CGROUP_ROOT, d) for d in sorted(os.listdir(CGROUP_ROOT))]
    return [os.path.join(t, name) for t in tops if os.path.isdir(os.path.join(t, name))]


def _cgroup_pids(paths):
    pids = set()
    for path in paths:
        for top, _, files in os.walk(path):
            if "cgroup.procs" in files:
                pids.update(int(p) for p in (_read(os.path.join(top, "cgroup.procs")) or "").split())
    return pids


def _thaw(paths):
    """Thaw frozen cgroups (a paused container ignores SIGKILL until it is thawed)."""
    for path in paths:
        for top, _, files in os.walk(path):
            for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if name in files:
                    try:
                        with open(os.path.join(top, name), "w") as f:
                            f.write(value)
                    except OSError:
                        pass


def remove_cgroups(name):
    """Kill what is left in the cgroups called ``name``, then remove them, deepest first."""
    paths = cgroup_dirs(name)
    _thaw(paths)
    pids = _cgroup_pids(paths)
    _kill(pids)
    _wait_gone(pids)
    left = []
    for path in paths:
        for top, _, _ in os.walk(path, topdown=False):
            try:
                os.rmdir(top)
            except OSError:
                left.append(top)
    return left


def unmount_under(path):
    """Lazily unmount every mount of this mount namespace below ``path``, deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


class HostDirs:
    """Host directories a client makes whatever it is told; removes the ones that were not there."""

    def __init__(self, *paths):
        self.absent = [p for p in paths if not os.path.lexists(p)]

    def restore(self, rmtree=False):
        for path in self.absent:
            if rmtree:
                shutil.rmtree(path, ignore_errors=True)
            else:  # only empty directories
                for top, _, _ in os.walk(path, topdown=False):
                    try:
                        os.rmdir(top)
                    except OSError:
                        pass


def _state_entries():
    return {(root, e) for root in DEFAULT_STATE_ROOTS if os.path.isdir(root) for e in os.listdir(root)}


# -- the runtime ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def runtime(tmp_path_factory):
    """The path of the runtime binary the clients are told to use (a tracing wrapper, on request).

    Skips while the runtime lacks the runc-compatible verbs (``RUNTIME create --help`` fails).
    """
    path = runtime_binary()
    need(os.path.isfile(path) and os.access(path, os.X_OK), f"runtime {path} not found")
    probe = subprocess.run([path, "create", "--help"], capture_output=True, text=True, timeout=30)
    need(probe.returncode == 0,
         f"{path} has no runc-compatible verbs yet (`{os.path.basename(path)} create --help` failed);"
         " set CARTON_CLIENT_RUNTIME=/usr/sbin/runc to test the harness with runc")
    trace = os.environ.get("CARTON_CLIENT_TRACE")
    if not trace:
        return path
    wrapper = tmp_path_factory.mktemp("runtime") / "traced-runtime"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"printf '%s cwd=%s env=[%s] argv: %s\\n' \"$$\" \"$PWD\" "
        "\"$(env | grep -E '^(_OCI|XDG_RUNTIME_DIR|NOTIFY_SOCKET|LISTEN_)' | tr '\\n' ' ')\" "
        f"\"$*\" >> '{os.path.abspath(trace)}'\n"
        f"exec '{path}' \"$@\"\n")
    wrapper.chmod(0o755)
    return str(wrapper)


# -- the image ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def busybox_image():
    """A docker-archive tarball of a one-layer busybox image, tagged ``IMAGE`` (Cmd: /bin/sh)."""
    for program in ("umoci", "skopeo"):
        need(have(program), f"{program} not installed (scripts/test-deps.sh)")
    base = tempfile.mkdtemp(prefix="carton-test-image-")
    host_dirs = HostDirs("/var/lib/containers")  # skopeo's blob-info cache, as root
    try:
        rootfs, layout = os.path.join(base, "rootfs"), os.path.join(base, "oci")
        busybox.build(rootfs)
        image = f"{layout}:latest"
        for argv in (["umoci", "init", "--layout", layout],
                     ["umoci", "new", "--image", image],
                     ["umoci", "insert", "--image", image, rootfs, "/"],
                     ["umoci", "config", "--image", image, "--os", "linux", "--architecture", "amd64",
                      "--config.cmd", "/bin/sh", "--config.workingdir", "/",
                      "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                     ["skopeo", "copy", "-q", f"oci:{image}",
                      f"docker-archive:{base}/busybox.tar:{IMAGE}"]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{argv} failed: {done.stderr}"
        shutil.rmtree(rootfs)
        shutil.rmtree(layout)
        host_dirs.restore(rmtree=True)
        yield os.path.join(base, "busybox.tar")
    finally:
        host_dirs.restore(rmtree=True)
        shutil.rmtree(base, ignore_errors=True)


# -- a terminal ---------------------------------------------------------------------------


class Terminal:
    """A client attached to the slave side of a pty; the test holds the master, like a terminal."""

    def __init__(self, argv, env=None, size=(24, 80)):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                         start_new_session=True)
        finally:
            os.close(slave)
        self.output = b""

    def _read(self, timeout):
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave side is closed
            return None
        self.output += data
        return data if data else None

    def expect(self, pattern, timeout=TIMEOUT):
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while not regex.search(self.output):
            left = deadline - time.monotonic()
            if left <= 0 or self._read(left) is None:
                raise AssertionError(f"did not see {regex.pattern!r} on the terminal: {self.text}")

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def finish(self, timeout=TIMEOUT):
        """Read until the client exits and the terminal is closed; return its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._read(0.1)
            if data is None or (not data and self.proc.poll() is not None):
                break
        return self.proc.wait(timeout=max(deadline - time.monotonic(), 1))

    @property
    def text(self):
        return self.output.decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal():
    """``terminal(argv, env=None)`` -> a Terminal; closed (client killed if needed) after the test."""
    made = []

    def spawn(argv, env=None):
        made.append(Terminal(argv, env))
        return made[-1]

    yield spawn
    for t in made:
        t.close()


# -- containerd ---------------------------------------------------------------------------

CONTAINERD_CONFIG = """\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{base}/containerd.sock"

[ttrpc]
  address = "{base}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"
"""

# sh (exec'd by unshare in the new mount namespace) binds the private /run (-n: without writing
# /run/mount/utab on the host), writes its own PID, which containerd keeps, then becomes containerd.
CONTAINERD_START = 'mount -n --bind "$1" /run && echo $$ > "$2" && exec containerd --config "$3"'


class Containerd:
    """A private containerd; ``ctr(...)`` runs ctr in its mount namespace and its ``carton-test``
    namespace, with the native snapshotter."""

    def __init__(self, base, runtime):
        self.base = base
        self.runtime = runtime
        self.socket = os.path.join(base, "containerd.sock")
        self.run_dir = os.path.join(base, "run")  # bound over /run inside the namespace
        self.log = os.path.join(base, "containerd.log")
        self.pid = None
        self.mnt_ns = None
        self.env = dict(os.environ, CONTAINERD_SNAPSHOTTER="native", CONTAINERD_NAMESPACE=NAMESPACE)

    def start(self):
        for d in ("run", "root", "state"):
            os.makedirs(os.path.join(self.base, d))
        config = os.path.join(self.base, "config.toml")
        with open(config, "w") as f:
            f.write(CONTAINERD_CONFIG.format(base=self.base))
        pidfile = os.path.join(self.base, "containerd.pid")
        with open(self.log, "wb") as log, not_a_subreaper():
            subprocess.run(["setsid", "-f", "unshare", "--mount", "--propagation", "private",
                            "sh", "-c", CONTAINERD_START, "sh", self.run_dir, pidfile, config],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = _read(pidfile)
            if text and text.strip() and self.pid is None:
                self.pid = int(text)
            if self.pid and self.mnt_ns is None:
                ns = _mnt_ns(self.pid)
                if ns and ns != _mnt_ns("self"):
                    self.mnt_ns = ns
            if self.mnt_ns and os.path.exists(self.socket):
                if self.ctr("version", timeout=5).returncode == 0:
                    return
            if self.pid and not _alive(self.pid):
                break
            time.sleep(0.05)
        raise AssertionError(f"containerd did not start:\n{_read(self.log)}")

    def ctr_argv(self, *args):
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", "ctr", "--address", self.socket,
                "--namespace", NAMESPACE, *args]

    def ctr(self, *args, timeout=TIMEOUT, input=None):
        """Run ``ctr ARGS`` to completion; a CompletedProcess with text stdout/stderr."""
        return subprocess.run(self.ctr_argv(*args), capture_output=True, text=True, input=input,
                              timeout=timeout, env=self.env,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def popen(self, *args, **kwargs):
        return subprocess.Popen(self.ctr_argv(*args), env=self.env, **kwargs)

    def run_argv(self, cid, *command, options=()):
        """The ctr arguments of ``ctr run [OPTIONS] --runc-binary RUNTIME IMAGE CID COMMAND...``."""
        return ["run", *options, "--runc-binary", self.runtime, IMAGE, cid, *command]

    def tasks(self):
        """{id: (pid, status)} from ``ctr task ls``."""
        done = self.ctr("task", "ls")
        assert done.returncode == 0, done.stderr
        rows = [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]
        return {r[0]: (int(r[1]), r[2]) for r in rows if len(r) >= 3}

    def containers(self):
        done = self.ctr("container", "ls", "-q")
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def runtime_state(self):
        """What the runtime keeps in its --root for our namespace (empty when all are deleted)."""
        root = os.path.join(self.run_dir, "containerd", "runc", NAMESPACE)
        return sorted(os.listdir(root)) if os.path.isdir(root) else []

    def remove(self, cid):
        """Kill and delete the task and the container ``cid``, whatever state they are in."""
        status = self.tasks().get(cid, (0, None))[1]
        if status == "PAUSED":
            self.ctr("task", "resume", cid)
        if status not in (None, "STOPPED"):
            self.ctr("task", "kill", "-s", "SIGKILL", cid)
            deadline = time.monotonic() + 10
            while self.tasks().get(cid, (0, "STOPPED"))[1] != "STOPPED" and time.monotonic() < deadline:
                time.sleep(0.05)
        if status is not None and self.ctr("task", "delete", cid).returncode != 0:
            self.ctr("task", "delete", "--force", cid)  # the runtime sees `kill --all ID 9` too
        if cid in self.containers():
            self.ctr("container", "delete", cid)

    def _ours(self, pid):
        return self.mnt_ns is not None and _mnt_ns(pid) == self.mnt_ns

    def stop(self):
        """Remove every container, stop containerd, end whatever it left (shims, containers)."""
        problems = []
        if self.pid and _alive(self.pid):
            try:
                left = sorted(set(self.tasks()) | set(self.containers()))
                if left:
                    problems.append(f"containers left by the tests: {left}")
                for cid in left:
                    self.remove(cid)
            except Exception as e:  # noqa: BLE001 - carry on cleaning
                problems.append(f"removing containers: {e}")
        if self.mnt_ns:
            # a shim ends by itself shortly after its last task is deleted
            leftovers = wait_processes_gone(lambda p: p != self.pid and self._ours(p), timeout=5)
            if leftovers:
                problems.append("processes left in containerd's mount namespace: "
                                + "; ".join(f"{p} {_cmdline(p)}" for p in leftovers))
            children = _descendants(leftovers)  # containers under a leftover shim
            _kill([self.pid], signal.SIGTERM, self._ours)
            if _wait_gone([self.pid]):
                _kill([self.pid], signal.SIGKILL, self._ours)
            _kill(children)
            _kill(leftovers, signal.SIGKILL, self._ours)
            _wait_gone([self.pid, *leftovers, *children])
        left = remove_cgroups(NAMESPACE)
        if left:
            problems.append(f"cgroups that could not be removed: {left}")
        shutil.rmtree(self.base, ignore_errors=True)
        return problems


@pytest.fixture(scope="session")
def containerd(runtime, busybox_image):
    """A containerd of the session's own with the busybox image imported (see Containerd)."""
    for program in ("containerd", "ctr", "containerd-shim-runc-v2", "unshare", "nsenter", "setsid"):
        need(have(program), f"{program} not installed (scripts/test-deps.sh)")
    d = Containerd(tempfile.mkdtemp(prefix="carton-test-containerd-"), runtime)
    try:
        d.start()
        done = d.ctr("images", "import", busybox_image, timeout=60)
        assert done.returncode == 0, f"ctr images import failed: {done.stderr}"
        yield d
        state = d.runtime_state()
        assert not state, f"the runtime left state in its --root: {state}"
    finally:
        problems = d.stop()
        assert not problems, f"containerd teardown: {problems}"


@pytest.fixture
def ctr_ids(containerd):
    """``new_id(stem)`` -> a fresh container id; those containers are removed after the test."""
    made = []
    counter = itertools.count(1)

    def new_id(stem="c"):
        made.append(f"{stem}-{next(counter)}")
        return made[-1]

    yield new_id
    for cid in made:
        containerd.remove(cid)
    left = [c for c in made if c in containerd.containers()]
    assert not left, f"containers still there after cleanup: {left}"


# -- podman -----------------------------------------------------------------------------------

PODMAN_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"
netns = "none"
{seccomp}
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "{base}/tmp"
# conmon's exit command (`podman container cleanup`) must read this same configuration,
# or it looks in another database and `podman run` waits 20 s for an exit code.
conmon_env_vars = [{conmon_env}]
"""

STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = "{base}/storage"
runroot = "{base}/runroot"
"""

REGISTRIES_CONF = "unqualified-search-registries = []\n"


class Podman:
    """podman with configuration and storage in ``base``; ``podman(...)`` runs it with
    ``--runtime RUNTIME`` (and ``--cgroup-parent /carton-test-podman`` for run and create)."""

    def __init__(self, base, runtime, seccomp=True):
        self.base = base
        self.runtime = runtime
        self.env = dict(os.environ,
                        CONTAINERS_CONF=os.path.join(base, "containers.conf"),
                        CONTAINERS_STORAGE_CONF=os.path.join(base, "storage.conf"),
                        CONTAINERS_REGISTRIES_CONF=os.path.join(base, "registries.conf"))
        conmon_env = [f"PATH={os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"] + [
            f"{k}={self.env[k]}" for k in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF",
                                           "CONTAINERS_REGISTRIES_CONF")]
        files = {
            "containers.conf": PODMAN_CONF.format(
                base=base, conmon_env=", ".join(json.dumps(e) for e in conmon_env),
                seccomp="" if seccomp else 'seccomp_profile = "unconfined"'),
            "storage.conf": STORAGE_CONF.format(base=base),
            "registries.conf": REGISTRIES_CONF,
        }
        for name, text in files.items():
            with open(os.path.join(base, name), "w") as f:
                f.write(text)

    def argv(self, *args):
        if args and args[0] in ("run", "create"):
            args = (args[0], "--cgroup-parent", PODMAN_CGROUP_PARENT, *args[1:])
        return ["podman", "--runtime", self.runtime, *args]

    def __call__(self, *args, timeout=TIMEOUT, input=None):
        return subprocess.run(self.argv(*args), capture_output=True, text=True, input=input,
                              timeout=timeout, env=self.env,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def popen(self, *args, **kwargs):
        return subprocess.Popen(self.argv(*args), env=self.env, **kwargs)

    def status(self, name):
        done = self("inspect", "-f", "{{.State.Status}}", name)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def names(self):
        done = self("ps", "-a", "--format", "{{.Names}}")
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def _ours(self, pid):
        return self.base in _cmdline(pid)

    def stop(self):
        """Remove every container and image, end any conmon of ours, remove what podman made."""
        problems = []
        listed = self("ps", "-a", "--format", "{{.Names}}")
        if listed.stdout.split() or listed.returncode != 0:
            problems.append(f"containers left by the tests: {listed.stdout.split()} {listed.stderr}")
        for args in (("rm", "--all", "--force", "--time", "0"), ("rmi", "--all", "--force")):
            done = self(*args, timeout=60)
            if done.returncode != 0:
                problems.append(f"podman {' '.join(args)}: {done.stderr.strip()}")
        # conmon, and the `podman container cleanup` it starts, end shortly after the container
        left = wait_processes_gone(self._ours)
        conmons = [p for p in left if "conmon" in _cmdline(p).split(" ")[0]]
        if left:
            problems.append("processes left: " + "; ".join(f"{p} {_cmdline(p)}" for p in left))
            children = _descendants(conmons)
            _kill(children)
            _kill(left, signal.SIGKILL, self._ours)
            _wait_gone(left + children)
        left = remove_cgroups(PODMAN_CGROUP_PARENT.strip("/"))
        if left:
            problems.append(f"cgroups that could not be removed: {left}")
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        return problems


@pytest.fixture(scope="session")
def podman(runtime, busybox_image):
    """A podman of the session's own with the busybox image loaded (see Podman).

    Podman's default seccomp profile is used unless CARTON_CLIENT_SECCOMP=unconfined.
    """
    for program in ("podman", "conmon"):
        need(have(program), f"{program} not installed (scripts/test-deps.sh)")
    host_dirs = HostDirs("/run/containers", "/run/libpod")  # netavark's run dir, made anyway
    state_before = _state_entries()
    seccomp = os.environ.get("CARTON_CLIENT_SECCOMP", "default") != "unconfined"
    p = Podman(tempfile.mkdtemp(prefix="carton-test-podman-"), runtime, seccomp=seccomp)
    try:
        done = p("load", "-q", "-i", busybox_image, timeout=60)
        assert done.returncode == 0, f"podman load failed: {done.stderr}"
        yield p
    finally:
        problems = p.stop()
        host_dirs.restore()
        state = sorted(_state_entries() - state_before)
        if state:
            problems.append(f"the runtime left state in its default root: {state}")
        assert not problems, f"podman teardown: {problems}"


@pytest.fixture
def podman_names(podman):
    """``new_name(stem)`` -> a fresh container name; those containers are removed after the test."""
    made = []
    counter = itertools.count(1)

    def new_name(stem="c"):
        made.append(f"carton-test-{stem}-{next(counter)}")
        return made[-1]

    yield new_name
    if made:
        podman("rm", "--force", "--ignore", "--time", "0", *made, timeout=60)
        left = [n for n in made if n in podman.names()]
        assert not left, f"containers still there after cleanup: {left}"
    # conmon and its exit command are orphans that come to pytest (a subreaper): let them finish,
    # as the suite checks after each test that no descendant of pytest is left
    left = wait_processes_gone(podman._ours)
    assert not left, f"podman processes still running: {[_cmdline(p) for p in left]}"


# -- observing containers from the host -------------------------------------------------------


def process_frozen(pid):
    """True if ``pid``'s cgroup is frozen (cgroup v1 freezer, or cgroup v2 cgroup.events)."""
    text = _read(f"/proc/{pid}/cgroup")
    assert text is not None, f"process {pid} is gone"
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            if (_read(f"{CGROUP_ROOT}/freezer{path}/freezer.state") or "").strip() == "FROZEN":
                return True
        elif controllers == "":
            for top in (CGROUP_ROOT, f"{CGROUP_ROOT}/unified"):
                if "frozen 1" in (_read(f"{top}{path}/cgroup.events") or "").splitlines():
                    return True
    return False


@pytest.fixture
def frozen():
    """``frozen(pid)`` -> True if the process's cgroup is frozen (as ``pause`` should make it)."""
    return process_frozen


@pytest.fixture
def alive():
    """``alive(pid)`` -> True while the host process ``pid`` runs (zombies count as gone)."""
    return _alive


@pytest.fixture
def cgroups():
    """``cgroups(path)`` -> the directories of cgroup ``path`` (e.g. "carton-test/ID") that exist."""
    return cgroup_dirs

