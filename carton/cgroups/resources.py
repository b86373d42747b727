"""The spec's ``linux.resources``, checked and turned into what the drivers write.

:func:`check` reads the OCI object, refuses what is wrong *before anything is
written* (a bad value, a field the cgroup version has no knob for, a field
Carton does not know), and returns a :class:`Plan`: the fields that are set,
in their OCI names, normalised. The drivers (``v1.py``, ``v2.py``) turn the
plan into file writes. :data:`FILES` is the table of where each field goes;
it is also what :func:`check` consults to refuse a field on a version.

**"Set" or not.** docker and containerd write zeroes for "no limit", so a
number that is ``0`` (and ``null``, ``false``, ``""``, ``[]``) means "leave
it as it is", as in runc. Three fields are pointers in the OCI spec, where
``0`` is a real value: ``memory.swappiness``, ``cpu.burst`` and ``cpu.idle``;
for them only ``null`` (or a missing key) is "not set". ``hugepageLimits``
entries are always written, ``limit: 0`` included (Kubernetes sends it to
mean "no huge pages"), and so are the ``blockIO.throttle*`` entries (a rate
of ``0`` removes a throttle). ``-1`` means "unlimited" wherever a limit can
be unlimited.

Device rules follow runc, which matters for security:

* The list always *starts* from "deny everything" (runc's device emulator
  starts as a white-list), then the spec's rules apply in order, then runc's
  default rules are *appended*: mknod of any device, the usual ``/dev/null``,
  ``zero``, ``full``, ``random``, ``urandom``, ``tty``, ``/dev/pts/*``,
  ``/dev/ptmx`` and ``/dev/net/tun``. A spec cannot remove these, and a spec
  with no rules at all still gets them: a container is always confined.
* A rule of type ``a`` resets the whole list (that is what the kernel does
  with it): ``allow a`` lets everything through, ``deny a`` blocks everything.
* The same list goes to both versions: to ``devices.allow``/``devices.deny``
  on v1, into an eBPF program that decides as v1 would on v2 (``devices_bpf.py``).

This module is pure logic (no file is touched), so all of it is unit-tested.
"""

from ..errors import CartonError

# (allow, rule) in the kernel's devices.allow/deny syntax: type major:minor access.
DENY_ALL = (False, "a *:* rwm")
DEFAULT_RULES = (
    (True, "c *:* m"), (True, "b *:* m"),           # mknod of any device (not its use)
    (True, "c 1:3 rwm"), (True, "c 1:8 rwm"),       # /dev/null, /dev/random
    (True, "c 1:7 rwm"), (True, "c 5:0 rwm"),       # /dev/full, /dev/tty
    (True, "c 1:5 rwm"), (True, "c 1:9 rwm"),       # /dev/zero, /dev/urandom
    (True, "c 136:* rwm"), (True, "c 5:2 rwm"),     # /dev/pts/*, /dev/ptmx
    (True, "c 10:200 rwm"),                         # /dev/net/tun (runc keeps it for docker)
)

