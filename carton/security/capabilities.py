"""Which capabilities a ``carton run`` container gets: docker's default set, and its flags.

Root's power is split into ~41 capabilities (capabilities(7)). Docker gives a
container's root 14 of them: enough to run ordinary programs as root (own
files, change users, bind port 80, make device nodes the devices cgroup then
refuses to open), none that reach the host's kernel (load modules, mount,
change the clock, trace other processes, administer the network...).

``--cap-add`` and ``--cap-drop`` change that set with docker's rules
(``resolve``); ``process_capabilities`` turns the result into the five OCI
sets the runtime applies. Pure logic, apart from reading which capabilities
Carton itself holds (``available``).
"""

from ..errors import CartonError
from ..linux.names import CAPABILITIES as NAMES
from ..linux.names import CAPABILITY_NUMBERS as NUMBERS

# docker's default set (moby oci/caps/defaults.go), in the same order.
DOCKER_DEFAULT = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
# What /proc/PID/status shows for it in CapEff, CapPrm and CapBnd.
DOCKER_DEFAULT_MASK = 0x00000000A80425FB

ALL = "ALL"


def available():
    """The capabilities Carton can give: those in its own bounding set (``CapBnd``).

    docker does the same: ``--privileged`` means "every capability the daemon
    has", not every name the kernel knows, so it also works where the runtime
    itself runs with fewer (docker-in-docker, or a VM like this one that
    lacks CAP_SYS_RESOURCE). A capability we do not hold could not be granted:
    capset(2) would fail with EPERM.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    bits = int(line.split()[1], 16)
                    return [name for name in NAMES if bits & (1 << NUMBERS[name])]
    except OSError:
        pass
    return list(NAMES)


def normalize(name, flag="--cap-add"):
    """``net_raw``, ``NET_RAW``, ``cap_net_raw`` -> ``CAP_NET_RAW``; ``all`` -> ``ALL``.

    Raises CartonError for a name Linux does not know, as docker does.
    """
    if not isinstance(name, str) or not name.strip():
        raise CartonError(f"invalid {flag} {name!r}: expected a capability name like NET_ADMIN")
    upper = name.strip().upper()
    if upper == ALL:
        return ALL
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in NUMBERS:
        raise CartonError(f"unknown capability: {name!r} (in {flag}; see capabilities(7), "
                          "e.g. NET_ADMIN or CAP_SYS_TIME)")
    return upper


def resolve(cap_add=(), cap_drop=(), privileged=False, have=None):
    """The capability names a container gets, with docker's rules (moby TweakCapabilities).

    * ``privileged``: every capability Carton holds, whatever the other flags say;
    * ``ALL`` in ``cap_add``: every capability but those in ``cap_drop``;
    * ``ALL`` in ``cap_drop``: only those in ``cap_add`` ("drop all, then add X");
    * otherwise docker's default set, minus ``cap_drop``, plus ``cap_add``.

    Names are case-insensitive, with or without ``CAP_``. An unknown name is
    an error; so is adding one this machine cannot give (not in ``have``,
    by default Carton's own bounding set), as docker says: "not supported by
    your kernel or not available in the current environment". Dropping one we
    do not have is fine. The result has no duplicates, in docker's order.
    """
    have = available() if have is None else list(have)
    adds = [normalize(c, "--cap-add") for c in cap_add]
    drops = [normalize(c, "--cap-drop") for c in cap_drop]
    if privileged:
        return _kernel_order(have)
    for name in adds:
        if name != ALL and name not in have:
            raise CartonError(f"capability not supported by your kernel or not available in the "
                              f"current environment: {name!r} (in --cap-add)")
    if ALL in adds:
        caps = [c for c in _kernel_order(have) if c not in drops]
    elif ALL in drops:
        caps = list(adds)
    else:
        caps = [c for c in DOCKER_DEFAULT if c not in drops] + adds
    result = []
    for name in caps:
        if name not in result:
            result.append(name)
    return result


def process_capabilities(names, uid):
    """The OCI ``process.capabilities`` for a process running as ``uid`` with ``names``.

    As docker (moby oci.SetCapabilities, since the fix for CVE-2022-24769):

    * root gets ``names`` as its bounding, effective and permitted sets;
    * any other user gets them as the bounding set only. Effective and
      permitted stay empty, as for any non-root program after execve(2): a
      user gains a capability only through a setuid-root or file-capability
      program, and the bounding set caps what that can be.
    * inheritable and ambient stay empty for everyone: a non-empty inheritable
      set let capabilities leak into programs that were never meant to have
      them (CVE-2022-24769).
    """
    from ..spec.model import Capabilities

    names = list(names)
    if uid == 0:
        return Capabilities(bounding=names, effective=names, permitted=names)
    return Capabilities(bounding=names)


def mask(names):
    """The bit mask of ``names``, as ``/proc/PID/status`` prints it (``%016x``)."""
    value = 0
    for name in names:
        value |= 1 << NUMBERS[name]
    return value


def _kernel_order(names):
    return sorted(names, key=NUMBERS.__getitem__)
