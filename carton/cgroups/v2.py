"""The cgroup v2 driver ("unified": one tree for every controller).

On v2 the container is a single directory, say ``/sys/fs/cgroup/web``, and
everything is a file in it: ``cgroup.procs``, ``pids.max``, ``memory.max``,
``cgroup.freeze``, ``cgroup.kill``. Two rules shape this file:

* **Controllers are handed down.** A controller is usable in a cgroup only
  if its parent lists it in ``cgroup.subtree_control``. So before making the
  container's directory we enable, level by level from the top, every
  controller the level offers (``cgroup.controllers``).
* **No internal processes.** A cgroup (other than the root) that hands
  controllers down cannot hold processes itself. That is why a *relative*
  ``cgroupsPath`` goes next to Carton's own cgroup rather than inside it
  (``paths.py``), and why the container's own directory enables nothing.

The OCI ``linux.resources`` fields were designed for v1, so some are
converted (``resources.py`` has the formulas): ``cpu.shares`` becomes
``cpu.weight``, memory+swap becomes swap alone (``memory.swap.max``), a blkio
weight becomes an ``io.weight`` when there is no BFQ, ``cpu.quota`` and
``cpu.period`` share one file (``cpu.max``), and the throttles one line per
device in ``io.max``. The v1-only fields (swappiness, real-time CPU, leaf
weights, net_cls/net_prio, turning the OOM killer off) are refused.
``linux.resources.unified`` is written as it is, file by file, last.

Device rules are the one thing v2 has no file for: they are an eBPF program
(``BPF_PROG_TYPE_CGROUP_DEVICE``) attached to the cgroup, which
``devices_bpf.py`` writes from the same list the v1 driver writes to
``devices.allow``/``devices.deny`` ("deny all", the spec's rules, the default
rules). Where the kernel will not load or attach one (no ``bpf(2)``, no
cgroup BPF, not allowed), ``apply`` says so in a warning and clears
``devices_enforced``; the runtime then keeps devices out of reach another way
(``runtime/create.py: _confine_devices``).
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import errno
import os
import time

from ..errors import CartonError
from . import files, stats
from .kill import kill_all
from .resources import THROTTLES, blkio_to_io_weight, check, cpu_max, device_key, shares_to_weight, swap_v2
from .writes import Write, check_usage, joiner, run

FREEZE_TIMEOUT = 2.0
REMOVE_TIMEOUT = 2.0

NO_SWAP_ACCOUNTING = "this kernel does not account swap: CONFIG_MEMCG_SWAP, or boot with swapaccount=1"

# bpf(2) errors that mean "this kernel, or this place, cannot have a device filter",
# rather than "the filter is wrong": no bpf(2) (ENOSYS), no cgroup BPF (EINVAL, or
# EOPNOTSUPP, for an unknown program or attach type), not allowed (EPERM, EACCES: no
# CAP_SYS_ADMIN or CAP_BPF, in a user namespace, a parent cgroup's program attached
# without BPF_F_ALLOW_MULTI). A program the verifier refused is never one of these.
NO_DEVICE_FILTER = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES, errno.E2BIG)

DEVICES_FALLBACK = ("linux.resources.devices is not enforced: cannot attach the cgroup v2 device filter "
                    "({why}); instead the container gets no CAP_MKNOD and a nodev root")


class Manager:
    """A container's cgroup on a v2 machine. ``paths`` is ``{"unified": directory}``."""

    version = 2

    def __init__(self, paths):
        self.paths = dict(paths)
        self.path = self.paths["unified"]
        # False once apply() could not attach the device filter: the runtime confines instead
        self.devices_enforced = True

    def __repr__(self):
        return f"cgroups.v2.Manager({self.paths!r})"

    def _file(self, name):
        return os.path.join(self.path, name)

    # -- create, join, remove ---------------------------------------------------------

    def create(self):
        """Make the directory, enabling controllers in each level above it first."""
        top = _mount_point(self.path)
        current = top
        for part in self.path[len(top):].strip("/").split("/"):
            _enable_controllers(current)
            current = os.path.join(current, part)
            if not os.path.isdir(current):
                try:
                    os.mkdir(current)
                except FileExistsError:
                    pass
                except OSError as e:
                    raise files.failure("create the cgroup", current, e) from None

    def add(self, pid):
        """Move process ``pid`` into the container's cgroup (``cgroup.procs``)."""
        files.write(self._file("cgroup.procs"), pid, hint={
            errno.EBUSY: "it hands controllers down in cgroup.subtree_control, so it cannot hold processes",
            errno.EOPNOTSUPP: "it is a threaded cgroup", errno.ESRCH: "the process has exited"})

    def join_self(self):
        """Move the calling process into the cgroup (writes "0", the caller, to cgroup.procs)."""
        self.add(0)

    def destroy(self):
        """Remove the directory and any cgroups below it (see ``v1.Manager.destroy``)."""
        files.remove_tree(self.path, time.monotonic() + REMOVE_TIMEOUT)

    # -- limits -----------------------------------------------------------------------

    def apply(self, resources, devices=True):
        """Apply ``linux.resources`` (see ``resources.py``). Returns warnings for the user.

        The OCI fields are cgroup v1's, so some are converted (``cpu.shares``
        to ``cpu.weight``, memory+swap to swap alone), and the v1-only ones
        are refused by ``check``. Every file is checked before the first
        write; a missing one names the controller that is not enabled.

        With ``devices`` the device filter is (re)placed too, last: always,
        as on v1, since the rules start from "deny all" and end with the
        default ones even when the spec has none. ``update`` passes
        ``devices=False``: like runc's, it does not change device rules.
        """
        plan = check(resources, version=2)
        warnings = list(plan.warnings)
        device_filter = None
        if devices:
            from . import devices_bpf

            device_filter = devices_bpf.replay(plan.devices)
            insns = devices_bpf.program(device_filter)  # built before the first write
        path = joiner(self.path)
        steps = []
        if plan.pids is not None:
            steps.append(Write("linux.resources.pids.limit", path("pids.max"),
                               "max" if plan.pids < 0 else plan.pids, missing=why_missing))
        steps += self._memory(plan.memory)
        steps += self._io(plan.blkio)
        steps += self._cpu(plan.cpu)
        for size, limit in plan.hugepages:
            field = f"linux.resources.hugepageLimits ({size})"
            steps.append(Write(field, path(f"hugetlb.{size}.max"), limit, missing=why_missing))
            steps.append(Write(field, path(f"hugetlb.{size}.rsvd.max"), limit, if_exists=True))
        for key, value in plan.unified.items():  # last: they override the fields above, as in runc
            steps.append(Write(f"linux.resources.unified[{key!r}]", path(key), value, missing=why_missing))
        run(steps)
        if device_filter is not None:
            warnings += self._install_device_filter(device_filter, insns)
        return warnings

    def _install_device_filter(self, device_filter, insns):
        """Attach the device filter; where the kernel cannot have one, a warning (and
        ``devices_enforced`` cleared), unless the rules allow every device anyway."""
        from ..linux.libc import describe
        from . import devices_bpf

        try:
            devices_bpf.install(self.path, insns)
        except OSError as e:
            why = describe(e)
            if e.errno not in NO_DEVICE_FILTER or getattr(e, "verifier_log", None):
                raise CartonError(f"cannot apply linux.resources.devices to {self.path}: {why}") from None
            if device_filter.allows_everything():
                return []  # nothing to enforce (--privileged): no filter is the same filter
            self.devices_enforced = False
            return [DEVICES_FALLBACK.format(why=why)]
        return []

    def _memory(self, m):
        """memory.max, memory.swap.max (swap alone, where OCI gives memory+swap), memory.low."""
        field, path = "linux.resources.memory.", joiner(self.path)
        limit, swap = m.get("limit"), m.get("swap")
        if m.get("checkBeforeUpdate") and limit is not None and limit > 0:
            check_usage(path("memory.current"), limit)
        steps = []
        if swap is None and limit == -1:
            swap = -1  # runc: "no memory limit" also lifts the swap limit
        if swap is not None:
            if limit is None:  # update of the swap alone: against the limit the cgroup has
                current = files.read_int(path("memory.max"), -1)
                limit = -1 if current is None else current
            text = swap_v2(swap, limit)
            steps.append(Write(field + "swap", path("memory.swap.max"), text, if_exists=text == "max",
                               missing=lambda p: why_missing(p, NO_SWAP_ACCOUNTING)))
        if m.get("limit") is not None:
            steps.append(Write(field + "limit", path("memory.max"), "max" if m["limit"] < 0 else m["limit"],
                               missing=why_missing))
        if "reservation" in m:
            value = "max" if m["reservation"] < 0 else m["reservation"]
            steps.append(Write(field + "reservation", path("memory.low"), value, missing=why_missing))
        return steps

    def _cpu(self, c):
        """cpu.weight, cpu.idle, cpu.max ("$QUOTA $PERIOD"), cpu.max.burst, cpuset.cpus and .mems."""
        field, path = "linux.resources.cpu.", joiner(self.path)
        steps = []
        if "shares" in c:
            steps.append(Write(field + "shares", path("cpu.weight"), shares_to_weight(c["shares"]),
                               missing=why_missing))
        if "idle" in c:
            steps.append(Write(field + "idle", path("cpu.idle"), c["idle"], if_exists=c["idle"] == 0,
                               missing=lambda p: why_missing(p, "cpu.idle needs Linux 5.15")))
        current = None
        if "period" in c and "quota" not in c:
            current = files.read(path("cpu.max")) if os.path.exists(path("cpu.max")) else None
        line = cpu_max(c.get("quota"), c.get("period"), current)
        if "burst" in c:
            steps.append(Write(field + "burst", path("cpu.max.burst"), c["burst"], retry=line is not None,
                               if_exists=c["burst"] == 0,
                               missing=lambda p: why_missing(p, "cpu.max.burst needs Linux 5.14")))
        if line is not None:
            name = field + ("quota" if "quota" in c else "period")
            steps.append(Write(name, path("cpu.max"), line, missing=why_missing,
                               hint={errno.EINVAL: "a quota must be at least 1000 and the period "
                                                   "between 1000 and 1000000 microseconds"}))
        for key in ("cpus", "mems"):
            if key in c:
                hint = {errno.EINVAL: f"not a subset of the parent's cpuset.{key}.effective",
                        errno.ERANGE: "no such CPU or memory node on this machine"}
                steps.append(Write(field + key, path("cpuset." + key), c[key], missing=why_missing,
                                   hint=hint))
        return steps

    def _io(self, b):
        """io.bfq.weight (BFQ) or io.weight (converted), and io.max for the throttles."""
        field, path = "linux.resources.blockIO.", joiner(self.path)
        bfq = os.path.exists(path("io.bfq.weight"))
        weights = "nor io.bfq.weight: I/O weights need the BFQ I/O scheduler or the io.cost model"
        no_device = {errno.ENODEV: "no such block device", errno.EINVAL: "not a block device, or a bad value",
                     errno.EOPNOTSUPP: "the device does not use the BFQ I/O scheduler"}
        steps = []
        if "weight" in b:
            value = b["weight"] if bfq else blkio_to_io_weight(b["weight"])
            steps.append(Write(field + "weight", path("io.bfq.weight" if bfq else "io.weight"), value,
                               missing=lambda p: why_missing(p, weights)))
        for major, minor, weight, _ in b.get("weightDevice", ()):
            value = weight if bfq else blkio_to_io_weight(weight)
            steps.append(Write(field + "weightDevice", path("io.bfq.weight" if bfq else "io.weight"),
                               f"{device_key(major, minor)} {value}", hint=no_device,
                               missing=lambda p: why_missing(p, weights)))
        for name, (_, key) in THROTTLES.items():
            for major, minor, rate in b.get(name, ()):
                # v1 removes a throttle with 0; io.max refuses 0 (ERANGE) and says "max"
                steps.append(Write(field + name, path("io.max"), f"{device_key(major, minor)} {key}="
                                   f"{rate or 'max'}", missing=why_missing, hint=no_device))
        return steps

    # -- pause and resume -------------------------------------------------------------

    def freeze(self):
        """Write ``1`` to ``cgroup.freeze`` and wait until ``cgroup.events`` says ``frozen 1``."""
        self._write_freeze("1", "pause")
        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.0005
        while not self._events_frozen():
            if time.monotonic() > deadline:
                self._write_freeze("0", "resume")
                raise CartonError(f"cannot pause the container: its processes did not all stop within "
                                  f"{FREEZE_TIMEOUT:g}s ({self._file('cgroup.events')})")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def thaw(self):
        self._write_freeze("0", "resume")

    def _write_freeze(self, value, action):
        path = self._file("cgroup.freeze")
        if os.path.isdir(self.path) and not files.exists(path):
            raise CartonError(f"cannot {action} the container: this kernel has no cgroup v2 freezer "
                              "(cgroup.freeze needs Linux 5.2 or later)")
        files.write(path, value)

    def _events_frozen(self):
        for line in files.read(self._file("cgroup.events")).splitlines():
            if line.startswith("frozen "):
                return line.split()[1] == "1"
        return False

    def frozen(self):
        path = self._file("cgroup.freeze")
        if not files.exists(path):
            return False
        return files.read(path).strip() == "1"

    # -- processes --------------------------------------------------------------------

    def pids(self):
        """Every process in the container's cgroup and in the cgroups below it."""
        return files.all_procs(self.path)

    def kill_all(self, sig=signal.SIGKILL):
        """Signal every process; SIGKILL uses ``cgroup.kill`` (Linux 5.14+) when there is one.

        ``cgroup.kill`` kills the whole subtree atomically in the kernel, so no
        process can fork its way out; older kernels get freeze, kill, thaw.
        """
        if sig == signal.SIGKILL and files.exists(self._file("cgroup.kill")):
            files.write(self._file("cgroup.kill"), "1")
            return
        kill_all(self, sig, can_freeze=files.exists(self._file("cgroup.freeze")))

    # -- statistics -------------------------------------------------------------------

    def stats(self):
        """What ``runc events --stats`` reports (see ``stats.py``), read from the v2 files."""
        result = stats.empty()
        if not os.path.isdir(self.path):
            return result
        path = joiner(self.path)
        cpu = files.read_keyed(path("cpu.stat"))
        if cpu:
            result["cpu"] = {
                "usage": {"total": cpu.get("usage_usec", 0) * 1000, "user": cpu.get("user_usec", 0) * 1000,
                          "kernel": cpu.get("system_usec", 0) * 1000},
                "throttling": {"periods": cpu.get("nr_periods", 0),
                               "throttledPeriods": cpu.get("nr_throttled", 0),
                               "throttledTime": cpu.get("throttled_usec", 0) * 1000}}
        usage = files.read_int(path("memory.current"))
        if usage is not None:
            raw = files.read_keyed(path("memory.stat"))
            events = stats.read_text(path("memory.events"))
            memory = {"usage": usage, "limit": _unlimited(files.read_int(path("memory.max"))),
                      "max": files.read_int(path("memory.peak"), 0),  # Linux 5.19
                      "failcnt": stats.keyed_value(events, "max") or 0}  # times the limit was hit
            result["memory"].update(cache=raw.get("file", 0), usage=memory, raw=raw)
            swap = files.read_int(path("memory.swap.current"))
            if swap is not None:
                # as runc: v1's shape, memory+swap together
                limit = _unlimited(files.read_int(path("memory.swap.max")))
                if limit != stats.UNLIMITED and memory["limit"] != stats.UNLIMITED:
                    limit += memory["limit"]
                else:
                    limit = stats.UNLIMITED
                result["memory"]["swap"] = {"usage": swap + usage, "limit": limit, "max": 0,
                                            "failcnt": stats.keyed_value(stats.read_text(
                                                path("memory.swap.events")), "max") or 0}
        current = files.read_int(path("pids.current"))
        if current is not None:
            result["pids"] = {"current": current, "limit": files.read_int(path("pids.max")) or 0}
        result["blkio"] = stats.parse_io_stat(stats.read_text(path("io.stat")))
        result["hugetlb"] = hugetlb_stats(self.path)
        return result

    def oom_count(self):
        """How many processes the OOM killer has killed in the container (``memory.events``'
        ``oom_kill``); ``None`` when the memory controller is not enabled here."""
        return stats.keyed_value(stats.read_text(self._file("memory.events")), "oom_kill")