# Where each field goes: (cgroup v1 file, cgroup v2 file). ``None``: that version
# has no such knob, and setting the field there is an error (the reason is in
# UNAVAILABLE). The drivers own the details: write order, unit conversions, and
# which of two files exists ("or").
FILES = {
    "memory.limit": ("memory.limit_in_bytes", "memory.max"),
    "memory.reservation": ("memory.soft_limit_in_bytes", "memory.low"),
    "memory.swap": ("memory.memsw.limit_in_bytes (memory+swap)", "memory.swap.max (swap - limit)"),
    "memory.swappiness": ("memory.swappiness", None),
    "memory.disableOOMKiller": ("memory.oom_control", None),
    "memory.useHierarchy": ("memory.use_hierarchy", "(always hierarchical)"),
    "memory.checkBeforeUpdate": ("(reads memory.usage_in_bytes)", "(reads memory.current)"),
    "cpu.shares": ("cpu.shares", "cpu.weight (converted)"),
    "cpu.quota": ("cpu.cfs_quota_us", "cpu.max"),
    "cpu.period": ("cpu.cfs_period_us", "cpu.max"),
    "cpu.burst": ("cpu.cfs_burst_us", "cpu.max.burst"),
    "cpu.realtimeRuntime": ("cpu.rt_runtime_us", None),
    "cpu.realtimePeriod": ("cpu.rt_period_us", None),
    "cpu.cpus": ("cpuset.cpus", "cpuset.cpus"),
    "cpu.mems": ("cpuset.mems", "cpuset.mems"),
    "cpu.idle": ("cpu.idle", "cpu.idle"),
    "pids.limit": ("pids.max", "pids.max"),
    "blockIO.weight": ("blkio.weight or blkio.bfq.weight", "io.bfq.weight or io.weight (converted)"),
    "blockIO.leafWeight": ("blkio.leaf_weight", None),
    "blockIO.weightDevice": ("blkio.weight_device or blkio.bfq.weight_device",
                             "io.bfq.weight or io.weight (converted)"),
    "blockIO.weightDevice.leafWeight": ("blkio.leaf_weight_device", None),
    "blockIO.throttleReadBpsDevice": ("blkio.throttle.read_bps_device", "io.max rbps="),
    "blockIO.throttleWriteBpsDevice": ("blkio.throttle.write_bps_device", "io.max wbps="),
    "blockIO.throttleReadIOPSDevice": ("blkio.throttle.read_iops_device", "io.max riops="),
    "blockIO.throttleWriteIOPSDevice": ("blkio.throttle.write_iops_device", "io.max wiops="),
    "hugepageLimits": ("hugetlb.<size>.limit_in_bytes (hybrid: hugetlb.<size>.max in the cgroup2 tree)",
                       "hugetlb.<size>.max"),
    "network.classID": ("net_cls.classid", None),
    "network.priorities": ("net_prio.ifpriomap", None),
    "unified": (None, "<key> itself"),
}

UNAVAILABLE = {
    "memory.swappiness": "cgroup v2 has no per-cgroup swappiness",
    "memory.disableOOMKiller": "cgroup v2 cannot turn the OOM killer off",
    "memory.useHierarchy": "cgroup v2 is always hierarchical",
    "cpu.realtimeRuntime": "cgroup v2 has no real-time CPU budget",
    "cpu.realtimePeriod": "cgroup v2 has no real-time CPU budget",
    "blockIO.leafWeight": "cgroup v2 has no leaf weights",
    "blockIO.weightDevice.leafWeight": "cgroup v2 has no leaf weights",
    "network.classID": "cgroup v2 has no net_cls controller",
    "network.priorities": "cgroup v2 has no net_prio controller",
    "unified": "it needs cgroup v2 (this machine has cgroup v1 controllers)",
}

IGNORED = {"memory": ("kernel", "kernelTCP")}  # runc ignores these too: gone from the kernel

THROTTLES = {  # OCI blockIO field -> (v1 file, v2 io.max key)
    "throttleReadBpsDevice": ("blkio.throttle.read_bps_device", "rbps"),
    "throttleWriteBpsDevice": ("blkio.throttle.write_bps_device", "wbps"),
    "throttleReadIOPSDevice": ("blkio.throttle.read_iops_device", "riops"),
    "throttleWriteIOPSDevice": ("blkio.throttle.write_iops_device", "wiops"),
}

# unified keys that are not limits: they move processes, kill or freeze them, or
# hand controllers down (after which the cgroup can hold no process). The runtime
# owns these; a spec must not write them.
UNIFIED_REFUSED = ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill",
                   "cgroup.freeze", "cgroup.type")

KNOWN = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
               "useHierarchy", "checkBeforeUpdate"),
    "cpu": ("shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems",
            "idle"),
    "pids": ("limit",),
    "blockIO": ("weight", "leafWeight", "weightDevice", *THROTTLES),
    "network": ("classID", "priorities"),
}
SECTIONS = ("devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma", "unified")

MIN_SHARES, MAX_SHARES = 2, 262144          # the kernel's range for cpu.shares


def is_set(value):
    """Missing, null, zero, false and empty mean "not set"; an object is set if any field is."""
    if isinstance(value, dict):
        return any(is_set(v) for v in value.values())
    return value not in (None, False, 0, "", [])


