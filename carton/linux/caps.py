"""Capabilities: capset(2) and the prctl(2) calls for the bounding and ambient sets.

Root's power is split into ~41 capabilities (capabilities(7)). A container's
process gets only the ones its config lists, in five sets:

* bounding: the most it can ever get, even by executing a setuid program;
* permitted: what it may turn on; effective: what is on now;
* inheritable: what may pass through execve to programs marked for it;
* ambient: what passes through execve to any program (for non-root users).

Numbers from <linux/capability.h>; structs from the same header.
"""


from .. import explain
from . import cdata
from .libc import check, libc, syscall
from .names import CAPABILITIES, CAPABILITY_NUMBERS

NAMES = CAPABILITIES
NUMBERS = CAPABILITY_NUMBERS

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

SYS_capset = 126  # x86_64
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(cdata.Structure):
    _fields_ = [("version", cdata.c_uint32), ("pid", cdata.c_int)]


class _Data(cdata.Structure):
    _fields_ = [("effective", cdata.c_uint32), ("permitted", cdata.c_uint32),
                ("inheritable", cdata.c_uint32)]


def last_cap():
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def mask(names):
    """The bit mask of a list of capability names."""
    value = 0
    for name in names:
        value |= 1 << NUMBERS[name]
    return value


def drop_bounding(keep):
    """Remove from the bounding set every capability not in ``keep``. prctl(2) PR_CAPBSET_DROP.

    Why: the bounding set is the ceiling. Dropping a capability from it is
    for good: not even a setuid-root program run later can get it back.
    Needs CAP_SETPCAP, so it happens while we are still fully root.
    """
    keep_mask = mask(keep)
    for number in range(last_cap() + 1):
        if not keep_mask & (1 << number) and libc.prctl(PR_CAPBSET_READ, number, 0, 0, 0) == 1:
            explain.call("prctl", explain.Raw("PR_CAPBSET_DROP"), explain.Raw(_name(number)))
            check(libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")


def keep_caps_on_setuid(on=True):
    """Keep permitted capabilities across a switch away from uid 0. prctl(2) PR_SET_KEEPCAPS.

    Why: without it, setresuid(2) to a non-root uid clears them all, and a
    container configured as "uid 1000 with CAP_NET_BIND_SERVICE" could not be.
    """
    explain.call("prctl", explain.Raw("PR_SET_KEEPCAPS"), int(on))
    check(libc.prctl(PR_SET_KEEPCAPS, int(on), 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")


def set_capabilities(effective, permitted, inheritable):
    """Set the effective, permitted and inheritable sets of this thread. capset(2)."""
    e, p, i = mask(effective), mask(permitted), mask(inheritable)
    explain.call("capset", explain.Raw("_LINUX_CAPABILITY_VERSION_3"),
                 explain.Raw(f"{{effective={e:#x}, permitted={p:#x}, inheritable={i:#x}}}"))
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)(_Data(e & 0xFFFFFFFF, p & 0xFFFFFFFF, i & 0xFFFFFFFF),
                       _Data(e >> 32, p >> 32, i >> 32))
    check(syscall(SYS_capset, cdata.byref(header), cdata.byref(data)), "capset")


def set_ambient(names):
    """Replace the ambient set with ``names``. prctl(2) PR_CAP_AMBIENT.

    Why: for a non-root process, only ambient capabilities survive execve(2)
    into an ordinary program. The kernel raises one only if it is also
    permitted and inheritable; like runc, we skip those it refuses (runc's own
    default config lists ambient capabilities without inheritable ones).
    """
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    for name in names:
        explain.call("prctl", explain.Raw("PR_CAP_AMBIENT_RAISE"), explain.Raw(name))
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, NUMBERS[name], 0, 0)


def _name(number):
    return NAMES[number] if number < len(NAMES) else str(number)