def hugetlb_stats(directory):
    """``{"2MB": {"usage", "max", "failcnt"}}`` from a cgroup2 directory's hugetlb files."""
    result = {}
    for size in stats.hugepage_sizes(directory):
        path = joiner(directory)
        events = stats.read_text(path(f"hugetlb.{size}.events"))
        result[size] = {"usage": files.read_int(path(f"hugetlb.{size}.current"), 0),
                        "max": 0,  # cgroup v2 keeps no peak
                        "failcnt": stats.keyed_value(events, "max") or 0}
    return result


def _unlimited(value):
    """runc reports "max" as the largest uint64."""
    return stats.UNLIMITED if value is None else value


def why_missing(path, reason=None):
    """Why a cgroup v2 file is not there: its controller is not enabled for this cgroup, or
    ``reason`` (what the kernel lacks)."""
    directory, name = os.path.split(path)
    controller = name.split(".")[0]
    available = stats.read_text(os.path.join(directory, "cgroup.controllers")).split()
    if controller != "cgroup" and controller not in available:
        parent = os.path.dirname(directory)
        return (f"the {controller} controller is not enabled for this cgroup: "
                f"{parent}/cgroup.subtree_control does not list it")
    return reason or f"this kernel has no {name}"


def enable_controller(directory, controller, field):
    """Make ``controller`` usable in ``directory`` (a hybrid machine's cgroup2 tree): enable
    it in ``cgroup.subtree_control`` of each level between the top of the tree and it.

    On a hybrid machine the v1 driver calls this for ``hugetlb`` alone, and
    only when a spec asks for huge page limits. The *top* of the tree is
    left as it is: enabling a controller there is a setting for the whole
    host (systemd's hybrid layout enables none), so if it is not enabled
    there, this is an error that says how to do it. The levels below are
    the container's parents (``/default`` for ``/default/web``). A level that
    holds processes of its own cannot hand controllers down (``EBUSY``).
    """
    levels, current = [], os.path.dirname(directory)
    while files.exists(os.path.join(current, "cgroup.controllers")):
        levels.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for i, level in enumerate(reversed(levels)):
        control = os.path.join(level, "cgroup.subtree_control")
        if controller in files.read(control).split():
            continue
        if controller not in files.read(os.path.join(level, "cgroup.controllers")).split():
            raise CartonError(f"cannot set {field}: the {controller} controller is not available in {level} "
                              f"(not in its cgroup.controllers)")
        if i == 0:
            raise CartonError(f"cannot set {field}: the {controller} controller is not enabled at the top of "
                              f"the cgroup2 tree, a setting for the whole machine that Carton leaves to its "
                              f"administrator (echo +{controller} > {control})")
        try:
            files.write(control, "+" + controller, hint={
                errno.EBUSY: "that cgroup holds processes, so it cannot hand controllers down"})
        except CartonError as e:
            raise CartonError(f"cannot set {field}: {e}") from None