class Plan:
    """What to apply, normalised; every section holds only the fields that are set.

    ``memory``, ``cpu``, ``blkio``, ``network``: ``{OCI field: value}``.
    ``pids``: ``None`` (leave it), ``-1`` (no limit) or the limit.
    ``blkio["weightDevice"]``: ``[(major, minor, weight or None, leafWeight or None)]``;
    ``blkio[throttle field]``: ``[(major, minor, rate)]``.
    ``hugepages``: ``[(pageSize, limit)]``. ``unified``: ``{file: text}``.
    ``devices``: ``[(allow, rule)]``, from "deny all" up; ``spec_devices`` says
    whether the spec itself had rules. ``warnings``: for the user.
    """

    __slots__ = ("devices", "spec_devices", "pids", "memory", "cpu", "blkio", "hugepages", "network",
                 "unified", "warnings")

    def __init__(self):
        self.devices = [DENY_ALL]
        self.spec_devices = False
        self.pids = None
        self.memory = {}
        self.cpu = {}
        self.blkio = {}
        self.hugepages = []
        self.network = {}
        self.unified = {}
        self.warnings = []

    def fields(self):
        """The set fields as ``FILES`` keys (``"memory.swap"``), for the version check."""
        names = [f"memory.{k}" for k in self.memory] + [f"cpu.{k}" for k in self.cpu]
        names += [f"blockIO.{k}" for k in self.blkio] + [f"network.{k}" for k in self.network]
        if any(leaf is not None for *_, leaf in self.blkio.get("weightDevice", ())):
            names.append("blockIO.weightDevice.leafWeight")
        if self.pids is not None:
            names.append("pids.limit")
        if self.hugepages:
            names.append("hugepageLimits")
        if self.unified:
            names.append("unified")
        return names


def check(resources, version=None):
    """Validate ``linux.resources`` (a dict, or None) and return a :class:`Plan`.

    With ``version`` (1 or 2), fields that version has no knob for are refused
    too, as ``apply`` would. Raises :class:`CartonError` naming the first
    field that is wrong, not available, or not supported yet. Writes nothing.
    """
    plan = Plan()
    resources = resources or {}
    if not isinstance(resources, dict):
        raise CartonError("linux.resources must be an object")
    for key, value in resources.items():
        if key not in SECTIONS or key == "rdma":
            if is_set(value):
                raise CartonError(f"{_first_set(f'linux.resources.{key}', value)} is not supported yet")
            continue
        if key in KNOWN and value is not None:
            if not isinstance(value, dict):
                raise CartonError(f"linux.resources.{key} must be an object")
            for field, v in value.items():
                name = f"linux.resources.{key}.{field}"
                if field in IGNORED.get(key, ()):
                    if is_set(v):
                        plan.warnings.append(f"{name} is ignored (kernel memory limits are gone from "
                                             "recent kernels; runc ignores it too)")
                elif field not in KNOWN[key] and is_set(v):
                    raise CartonError(f"{_first_set(name, v)} is not supported yet")
    plan.memory = _memory(resources.get("memory") or {})
    plan.cpu = _cpu(resources.get("cpu") or {})
    plan.pids = _limit((resources.get("pids") or {}).get("limit"), "linux.resources.pids.limit")
    plan.blkio = _blkio(resources.get("blockIO") or {})
    plan.hugepages = _hugepages(resources.get("hugepageLimits"))
    plan.network = _network(resources.get("network") or {})
    plan.unified = _unified(resources.get("unified"))
    _devices(plan, resources.get("devices"))
    if version is not None:
        _check_version(plan, version)
    return plan


def _check_version(plan, version):
    for field in plan.fields():
        if FILES[field][version - 1] is None:
            where = "cgroup v1" if version == 1 else "cgroup v2"
            if field == "unified":
                raise CartonError(f"linux.resources.unified cannot be applied: {UNAVAILABLE[field]}")
            raise CartonError(f"linux.resources.{field} is not available on {where} "
                              f"({UNAVAILABLE[field]})")
    if version == 2 and plan.memory.get("useHierarchy") is False:
        raise CartonError("linux.resources.memory.useHierarchy cannot be false on cgroup v2 "
                          "(cgroup v2 is always hierarchical)")
    limit, swap = plan.memory.get("limit"), plan.memory.get("swap")
    if version == 1 and limit == -1 and swap not in (None, -1):
        raise CartonError("linux.resources.memory.swap must be -1 (or unset) when memory.limit is -1: "
                          "on cgroup v1 it is a limit on memory+swap")


