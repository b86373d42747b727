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
* ``memory``, ``cpu``, ``cpuset``, ``pids``, ``blkio``, ``hugetlb``,
  ``net_cls``, ``net_prio``: the limits of ``linux.resources`` (the table
  of which field goes to which file is ``resources.FILES``). A field whose
  hierarchy is not mounted is an error that names it.
* ``cpuacct``: CPU time, for ``stats()``.
* ``cpuset``: a new cpuset cgroup starts with *no* CPUs and memory nodes
  (unless its parent has ``cgroup.clone_children``), and the kernel refuses
  processes into it (``ENOSPC``). So, as runc does, we copy ``cpuset.cpus``
  and ``cpuset.mems`` down from the parent into each level we make.
* ``name=systemd`` and, on hybrid machines, the cgroup2 directory
  (``"unified"``) only hold processes, so that systemd sees them, except
  that huge page limits go there when no v1 hierarchy has ``hugetlb``
  (systemd's hybrid layout leaves it to cgroup2).

Two v1 rules shape ``apply``: ``memory.limit_in_bytes`` must never be above
``memory.memsw.limit_in_bytes`` (memory+swap), so which of the two is written
first depends on the old values (``resources.memsw_first``); and a CFS
period, quota or burst can be refused for a moment against the parent's
bandwidth, so those writes are retried after the others (``writes.py``).
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import errno
import os
import time

from ..errors import CartonError
from . import files, stats
from .kill import kill_all
from .resources import THROTTLES, check, device_key, memsw_first
from .writes import Write, check_usage, joiner, run

FREEZE_TIMEOUT = 2.0  # seconds; runc gives up after a similar time
REMOVE_TIMEOUT = 2.0

NO_SWAP_ACCOUNTING = "this kernel does not account swap: CONFIG_MEMCG_SWAP, or boot with swapaccount=1"


class Manager:
    """A container's cgroup on a v1 (or hybrid) machine. ``paths``: controller -> directory."""

    version = 1
    devices_enforced = True  # the devices controller enforces the rules apply() writes

    def __init__(self, paths):
        self.paths = dict(paths)
        self.uses_unified = False  # whether processes join the hybrid cgroup2 tree (join_self)

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

    def join_self(self):
        """Move the calling process, which must have a single thread, into the cgroup.

        Faster than ``add(os.getpid())`` by 10-20 ms: a write to ``cgroup.procs``
        moves a whole thread group and takes a global lock whose writer waits
        for an RCU grace period, while writing "0" (the caller) to ``tasks``
        moves one thread and skips that lock. With one thread, one thread is
        the whole process, and its children are born in the cgroup.

        In the hybrid layout the cgroup2 tree holds only hugetlb, and joining
        it (``cgroup.procs`` is all it has) would pay the grace period after
        all: we join it only when the config limits huge pages.
        """
        for controller, directory in dict(self.paths).items():
            if controller == "unified":
                if self.uses_unified:
                    files.write(os.path.join(directory, "cgroup.procs"), 0)
                continue
            files.write(os.path.join(directory, "tasks"), 0, hint={
                errno.ENOSPC: "cpuset.cpus or cpuset.mems is empty"})

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

        Every file is checked before the first write (``writes.py``), so a
        field this machine cannot apply fails with nothing changed. Device
        rules are rewritten from "deny all" up, which for a moment denies
        every device: right at create, wrong for ``update`` on a running
        container, which passes ``devices=False`` (its rules stay).
        """
        plan = check(resources, version=1)
        self.uses_unified = bool(plan.hugepages)  # see join_self
        steps = []
        if devices:
            directory = self._dir("devices", "linux.resources.devices")
            for allow, rule in plan.devices:
                name = "devices.allow" if allow else "devices.deny"
                steps.append(Write("linux.resources.devices", os.path.join(directory, name), rule))
        steps += self._memory(plan.memory)
        steps += self._cpu(plan.cpu)
        if plan.pids is not None:
            directory = self._dir("pids", "linux.resources.pids.limit")
            steps.append(Write("linux.resources.pids.limit", os.path.join(directory, "pids.max"),
                               "max" if plan.pids < 0 else plan.pids))
        steps += self._blkio(plan.blkio)
        steps += self._hugetlb(plan.hugepages)
        steps += self._network(plan.network)
        run(steps)
        return plan.warnings

    def _dir(self, controller, field):
        directory = self.paths.get(controller)
        if directory is None:
            raise CartonError(f"cannot set {field}: no {controller} cgroup hierarchy is mounted "
                              "on this machine")
        return directory

    def _memory(self, m):
        """memory.limit_in_bytes, memory.memsw.limit_in_bytes (memory+swap), and the rest."""
        if not m:
            return []
        field = "linux.resources.memory."
        directory = self._dir("memory", field + next(iter(m)))
        path = joiner(directory)
        limit, swap = m.get("limit"), m.get("swap")
        memsw = path("memory.memsw.limit_in_bytes")
        if limit == -1 and swap is None and os.path.exists(memsw):
            swap = -1  # runc: "no memory limit" also lifts the memory+swap limit
        if m.get("checkBeforeUpdate") and limit is not None and limit > 0:
            check_usage(path("memory.usage_in_bytes"), limit)
        steps = []
        if limit is not None:
            steps.append(Write(field + "limit", path("memory.limit_in_bytes"), limit, hint={
                errno.EBUSY: "the container already uses more memory than that",
                errno.EINVAL: "it may not be above memory.memsw.limit_in_bytes: set memory.swap too"}))
        if swap is not None:
            write = Write(field + "swap", memsw, swap, if_exists=swap == -1, missing=NO_SWAP_ACCOUNTING,
                          hint={errno.EINVAL: "memory+swap may not be below memory.limit_in_bytes",
                                errno.EBUSY: "the container already uses more memory+swap than that"})
            steps.append(write)
            if limit is not None:
                current = files.read_int(path("memory.limit_in_bytes"), 0)
                if memsw_first(limit, swap, current):
                    steps.reverse()
                steps[0].retry = True  # if the kernel disagrees, the other order
        for key, name in (("reservation", "memory.soft_limit_in_bytes"), ("swappiness", "memory.swappiness")):
            if key in m:
                steps.append(Write(field + key, path(name), m[key]))
        if m.get("disableOOMKiller"):
            steps.append(Write(field + "disableOOMKiller", path("memory.oom_control"), 1))
        if "useHierarchy" in m:
            steps.append(Write(field + "useHierarchy", path("memory.use_hierarchy"), int(m["useHierarchy"]),
                               missing="memory cgroups are always hierarchical on this kernel", hint={
                                   errno.EINVAL: "it is always 1 since Linux 5.16",
                                   errno.EBUSY: "it can only change while the cgroup has no children"}))
        return steps

    def _cpu(self, c):
        """cpu.shares, the CFS bandwidth (quota, period, burst), real-time budget, idle, cpuset."""
        steps = []
        field = "linux.resources.cpu."
        if c.keys() - {"cpus", "mems"}:
            directory = self._dir("cpu", field + next(k for k in c if k not in ("cpus", "mems")))
            path = joiner(directory)
            quota, runtime = "quota" in c, "realtimeRuntime" in c
            if "shares" in c:
                steps.append(Write(field + "shares", path("cpu.shares"), c["shares"]))
            if "period" in c:
                steps.append(Write(field + "period", path("cpu.cfs_period_us"), c["period"], retry=quota,
                                   missing="this kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)"))
            if "burst" in c:
                steps.append(Write(field + "burst", path("cpu.cfs_burst_us"), c["burst"], retry=quota,
                                   if_exists=c["burst"] == 0, missing="cpu.cfs_burst_us needs Linux 5.14"))
            if quota:
                steps.append(Write(field + "quota", path("cpu.cfs_quota_us"), c["quota"],
                                   missing="this kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH)",
                                   hint={errno.EINVAL: "it may not exceed what the parent cgroup allows"}))
            if "idle" in c:
                steps.append(Write(field + "idle", path("cpu.idle"), c["idle"], if_exists=c["idle"] == 0,
                                   missing="cpu.idle needs Linux 5.15"))
            no_rt = "this kernel has no real-time group scheduling (CONFIG_RT_GROUP_SCHED)"
            if "realtimePeriod" in c:
                steps.append(Write(field + "realtimePeriod", path("cpu.rt_period_us"), c["realtimePeriod"],
                                   retry=runtime, missing=no_rt))
            if runtime:
                steps.append(Write(field + "realtimeRuntime", path("cpu.rt_runtime_us"), c["realtimeRuntime"],
                                   missing=no_rt, hint={
                                       errno.EINVAL: "the real-time runtime of the cgroups below the parent "
                                                     "may not exceed the parent's"}))
        for key in ("cpus", "mems"):
            if key in c:
                directory = self._dir("cpuset", field + key)
                steps.append(Write(field + key, os.path.join(directory, "cpuset." + key), c[key], hint={
                    errno.EINVAL: f"not a subset of the parent's cpuset.{key}",
                    errno.ERANGE: "no such CPU or memory node on this machine"}))
        return steps

    def _blkio(self, b):
        """blkio weights (CFQ's blkio.weight, or BFQ's blkio.bfq.weight) and throttles."""
        if not b:
            return []
        field = "linux.resources.blockIO."
        directory = self._dir("blkio", field + next(iter(b)))
        path = joiner(directory)
        # CFQ's files, else BFQ's (BFQ has no blkio.weight); with neither, the error names CFQ's
        bfq = not os.path.exists(path("blkio.weight")) and os.path.exists(path("blkio.bfq.weight"))
        prefix = "blkio.bfq." if bfq else "blkio."
        schedulers = "I/O weights need the BFQ I/O scheduler (or CFQ, before Linux 5.0)"
        no_leaf = "leaf weights were a CFQ feature, and CFQ is gone since Linux 5.0"
        no_device = {errno.ENODEV: "no such block device", errno.EINVAL: "not a block device, or a bad value",
                     errno.EOPNOTSUPP: "the device does not use the BFQ I/O scheduler"}
        steps = []
        if "weight" in b:
            steps.append(Write(field + "weight", path(prefix + "weight"), b["weight"],
                               missing="nor blkio.bfq.weight: " + schedulers))
        if "leafWeight" in b:
            steps.append(Write(field + "leafWeight", path("blkio.leaf_weight"), b["leafWeight"],
                               missing=no_leaf))
        for major, minor, weight, leaf in b.get("weightDevice", ()):
            key = device_key(major, minor)
            if weight is not None:
                steps.append(Write(field + "weightDevice", path(prefix + "weight_device"), f"{key} {weight}",
                                   missing="nor blkio.bfq.weight_device: " + schedulers, hint=no_device))
            if leaf is not None:
                steps.append(Write(field + "weightDevice.leafWeight", path("blkio.leaf_weight_device"),
                                   f"{key} {leaf}", missing=no_leaf, hint=no_device))
        no_throttle = "this kernel has no block I/O throttling (CONFIG_BLK_DEV_THROTTLING)"
        for name, (filename, _) in THROTTLES.items():
            for major, minor, rate in b.get(name, ()):
                steps.append(Write(field + name, path(filename), f"{device_key(major, minor)} {rate}",
                                   missing=no_throttle, hint=no_device))
        return steps

    def _hugetlb(self, limits):
        """``hugetlb.<size>.limit_in_bytes``; on hybrid machines without a v1 hugetlb
        hierarchy, ``hugetlb.<size>.max`` in the container's cgroup2 directory."""
        if not limits:
            return []
        field = "linux.resources.hugepageLimits"
        prepare, suffix = None, ".limit_in_bytes"
        directory = self.paths.get("hugetlb")
        if directory is None and "unified" in self.paths:
            # systemd's hybrid layout leaves hugetlb to cgroup2 when no v1 hierarchy takes it
            directory, suffix = self.paths["unified"], ".max"
            from .v2 import enable_controller

            def prepare():
                enable_controller(directory, "hugetlb", field)
        elif directory is None:
            directory = self._dir("hugetlb", field)
        steps = []
        for size, limit in limits:
            name = f"hugetlb.{size}"
            missing = f"this machine has no {size} huge pages (see /sys/kernel/mm/hugepages)"
            steps.append(Write(f"{field} ({size})", os.path.join(directory, name + suffix), limit,
                               missing=missing, prepare=prepare))
            # reservations (Linux 5.7): limit them too, or a mapping could reserve past the limit
            steps.append(Write(f"{field} ({size})", os.path.join(directory, f"{name}.rsvd{suffix}"), limit,
                               if_exists=True, prepare=prepare))
        return steps

    def _network(self, n):
        """net_cls.classid and net_prio.ifpriomap (v1 only)."""
        steps = []
        field = "linux.resources.network."
        if "classID" in n:
            directory = self._dir("net_cls", field + "classID")
            steps.append(Write(field + "classID", os.path.join(directory, "net_cls.classid"), n["classID"]))
        for interface, priority in n.get("priorities", ()):
            directory = self._dir("net_prio", field + "priorities")
            steps.append(Write(field + "priorities", os.path.join(directory, "net_prio.ifpriomap"),
                               f"{interface} {priority}", hint={
                                   errno.ENODEV: f"no interface {interface} in Carton's network namespace"}))
        return steps

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
        """What ``runc events --stats`` reports (see ``stats.py``), from the mounted controllers."""
        result = stats.empty()
        cpuacct, cpu = self.paths.get("cpuacct"), self.paths.get("cpu")
        if cpuacct and os.path.isdir(cpuacct):
            path = joiner(cpuacct)
            ticks = files.read_keyed(path("cpuacct.stat"))
            hz = os.sysconf("SC_CLK_TCK")
            usage = result["cpu"]["usage"]
            usage["total"] = files.read_int(path("cpuacct.usage"), 0)
            usage["kernel"] = ticks.get("system", 0) * 10**9 // hz
            usage["user"] = ticks.get("user", 0) * 10**9 // hz
            for key, name in (("percpu", "usage_percpu"), ("percpu_kernel", "usage_percpu_sys"),
                              ("percpu_user", "usage_percpu_user")):
                values = stats.numbers(path("cpuacct." + name))
                if values:
                    usage[key] = values
        if cpu:
            throttling = files.read_keyed(os.path.join(cpu, "cpu.stat"))
            result["cpu"]["throttling"] = {"periods": throttling.get("nr_periods", 0),
                                           "throttledPeriods": throttling.get("nr_throttled", 0),
                                           "throttledTime": throttling.get("throttled_time", 0)}
        memory = self.paths.get("memory")
        if memory and os.path.isdir(memory):
            def entry(prefix):
                return {key: files.read_int(os.path.join(memory, f"{prefix}.{name}"), 0)
                        for key, name in (("limit", "limit_in_bytes"), ("usage", "usage_in_bytes"),
                                          ("max", "max_usage_in_bytes"), ("failcnt", "failcnt"))}

            raw = files.read_keyed(os.path.join(memory, "memory.stat"))
            result["memory"].update(cache=raw.get("cache", 0), usage=entry("memory"),
                                    swap=entry("memory.memsw"), kernel=entry("memory.kmem"),
                                    kernelTCP=entry("memory.kmem.tcp"), raw=raw)
        pids = self.paths.get("pids")
        if pids and os.path.isdir(pids):
            result["pids"] = {"current": files.read_int(os.path.join(pids, "pids.current"), 0),
                              "limit": files.read_int(os.path.join(pids, "pids.max")) or 0}
        blkio = self.paths.get("blkio")
        if blkio and os.path.isdir(blkio):
            # the throttling layer sees every request, whatever the device's scheduler
            for key, name in (("ioServiceBytesRecursive", "io_service_bytes"),
                              ("ioServicedRecursive", "io_serviced")):
                path = os.path.join(blkio, f"blkio.throttle.{name}")
                text = stats.read_text(path + "_recursive") or stats.read_text(path)
                result["blkio"][key] = stats.parse_blkio(text)
        hugetlb = self.paths.get("hugetlb")
        if hugetlb and os.path.isdir(hugetlb):
            for size in stats.hugepage_sizes(hugetlb):
                path = joiner(hugetlb)
                result["hugetlb"][size] = {
                    "usage": files.read_int(path(f"hugetlb.{size}.usage_in_bytes"), 0),
                    "max": files.read_int(path(f"hugetlb.{size}.max_usage_in_bytes"), 0),
                    "failcnt": files.read_int(path(f"hugetlb.{size}.failcnt"), 0)}
        elif "unified" in self.paths:  # hybrid: hugetlb on cgroup2 (see _hugetlb)
            from .v2 import hugetlb_stats

            result["hugetlb"] = hugetlb_stats(self.paths["unified"])
        return result

    def oom_count(self):
        """How many processes the OOM killer has killed in the container (``memory.oom_control``'s
        ``oom_kill``, Linux 4.13+); ``None`` when this machine cannot tell."""
        memory = self.paths.get("memory")
        if not memory:
            return None
        return stats.keyed_value(stats.read_text(os.path.join(memory, "memory.oom_control")), "oom_kill")


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