def _mount_point(path):
    """The cgroup2 mount point that ``path`` is below (the longest match in mountinfo)."""
    from .detect import read_mounts

    best = None
    for mount in read_mounts():
        if mount.version == 2 and (path + "/").startswith(mount.point.rstrip("/") + "/"):
            if best is None or len(mount.point) > len(best):
                best = mount.point
    if best is None:
        raise CartonError(f"cannot create the cgroup {path}: it is not below a cgroup2 mount")
    return best


def _enable_controllers(directory):
    """Hand every controller ``directory`` has down to its children (``cgroup.subtree_control``).

    All at once first; if the kernel refuses the set (one controller busy,
    say a real-time process blocks ``cpu``), one at a time, skipping the ones
    it refuses. A limit that needs a missing controller fails later, in
    ``apply``, naming the file.
    """
    available = files.read(os.path.join(directory, "cgroup.controllers")).split()
    enabled = set(files.read(os.path.join(directory, "cgroup.subtree_control")).split())
    wanted = [c for c in available if c not in enabled]
    if not wanted:
        return
    control = os.path.join(directory, "cgroup.subtree_control")
    try:
        files.write(control, " ".join("+" + c for c in wanted))
        return
    except CartonError:
        pass
    for controller in wanted:
        try:
            fd = os.open(control, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, f"+{controller}".encode())
            finally:
                os.close(fd)
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.EINVAL, errno.ENOENT, errno.EOPNOTSUPP):
                raise files.failure("write", control, e) from None