# -- sections ---------------------------------------------------------------------------


def _memory(section):
    m, name = {}, "linux.resources.memory."
    for field in ("limit", "reservation", "swap"):
        value = _limit(section.get(field), name + field)
        if value is not None:
            m[field] = value
    limit, swap = m.get("limit"), m.get("swap")
    if limit is not None and limit > 0 and swap is not None and swap != -1 and swap < limit:
        raise CartonError(f"{name}swap ({swap}) must not be less than memory.limit ({limit}): "
                          "it is the limit on memory+swap")
    swappiness = section.get("swappiness")
    if swappiness is not None and swappiness != -1:  # -1: docker's "not set"
        m["swappiness"] = _number(swappiness, name + "swappiness", 0, 100)
    for field in ("disableOOMKiller", "checkBeforeUpdate"):
        if _flag(section.get(field), name + field):
            m[field] = True
    if section.get("useHierarchy") is not None:
        m["useHierarchy"] = _flag(section["useHierarchy"], name + "useHierarchy")
    return m


def _cpu(section):
    c, name = {}, "linux.resources.cpu."
    if section.get("shares"):
        c["shares"] = _number(section["shares"], name + "shares", MIN_SHARES, MAX_SHARES)
    quota = _limit(section.get("quota"), name + "quota")
    if quota is not None:
        c["quota"] = quota
    if section.get("period"):
        c["period"] = _number(section["period"], name + "period", 1)
    if section.get("burst") is not None:
        c["burst"] = _number(section["burst"], name + "burst", 0)
    if section.get("realtimeRuntime"):
        c["realtimeRuntime"] = _number(section["realtimeRuntime"], name + "realtimeRuntime", -1)
    if section.get("realtimePeriod"):
        c["realtimePeriod"] = _number(section["realtimePeriod"], name + "realtimePeriod", 1)
    for field in ("cpus", "mems"):
        value = section.get(field)
        if value:
            if not isinstance(value, str) or not value.isascii() or set(value) - set("0123456789,-:/"):
                raise CartonError(f"{name}{field} must be a list like \"0-3,6\", not {value!r}")
            c[field] = value
    if section.get("idle") is not None:
        c["idle"] = _number(section["idle"], name + "idle", 0, 1)
    return c


def _blkio(section):
    b, name = {}, "linux.resources.blockIO."
    for field in ("weight", "leafWeight"):
        if section.get(field):
            b[field] = _number(section[field], name + field, 10, 1000)
    devices = []
    for i, entry in enumerate(_list(section.get("weightDevice"), name + "weightDevice")):
        where = f"{name}weightDevice[{i}]"
        major, minor = _device_numbers(entry, where)
        weight, leaf = (entry.get(k) or None for k in ("weight", "leafWeight"))
        if weight is None and leaf is None:
            continue  # nothing to write for this device
        weight = None if weight is None else _number(weight, where + ".weight", 10, 1000)
        leaf = None if leaf is None else _number(leaf, where + ".leafWeight", 10, 1000)
        devices.append((major, minor, weight, leaf))
    if devices:
        b["weightDevice"] = devices
    for field in THROTTLES:
        entries = []
        for i, entry in enumerate(_list(section.get(field), name + field)):
            where = f"{name}{field}[{i}]"
            major, minor = _device_numbers(entry, where)
            entries.append((major, minor, _number(entry.get("rate", 0), where + ".rate", 0)))
        if entries:
            b[field] = entries
    return b


def _hugepages(entries):
    result = []
    for i, entry in enumerate(_list(entries, "linux.resources.hugepageLimits")):
        where = f"linux.resources.hugepageLimits[{i}]"
        if not isinstance(entry, dict):
            raise CartonError(f"{where} must be an object")
        size = hugepage_size(entry.get("pageSize"), where + ".pageSize")
        result.append((size, _number(entry.get("limit", 0), where + ".limit", 0)))
    return result


