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

Device rules are the one thing v2 has no file for: they are an eBPF program
(``BPF_PROG_TYPE_CGROUP_DEVICE``) attached to the cgroup. Carton cannot load
one yet. Refusing every spec with device rules would refuse every normal
container, so ``apply`` skips them and *returns a warning*, which the
runtime must show: on v2 the container's device access is bounded only by
its capabilities and the device nodes it can see, not by the cgroup.
"""

import _signal as signal  # the C module: signal.py builds enums, ~2 ms to import
import errno
import os
import time

from ..errors import CartonError
from . import files
from .kill import kill_all
from .resources import check

FREEZE_TIMEOUT = 2.0
REMOVE_TIMEOUT = 2.0

DEVICES_WARNING = ("linux.resources.devices is not enforced: on cgroup v2 device rules need an eBPF "
                   "program, which Carton cannot load yet")


class Manager:
    """A container's cgroup on a v2 machine. ``paths`` is ``{"unified": directory}``."""

    version = 2

    def __init__(self, paths):
        self.paths = dict(paths)
        self.path = self.paths["unified"]

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

    def destroy(self):
        """Remove the directory and any cgroups below it (see ``v1.Manager.destroy``)."""
        files.remove_tree(self.path, time.monotonic() + REMOVE_TIMEOUT)

    # -- limits -----------------------------------------------------------------------

    def apply(self, resources, devices=True):
        """Apply ``linux.resources`` (see ``resources.py``). Returns warnings for the user."""
        plan = check(resources)
        warnings = list(plan.warnings)
        if devices and plan.spec_devices:
            warnings.append(DEVICES_WARNING)
        for name, value in (("pids.max", plan.pids), ("memory.max", plan.memory)):
            if value is not None:
                controller = name.split(".")[0]
                files.write(self._file(name), "max" if value < 0 else value, hint={
                    errno.ENOENT: f"the {controller} controller is not enabled in the parent's "
                                  "cgroup.subtree_control"})
        return warnings

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
        """What ``runc events --stats`` reports, read from the v2 files."""
        if not os.path.isdir(self.path):
            return {}
        result = {}
        cpu = files.read_keyed(self._file("cpu.stat"))
        if cpu:
            result["cpu"] = {
                "usage": {"total": cpu.get("usage_usec", 0) * 1000, "user": cpu.get("user_usec", 0) * 1000,
                          "kernel": cpu.get("system_usec", 0) * 1000},
                "throttling": {"periods": cpu.get("nr_periods", 0),
                               "throttledPeriods": cpu.get("nr_throttled", 0),
                               "throttledTime": cpu.get("throttled_usec", 0) * 1000}}
        usage = files.read_int(self._file("memory.current"))
        if usage is not None:
            raw = files.read_keyed(self._file("memory.stat"))
            entry = {"usage": usage, "limit": _unlimited(files.read_int(self._file("memory.max")))}
            peak = files.read_int(self._file("memory.peak"))
            if peak is not None:
                entry["max"] = peak
            swap = files.read_int(self._file("memory.swap.current"))
            result["memory"] = {"cache": raw.get("file", 0), "usage": entry, "raw": raw}
            if swap is not None:
                result["memory"]["swap"] = {
                    "usage": swap, "limit": _unlimited(files.read_int(self._file("memory.swap.max")))}
        current = files.read_int(self._file("pids.current"))
        if current is not None:
            result["pids"] = {"current": current, "limit": files.read_int(self._file("pids.max")) or 0}
        return result


def _unlimited(value):
    """runc reports "max" as the largest uint64."""
    return 2**64 - 1 if value is None else value


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
