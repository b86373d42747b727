"""The spec's ``linux.resources``, checked and turned into what the drivers write.

For now Carton applies three things: **device rules**, **pids.limit** and
**memory.limit**. Any other field that is set fails with
``linux.resources.cpu.shares is not supported yet``, before anything is
written, rather than being silently ignored; issue #4 fills in the rest.
A field counts as "set" unless it is missing, null, zero, false or empty,
because docker and containerd write zeroes for "no limit".

Device rules follow runc, which matters for security:

* The list always *starts* from "deny everything" (runc's device emulator
  starts as a white-list), then the spec's rules apply in order, then runc's
  default rules are *appended*: mknod of any device, the usual ``/dev/null``,
  ``zero``, ``full``, ``random``, ``urandom``, ``tty``, ``/dev/pts/*``,
  ``/dev/ptmx`` and ``/dev/net/tun``. A spec cannot remove these, and a spec
  with no rules at all still gets them: a container is always confined.
* A rule of type ``a`` resets the whole list (that is what the kernel does
  with it): ``allow a`` lets everything through, ``deny a`` blocks everything.
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

SUPPORTED = {"devices": None, "pids": ("limit",), "memory": ("limit",)}
IGNORED = {"memory": ("kernel", "kernelTCP")}  # runc ignores these too: gone from the kernel


def is_set(value):
    """Missing, null, zero, false and empty mean "not set"; an object is set if any field is."""
    if isinstance(value, dict):
        return any(is_set(v) for v in value.values())
    return value not in (None, False, 0, "", [])


class Plan:
    """What to write: ``devices`` [(allow, rule)], ``pids`` and ``memory`` limits, ``warnings``.

    A limit is ``None`` (leave as it is), ``-1`` (no limit) or a positive number.
    ``spec_devices`` says whether the spec itself had device rules.
    """

    __slots__ = ("devices", "spec_devices", "pids", "memory", "warnings")

    def __init__(self):
        self.devices = [DENY_ALL]
        self.spec_devices = False
        self.pids = None
        self.memory = None
        self.warnings = []


def check(resources):
    """Validate ``linux.resources`` (a dict, or None) and return a :class:`Plan`.

    Raises :class:`CartonError` naming the first field that is wrong or not
    supported yet.
    """
    plan = Plan()
    resources = resources or {}
    if not isinstance(resources, dict):
        raise CartonError("linux.resources must be an object")
    for key, value in resources.items():
        if key not in SUPPORTED:
            if is_set(value):
                raise CartonError(f"{_first_set(f'linux.resources.{key}', value)} is not supported yet")
            continue
        if key == "devices":
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            raise CartonError(f"linux.resources.{key} must be an object")
        for field, v in value.items():
            if field in IGNORED.get(key, ()):
                if is_set(v):
                    plan.warnings.append(f"linux.resources.{key}.{field} is ignored (kernel memory "
                                         "limits are gone from recent kernels; runc ignores it too)")
            elif field not in SUPPORTED[key]:
                if is_set(v):
                    name = _first_set(f"linux.resources.{key}.{field}", v)
                    raise CartonError(f"{name} is not supported yet")
    plan.pids = _limit(resources.get("pids"), "linux.resources.pids.limit")
    plan.memory = _limit(resources.get("memory"), "linux.resources.memory.limit")
    rules = resources.get("devices") or []
    if not isinstance(rules, list):
        raise CartonError("linux.resources.devices must be a list")
    plan.spec_devices = bool(rules)
    plan.devices.extend(device_rule(rule, i) for i, rule in enumerate(rules))
    if plan.devices[1:2] == [DENY_ALL]:
        del plan.devices[0]  # the spec starts with "deny all" itself, as most do
    plan.devices.extend(DEFAULT_RULES)
    return plan


def _first_set(name, value):
    """The most precise name for an unsupported setting: ``linux.resources.cpu.shares``."""
    if isinstance(value, dict):
        for k, v in value.items():
            if is_set(v):
                return _first_set(f"{name}.{k}", v)
    return name


def _limit(section, name):
    value = (section or {}).get("limit")
    if value is None or value == 0:
        return None  # runc: 0 means "not set"
    if isinstance(value, bool) or not isinstance(value, int):
        raise CartonError(f"{name} must be a whole number, not {value!r}")
    return -1 if value < 0 else value


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
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            numbers.append(str(value))
        else:
            raise CartonError(f"{name}.{field} must be a device number, not {value!r}")
    if kind == "a":
        return (allow, "a *:* rwm")  # the kernel reads type a as "everything", whatever follows
    return (allow, f"{kind} {numbers[0]}:{numbers[1]} {''.join(sorted(set(access), key='rwm'.index))}")