def _network(section):
    n, name = {}, "linux.resources.network."
    if section.get("classID"):
        n["classID"] = _number(section["classID"], name + "classID", 0, 2**32 - 1)
    priorities = []
    for i, entry in enumerate(_list(section.get("priorities"), name + "priorities")):
        where = f"{name}priorities[{i}]"
        if not isinstance(entry, dict):
            raise CartonError(f"{where} must be an object")
        interface = entry.get("name")
        if not isinstance(interface, str) or not interface or any(c in interface for c in " \n/"):
            raise CartonError(f"{where}.name must be a network interface name, not {interface!r}")
        priorities.append((interface, _number(entry.get("priority", 0), where + ".priority", 0, 2**32 - 1)))
    if priorities:
        n["priorities"] = priorities
    return n


def _unified(section):
    if not section:
        return {}
    if not isinstance(section, dict):
        raise CartonError("linux.resources.unified must be an object of file names and values")
    result = {}
    for key, value in section.items():
        name = f"linux.resources.unified[{key!r}]"
        controller, dot, rest = key.partition(".")
        if "/" in key or "\0" in key or not controller or not dot or not rest or ".." in key:
            raise CartonError(f"{name}: the key must be a cgroup file name like \"memory.high\"")
        if key in UNIFIED_REFUSED:
            raise CartonError(f"{name}: {key} belongs to the runtime, a spec cannot write it")
        if not isinstance(value, str):
            raise CartonError(f"{name} must be a string, not {value!r}")
        result[key] = value
    return result


def _devices(plan, rules):
    rules = rules or []
    if not isinstance(rules, list):
        raise CartonError("linux.resources.devices must be a list")
    plan.spec_devices = bool(rules)
    plan.devices.extend(device_rule(rule, i) for i, rule in enumerate(rules))
    if plan.devices[1:2] == [DENY_ALL]:
        del plan.devices[0]  # the spec starts with "deny all" itself, as most do
    plan.devices.extend(DEFAULT_RULES)


# -- values ---------------------------------------------------------------------------


