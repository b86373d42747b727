"""The cgroup v1 driver (also used on hybrid machines).

On v1 each controller has its own tree of directories: the container is one
directory in *each* tree (``/sys/fs/cgroup/memory/web``,
``/sys/fs/cgroup/pids/web``, ... and on hybrid machines
``/sys/fs/cgroup/unified/web`` too), and its processes are written into
every one of them. Which tree does what:

* ``freezer``: pause and resume (``freezer.state``), and the list of
  processes we report and signal.
* ``devices``: which device nodes the container may use (``devices.allow``,
  ``devices.deny``).
* ``pids``, ``memory``: limits (``pids.max``, ``memory.limit_in_bytes``).
* ``cpuset``: a new cpuset cgroup starts with *no* CPUs and memory nodes
  (unless its parent has ``cgroup.clone_children``), and the kernel refuses
  processes into it (``ENOSPC``). So, as runc does, we copy ``cpuset.cpus``
  and ``cpuset.mems`` down from the parent into each level we make.
* the rest (``name=systemd``, ``cpu``, ``blkio``, ...) only hold processes
  for now; issue #4 adds their limits.
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import errno
import os
import time

from ..errors import CartonError
from . import files
from .kill import kill_all
from .resources import check

FREEZE_TIMEOUT = 2.0  # seconds; runc gives up after a similar time
REMOVE_TIMEOUT = 2.0


class Manager:
    """A container's cgroup on a v1 (or hybrid) machine. ``paths``: controller -> directory."""

    version = 1

    def __init__(self, paths):
        self.paths = dict(paths)

    def __repr__(self):
        return f"cgroups.v1.Manager({self.paths!r})"

    def directories(self):
        """Each directory once (``cpu`` and ``cpuacct`` share one when mounted together)."""
        return list(dict.fromkeys(self.paths.values()))

    def _path(self, controller, action):
        directory = self.paths.get(controller)
        if directory is None:
            raise CartonError(f"cannot {action}: no {controller} cgroup hierarchy is mounted on this machine")
        return directory

    # -- create, join, remove ---------------------------------------------------------

    def create(self):
        """``mkdir -p`` the container's directory in every hierarchy; already there is fine."""
        for directory in self.directories():
            files.makedirs(directory)
        if "cpuset" in self.paths:
            _fill_cpuset(self.paths["cpuset"])

    def add(self, pid):
        """Move process ``pid`` into the container's cgroup in every hierarchy (``cgroup.procs``).

        Its children from then on are born there. Add the init before it can
        fork: a child forked half-way would stay behind in the hierarchies not
        yet written.
        """
        for directory in self.directories():
            procs = os.path.join(directory, "cgroup.procs")
            files.write(procs, pid, hint={errno.ENOSPC: "cpuset.cpus or cpuset.mems is empty",
                                          errno.ESRCH: "the process has exited"})

    def destroy(self):
        """Remove the container's directories, and cgroups made below them, deepest first.

        Kills nothing: a cgroup that still has processes after a short wait is
        an error that names them. Directories already gone are fine. Parents
        made by ``create`` (``/default`` for ``/default/web``) stay, as runc
        leaves them: other containers may share them.
        """
        deadline = time.monotonic() + REMOVE_TIMEOUT
        for directory in self.directories():
            files.remove_tree(directory, deadline)

    # -- limits -----------------------------------------------------------------------

    def apply(self, resources, devices=True):
        """Apply ``linux.resources`` (see ``resources.py``). Returns warnings for the user.

        Device rules are rewritten from "deny all" up, which for a moment
        denies every device: right at create, wrong for ``update`` on a
        running container, which passes ``devices=False`` (its rules stay).
        """
        plan = check(resources)
        if devices:
            directory = self._path("devices", "confine the container's devices")
            for allow, rule in plan.devices:
                files.write(os.path.join(directory, "devices.allow" if allow else "devices.deny"), rule)
        if plan.pids is not None:
            value = "max" if plan.pids < 0 else plan.pids
            files.write(os.path.join(self._path("pids", "set pids.limit"), "pids.max"), value)
        if plan.memory is not None:
            path = os.path.join(self._path("memory", "set memory.limit"), "memory.limit_in_bytes")
            files.write(path, plan.memory,
                        hint={errno.EBUSY: "the container already uses more memory than that"})
        return plan.warnings

    # -- pause and resume -------------------------------------------------------------

    def freeze(self):
        """Stop every process in the container (``freezer.state`` = ``FROZEN``) and wait for it.

        The kernel answers ``FREEZING`` while some task has not stopped yet
        (one that is busy in the kernel, say); writing ``FROZEN`` again makes
        it try again. If it never gets there, we thaw and say so.
        """
        state = os.path.join(self._path("freezer", "pause the container"), "freezer.state")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.0005
        while True:
            files.write(state, "FROZEN")
            now = files.read(state).strip()
            if now == "FROZEN":
                return
            if time.monotonic() > deadline:
                files.write(state, "THAWED")
                raise CartonError(f"cannot pause the container: its processes did not all stop within "
                                  f"{FREEZE_TIMEOUT:g}s ({state} says {now})")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def thaw(self):
        files.write(os.path.join(self._path("freezer", "resume the container"), "freezer.state"), "THAWED")

    def frozen(self):
        """True when the container itself is frozen (not just a cgroup above it)."""
        directory = self.paths.get("freezer")
        if directory is None or not os.path.isdir(directory):
            return False
        for _ in range(100):
            state = files.read(os.path.join(directory, "freezer.state")).strip()
            if state != "FREEZING":
                break
            time.sleep(0.001)
        if state != "FROZEN":
            return False
        self_freezing = os.path.join(directory, "freezer.self_freezing")
        return not files.exists(self_freezing) or files.read(self_freezing).strip() == "1"

    # -- processes --------------------------------------------------------------------

    def _process_dir(self):
        for controller in ("freezer", "devices", "pids", "memory"):
            if controller in self.paths:
                return self.paths[controller]
        directories = self.directories()
        return directories[0] if directories else None

    def pids(self):
        """Every process in the container's cgroup and in the cgroups below it."""
        directory = self._process_dir()
        return files.all_procs(directory) if directory else []

    def kill_all(self, sig=signal.SIGKILL):
        kill_all(self, sig, can_freeze="freezer" in self.paths)

    # -- statistics -------------------------------------------------------------------

    def stats(self):
        """What ``runc events --stats`` reports, as far as the mounted controllers tell."""
        result = {}
        cpuacct, cpu = self.paths.get("cpuacct"), self.paths.get("cpu")
        if cpuacct:
            total = files.read_int(os.path.join(cpuacct, "cpuacct.usage"))
            if total is not None:
                ticks = files.read_keyed(os.path.join(cpuacct, "cpuacct.stat"))
                hz = os.sysconf("SC_CLK_TCK")
                usage = {"total": total, "percpu": _numbers(os.path.join(cpuacct, "cpuacct.usage_percpu")),
                         "kernel": ticks.get("system", 0) * 10**9 // hz,
                         "user": ticks.get("user", 0) * 10**9 // hz}
                result["cpu"] = {"usage": usage}
        if cpu:
            throttling = files.read_keyed(os.path.join(cpu, "cpu.stat"))
            if throttling:
                result.setdefault("cpu", {"usage": {}})["throttling"] = {
                    "periods": throttling.get("nr_periods", 0),
                    "throttledPeriods": throttling.get("nr_throttled", 0),
                    "throttledTime": throttling.get("throttled_time", 0)}
        memory = self.paths.get("memory")
        if memory and os.path.isdir(memory):
            def entry(prefix):
                values = {k: files.read_int(os.path.join(memory, f"{prefix}.{f}"))
                          for k, f in (("usage", "usage_in_bytes"), ("max", "max_usage_in_bytes"),
                                       ("failcnt", "failcnt"), ("limit", "limit_in_bytes"))}
                return {k: v for k, v in values.items() if v is not None}

            raw = files.read_keyed(os.path.join(memory, "memory.stat"))
            result["memory"] = {"cache": raw.get("cache", 0), "usage": entry("memory"),
                                "swap": entry("memory.memsw"), "kernel": entry("memory.kmem"),
                                "raw": raw}
        pids = self.paths.get("pids")
        if pids and os.path.isdir(pids):
            result["pids"] = {"current": files.read_int(os.path.join(pids, "pids.current"), 0),
                              "limit": files.read_int(os.path.join(pids, "pids.max")) or 0}
        return result


def _numbers(path):
    try:
        return [int(n) for n in files.read(path).split()]
    except CartonError:
        return []


def _fill_cpuset(directory):
    """Copy ``cpuset.cpus``/``cpuset.mems`` down into each level that has none yet."""
    empty = []
    current = directory
    while files.exists(os.path.join(current, "cpuset.cpus")):
        if files.read(os.path.join(current, "cpuset.cpus")).strip():
            break
        empty.append(current)
        current = os.path.dirname(current)
    for level in reversed(empty):
        parent = os.path.dirname(level)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not files.read(os.path.join(level, name)).strip():
                files.write(os.path.join(level, name), files.read(os.path.join(parent, name)).strip())