def _first_set(name, value):
    """The most precise name for an unsupported setting: ``linux.resources.rdma.mlx5_1``."""
    if isinstance(value, dict):
        for k, v in value.items():
            if is_set(v):
                return _first_set(f"{name}.{k}", v)
    return name


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value, name, minimum=None, maximum=None):
    """A whole number within ``[minimum, maximum]``, or a :class:`CartonError` naming the field."""
    if not _is_int(value):
        raise CartonError(f"{name} must be a whole number, not {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise CartonError(f"{name} must be {bounds}, not {value}")
    return value


def _limit(value, name):
    """A limit: ``None`` when not set (missing or 0), ``-1`` for "no limit" (any negative)."""
    if value is None or value == 0:
        return None  # runc: 0 means "not set"
    _number(value, name)
    return -1 if value < 0 else value


def _flag(value, name):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise CartonError(f"{name} must be true or false, not {value!r}")
    return value


def _list(value, name):
    if value is None:
        return []
    if not isinstance(value, list):
        raise CartonError(f"{name} must be a list")
    return value


def _device_numbers(entry, name):
    if not isinstance(entry, dict):
        raise CartonError(f"{name} must be an object")
    return tuple(_number(entry.get(k), f"{name}.{k}", 0) for k in ("major", "minor"))


# -- conversions (v1 numbers to v2 files, and file syntax) ------------------------------


def device_key(major, minor):
    """How block devices are named in blkio and io files: ``8:0``."""
    return f"{major}:{minor}"


def hugepage_size(text, name="pageSize"):
    """Check a page size as the cgroup files spell it (``2MB``, ``1GB``, ``64KB``) and return it."""
    if isinstance(text, str) and text[-2:] in ("KB", "MB", "GB") and text[:-2].isdigit() \
            and text[0] != "0" and text.isascii():
        return text
    raise CartonError(f"{name} must be a huge page size like \"2MB\" or \"1GB\", not {text!r}")


def hugepage_name(kilobytes):
    """The kernel's name for a page size from ``/sys/kernel/mm/hugepages/hugepages-<N>kB``:
    2048 -> ``2MB``, 1048576 -> ``1GB`` (as the hugetlb controller names its files)."""
    if kilobytes >= 1 << 20:
        return f"{kilobytes >> 20}GB"
    if kilobytes >= 1 << 10:
        return f"{kilobytes >> 10}MB"
    return f"{kilobytes}KB"


def shares_to_weight(shares):
    """cgroup v1 ``cpu.shares`` (2..262144, default 1024) to v2 ``cpu.weight`` (1..10000).

    runc's linear formula, so that a container gets the same weight under
    Carton as under runc: ``1 + (shares - 2) * 9999 / 262142``. It maps the
    default 1024 to 39, not to v2's default 100; newer runc and crun use a
    curve that maps 1024 to 100 (see the report in issue #4).
    """
    shares = min(max(shares, MIN_SHARES), MAX_SHARES)
    return 1 + (shares - 2) * 9999 // 262142


def blkio_to_io_weight(weight):
    """v1 ``blkio.weight`` (10..1000) to v2 ``io.weight`` (1..10000), linearly, as runc does."""
    return 1 + (weight - 10) * 9999 // 990


def cpu_max(quota=None, period=None, current=None):
    """The line to write to v2 ``cpu.max`` (``"$QUOTA $PERIOD"``), or ``None`` for nothing.

    ``quota`` -1 is ``max``. Without a period the kernel keeps the current one,
    so ``"50000"`` alone is fine. A period without a quota keeps the current
    quota (``current`` is the file's text): runc writes ``max`` then, which
    silently removes a quota that ``update --cpu-period`` was not asked to touch.
    """
    if quota is None and period is None:
        return None
    if quota is None:
        quota_text = (current or "max").split()[0]
    else:
        quota_text = "max" if quota < 0 else str(quota)
    return quota_text if period is None else f"{quota_text} {period}"


def swap_v2(swap, limit):
    """OCI ``memory.swap`` (memory+swap) as v2 ``memory.swap.max`` (swap alone), runc's rule.

    ``limit`` is the memory limit the cgroup will have (-1 or ``None`` for
    none). -1 is ``max``; a swap equal to the limit is ``0`` (no swap at all).
    """
    if swap == -1:
        return "max"
    if limit is None or limit == -1:
        return str(swap)  # no memory limit: nothing to subtract
    if swap < limit:
        raise CartonError(f"linux.resources.memory.swap ({swap}) must not be less than the memory "
                          f"limit ({limit}): it is the limit on memory+swap")
    return str(swap - limit)


def memsw_first(limit, swap, current_limit):
    """On v1, write ``memory.memsw.limit_in_bytes`` before ``memory.limit_in_bytes``?

    The kernel keeps ``limit <= memsw`` at every moment. Raising both: memsw
    must go up first; lowering both: the limit must come down first. runc's
    rule: memsw first when it becomes unlimited or stays above the current
    limit. (``current_limit`` is the file's number; "unlimited" is a huge one.)
    """
    return swap == -1 or current_limit < swap


def device_rule(rule, index=0):
    """One OCI device rule as ``(allow, "c 1:3 rwm")``; raises a clear error for a bad one."""
    name = f"linux.resources.devices[{index}]"
    if not isinstance(rule, dict):
        raise CartonError(f"{name} must be an object")
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise CartonError(f"{name}.type must be a, b or c, not {kind!r}")
    access = rule.get("access") or ""
    if not access or set(access) - set("rwm"):
        raise CartonError(f"{name}.access must be made of r, w and m, not {access!r}")
    allow = rule.get("allow", False)
    if not isinstance(allow, bool):
        raise CartonError(f"{name}.allow must be true or false")
    numbers = []
    for field in ("major", "minor"):
        value = rule.get(field)
        if value is None or value == -1:
            numbers.append("*")
        elif _is_int(value) and 0 <= value <= 0xFFFFFFFF:  # a u32 for the kernel, as for runc
            numbers.append(str(value))
        else:
            raise CartonError(f"{name}.{field} must be a device number, not {value!r}")
    if kind == "a":
        return (allow, "a *:* rwm")  # the kernel reads type a as "everything", whatever follows
    return (allow, f"{kind} {numbers[0]}:{numbers[1]} {''.join(sorted(set(access), key='rwm'.index))}")
